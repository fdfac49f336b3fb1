"""Chefer et al. relevance propagation, checked against hand-computed tiny cases."""

from __future__ import annotations

import numpy as np
import pytest

from vista.explain.relevance import attention_relevance, cls_relevance_map


def test_two_blocks_by_hand() -> None:
    """Two blocks, one head, two tokens. By hand (Chefer et al. 2021, Eq. 5-6):

    block 1: A1 = [[.5, .5], [.5, .5]], grad 1 = [[2, 0], [0, 2]]
        Abar1 = (grad * A)^+ = [[1, 0], [0, 1]],  R1 = I + Abar1 I = [[2, 0], [0, 2]]
    block 2: A2 = [[1, 0], [1, 0]], grad 2 = [[1, 1], [-3, 1]]
        Abar2 = [[1, 0], [0, 0]],  R2 = R1 + Abar2 R1 = [[4, 0], [0, 2]]
    """
    a1 = np.full((1, 1, 2, 2), 0.5)
    g1 = np.array([[[[2.0, 0.0], [0.0, 2.0]]]])
    a2 = np.array([[[[1.0, 0.0], [1.0, 0.0]]]])
    g2 = np.array([[[[1.0, 1.0], [-3.0, 1.0]]]])
    r = attention_relevance([a1, a2], [g1, g2])
    np.testing.assert_allclose(r[0], [[4.0, 0.0], [0.0, 2.0]])
    # start_block=-1: the last block only, from R = I
    r_last = attention_relevance([a1, a2], [g1, g2], start_block=-1)
    np.testing.assert_allclose(r_last[0], [[2.0, 0.0], [0.0, 1.0]])


def test_heads_are_averaged_after_clamping() -> None:
    """Head 0 gives +1 on (0, 1), head 1 gives -1 there: clamp first, then mean
    -> 0.5, not 0."""
    attn = np.ones((1, 2, 2, 2))
    grad = np.zeros((1, 2, 2, 2))
    grad[0, 0, 0, 1] = 1.0
    grad[0, 1, 0, 1] = -1.0
    r = attention_relevance([attn], [grad])
    np.testing.assert_allclose(r[0], [[1.0, 0.5], [0.0, 1.0]])


def test_cls_map_on_grid_and_batch_rows_independent() -> None:
    """CLS row over 4 patches (2x2); the second batch row has zero gradient, so its
    map is zero (only the identity, which sits on the CLS column)."""
    rng = np.random.default_rng(0)
    attn = rng.random((2, 3, 5, 5))
    grad = rng.normal(size=(2, 3, 5, 5))
    grad[1] = 0.0
    maps = cls_relevance_map([attn], [grad])
    assert maps.shape == (2, 2, 2) and maps.dtype == np.float32
    expected = np.clip(grad[0] * attn[0], 0, None).mean(axis=0)[0, 1:].reshape(2, 2)
    np.testing.assert_allclose(maps[0], expected, rtol=1e-6)
    np.testing.assert_array_equal(maps[1], 0.0)


def test_non_square_grid() -> None:
    attn = np.ones((1, 1, 7, 7))
    grad = np.ones((1, 1, 7, 7))
    assert cls_relevance_map([attn], [grad], grid=(2, 3)).shape == (1, 2, 3)


def test_inputs_not_mutated() -> None:
    attn = np.full((1, 1, 3, 3), 0.3)
    grad = -np.ones((1, 1, 3, 3))
    a0, g0 = attn.copy(), grad.copy()
    attention_relevance([attn], [grad])
    np.testing.assert_array_equal(attn, a0)
    np.testing.assert_array_equal(grad, g0)


def test_torch_tensors_accepted() -> None:
    torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
    attn = torch.full((1, 1, 2, 2), 0.5, requires_grad=True)
    grad = torch.ones((1, 1, 2, 2))
    np.testing.assert_allclose(attention_relevance([attn], [grad])[0], [[1.5, 0.5], [0.5, 1.5]])


@pytest.mark.parametrize(
    ("attentions", "gradients", "kwargs", "message"),
    [
        pytest.param([], [], {}, "at least one block", id="empty"),
        pytest.param([np.ones((1, 1, 2, 2))], [], {}, "one tensor per block", id="count"),
        pytest.param([np.ones((1, 2, 2))], [np.ones((1, 2, 2))], {}, "must be", id="3d"),
        pytest.param([np.ones((1, 1, 2, 3))], [np.ones((1, 1, 2, 3))], {}, "tokens, tokens",
                     id="not-square"),
        pytest.param([np.ones((1, 1, 2, 2))], [np.ones((1, 1, 3, 3))], {}, "shape of",
                     id="grad-shape"),
        pytest.param([np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))],
                     [np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))], {}, "earlier blocks",
                     id="block-shapes"),
        pytest.param([np.ones((1, 1, 2, 2))], [np.ones((1, 1, 2, 2))], {"start_block": 1},
                     "start_block must be in", id="start-block"),
    ],
)
def test_errors(attentions: list, gradients: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        attention_relevance(attentions, gradients, **kwargs)
