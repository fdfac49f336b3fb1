"""Grad-CAM arithmetic (vista.explain.cam) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from vista.explain.cam import (
    gradcam_attention,
    gradcam_tokens,
    patch_grid,
    tokens_to_grid,
)


def _tiny_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B=1, 2 heads, 3 query tokens ([ENC], one word, [SEP]), CLS + 4 patches."""
    attn = np.zeros((1, 2, 3, 5))
    grad = np.zeros((1, 2, 3, 5))
    # word token (index 1): head 0 attends to patch 0 (0.5) and patch 3 (0.5)
    attn[0, 0, 1] = [0.0, 0.5, 0.0, 0.0, 0.5]
    grad[0, 0, 1] = [9.0, 2.0, 1.0, 1.0, -4.0]
    # head 1 attends to patch 1 (1.0) with gradient 3
    attn[0, 1, 1] = [0.0, 0.0, 1.0, 0.0, 0.0]
    grad[0, 1, 1] = [0.0, 0.0, 3.0, 0.0, 0.0]
    # [ENC] and [SEP] rows carry large values that must be excluded by the mask
    attn[0, :, 0] = 1.0
    grad[0, :, 0] = 100.0
    attn[0, :, 2] = 1.0
    grad[0, :, 2] = 100.0
    mask = np.array([[0, 1, 0]])
    return attn, grad, mask


def test_gradcam_attention_hand_computed() -> None:
    """Hand computation of the LAVIS recipe on the tiny case.

    Head 0, word token: attn * relu(grad) = [_, 0.5*2, 0, 0, 0.5*0] = patch 0 -> 1.0.
    Head 1: patch 1 -> 1.0*3 = 3.0. Mean over 2 heads: patch 0 = 0.5, patch 1 = 1.5.
    One text token, so the token mean is that row. CLS dropped, grid 2x2.
    """
    attn, grad, mask = _tiny_case()
    out = gradcam_attention(attn, grad, token_mask=mask)
    np.testing.assert_allclose(out, [[[0.5, 1.5], [0.0, 0.0]]], rtol=0, atol=1e-7)
    assert out.dtype == np.float32


def test_clamp_product_and_none() -> None:
    """clamp="product": relu(attn*grad) — head 0 patch 3 gives relu(0.5*-4)=0, same as
    above here; clamp="none": head 0 patch 3 = 0.5*-4 = -2, mean over heads -1.0."""
    attn, grad, mask = _tiny_case()
    prod = gradcam_attention(attn, grad, token_mask=mask, clamp="product")
    np.testing.assert_allclose(prod, [[[0.5, 1.5], [0.0, 0.0]]], atol=1e-7)
    none = gradcam_attention(attn, grad, token_mask=mask, clamp="none")
    np.testing.assert_allclose(none, [[[0.5, 1.5], [0.0, -1.0]]], atol=1e-7)


def test_clamp_gradient_differs_from_product() -> None:
    """Negative attention never occurs, but a negative gradient times a positive
    attention is dropped by both; a mixed-sign head sum separates "product" from
    "none" only. Here both heads see patch 0 with gradients +2 and -2."""
    attn = np.full((1, 2, 1, 2), 0.5)
    grad = np.array([[[[0.0, 2.0]], [[0.0, -2.0]]]])
    assert gradcam_attention(attn, grad, grid=(1, 1))[0, 0, 0] == pytest.approx(0.5)
    assert gradcam_attention(attn, grad, clamp="none", grid=(1, 1))[0, 0, 0] == 0.0


def test_head_reduce() -> None:
    attn, grad, mask = _tiny_case()
    summed = gradcam_attention(attn, grad, token_mask=mask, head_reduce="sum")
    np.testing.assert_allclose(summed, [[[1.0, 3.0], [0.0, 0.0]]], atol=1e-7)
    top = gradcam_attention(attn, grad, token_mask=mask, head_reduce="max")
    np.testing.assert_allclose(top, [[[1.0, 3.0], [0.0, 0.0]]], atol=1e-7)


def test_token_mean_over_several_tokens() -> None:
    """Two selected tokens with maps 1 and 3 at patch 0: the mean is 2 (LAVIS divides
    the sum by the token count)."""
    attn = np.ones((1, 1, 3, 2))
    grad = np.zeros((1, 1, 3, 2))
    grad[0, 0, :, 1] = [1.0, 3.0, 50.0]
    out = gradcam_attention(attn, grad, token_mask=[[1, 1, 0]], grid=(1, 1))
    assert out[0, 0, 0] == pytest.approx(2.0)


def test_matches_lavis_loop() -> None:
    """Compare with a line-by-line port of LAVIS ``compute_gradcam`` (batch of 2,
    different token lengths, 3x3 grid): mask, clamp, product, mean over heads, then
    ``gradcam[1:n+1].sum(0) / n`` with n = attention_mask.sum() - 2."""
    torch = pytest.importorskip("torch", reason="the LAVIS reference port uses torch")
    g = torch.Generator().manual_seed(0)
    b, h, t, side = 2, 3, 6, 3
    attn = torch.rand(b, h, t, 1 + side * side, generator=g)
    grad = torch.randn(b, h, t, 1 + side * side, generator=g)
    att_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    # --- LAVIS, adapted to a 3x3 grid and 3 heads ---
    mask = att_mask.view(b, 1, -1, 1, 1)
    token_length = att_mask.sum(dim=-1) - 2
    cams = attn[:, :, :, 1:].reshape(b, h, -1, side, side) * mask
    grads = grad[:, :, :, 1:].clamp(0).reshape(b, h, -1, side, side) * mask
    gradcams = cams * grads
    expected = []
    for i in range(b):
        n = int(token_length[i])
        gc = gradcams[i].mean(0)
        expected.append((gc[1 : n + 1].sum(dim=0) / n).numpy())
    # --- vista: the segment's tokens are those between [ENC] and [SEP] ---
    token_mask = att_mask.clone()
    token_mask[:, 0] = 0
    for i in range(b):
        token_mask[i, int(att_mask[i].sum()) - 1] = 0
    out = gradcam_attention(attn, grad, token_mask=token_mask)
    np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-7)


def test_inputs_not_mutated_and_torch_equals_numpy() -> None:
    attn, grad, mask = _tiny_case()
    a0, g0 = attn.copy(), grad.copy()
    out_np = gradcam_attention(attn, grad, token_mask=mask)
    np.testing.assert_array_equal(attn, a0)
    np.testing.assert_array_equal(grad, g0)
    torch = pytest.importorskip("torch", reason="torch inputs")
    ta = torch.tensor(attn, dtype=torch.float32, requires_grad=True)
    out_t = gradcam_attention(ta, torch.tensor(grad), token_mask=torch.tensor(mask))
    np.testing.assert_allclose(out_t, out_np, atol=1e-6)


def test_non_square_grid() -> None:
    attn = np.ones((1, 1, 1, 7))
    grad = np.zeros((1, 1, 1, 7))
    grad[0, 0, 0, 1:] = np.arange(6.0)
    out = gradcam_attention(attn, grad, grid=(2, 3))
    np.testing.assert_array_equal(out[0], [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"clamp": "relu"}, "clamp must be one of", id="clamp"),
        pytest.param({"head_reduce": "median"}, "head_reduce must be one of", id="head"),
        pytest.param({"token_mask": [[0, 0, 0]]}, "selects no token in row", id="empty-mask"),
        pytest.param({"token_mask": [[1, 0]]}, "token_mask must have shape", id="mask-shape"),
        pytest.param({"grid": (3, 3)}, "holds 9 patches", id="grid"),
        pytest.param({"n_prefix": 5}, "n_prefix must be in", id="prefix"),
    ],
)
def test_gradcam_attention_errors(kwargs: dict, message: str) -> None:
    attn, grad, _ = _tiny_case()
    with pytest.raises(ValueError, match=message):
        gradcam_attention(attn, grad, **kwargs)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="attention must be 4-D"):
        gradcam_attention(np.ones((2, 3, 5)), np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match="gradient must have the shape"):
        gradcam_attention(np.ones((1, 1, 2, 5)), np.ones((1, 1, 3, 5)))


def test_gradcam_tokens_hand_computed() -> None:
    """Channel weights = mean gradient over the 4 patches: c0 = 1, c1 = -1.
    Map = relu(act_c0 - act_c1) per patch."""
    act = np.array([[[9.0, 9.0], [3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [5.0, 0.0]]])
    grad = np.zeros_like(act)
    grad[0, 1:, 0] = 1.0
    grad[0, 1:, 1] = -1.0
    np.testing.assert_allclose(gradcam_tokens(act, grad), [[[2.0, 0.0], [0.0, 5.0]]])
    np.testing.assert_allclose(gradcam_tokens(act, grad, relu=False), [[[2.0, -2.0], [0.0, 5.0]]])


def test_patch_grid_and_tokens_to_grid() -> None:
    assert patch_grid(576) == (24, 24)
    with pytest.raises(ValueError, match="square grid"):
        patch_grid(10)
    out = tokens_to_grid(np.arange(10.0).reshape(2, 5))
    assert out.shape == (2, 2, 2)
    assert out[1, 1, 1] == 9.0
