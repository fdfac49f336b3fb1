"""LeGrad and attention rollout on tiny random CLIP and SigLIP models saved in the
real layout, checked against ports of the reference arithmetic written here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")
F = torch.nn.functional

from explain_fixtures import tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    check_method,
    clip_folder,
    one_torch_thread,
    siglip_folder,
)

from vista.explain import load_explainer  # noqa: E402
from vista.explain.cam import min_max  # noqa: E402
from vista.explain.legrad import legrad_correct, legrad_map  # noqa: E402
from vista.explain.rollout import attention_rollout, rollout_map  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("methods")
    return {"clip": clip_folder(root / "clip"), "siglip": siglip_folder(root / "siglip")}


def load(folders: dict[str, Path], family: str, method: str, **kw: Any) -> Any:
    return load_explainer(family, method=method, weights=str(folders[family]), device="cpu", **kw)


# --- the maths, by hand --------------------------------------------------------------


def test_legrad_map_two_blocks_by_hand() -> None:
    """Two blocks, one head, 2 query rows, [CLS] + 4 patches: per block the clamped
    gradient averaged over rows, summed over blocks, [CLS] column dropped."""
    g1 = np.zeros((1, 1, 2, 5))
    g1[0, 0, 0] = [9.0, 2.0, -4.0, 0.0, 0.0]   # row 0
    g1[0, 0, 1] = [9.0, 0.0, 4.0, 0.0, -1.0]   # row 1
    g2 = np.zeros((1, 1, 2, 5))
    g2[0, 0, :, 4] = 3.0
    # block 1: patches (1+0)/2, (0+4)/2, 0, 0 -> 1, 2, 0, 0; block 2: 0, 0, 0, 3
    np.testing.assert_array_equal(legrad_map([g1, g2])[0], [[1.0, 2.0], [0.0, 3.0]])
    np.testing.assert_allclose(min_max(legrad_map([g1, g2]))[0], [[1 / 3, 2 / 3], [0.0, 1.0]], rtol=1e-6)


def test_rollout_two_blocks_by_hand() -> None:
    """Two blocks, one head, two tokens: (A + I) / 2, rows to 1, product."""
    a1 = np.array([[[[0.5, 0.5], [0.0, 1.0]]]])   # -> [[.75, .25], [0, 1]]
    a2 = np.array([[[[1.0, 0.0], [0.5, 0.5]]]])   # -> [[1, 0], [.25, .75]]
    expected = np.array([[1.0, 0.0], [0.25, 0.75]]) @ np.array([[0.75, 0.25], [0.0, 1.0]])
    np.testing.assert_allclose(attention_rollout([a1, a2])[0], expected)
    # the [CLS] row without [CLS]: one patch, divided by its maximum
    r = attention_rollout([np.full((1, 1, 5, 5), 0.2)] * 2)
    np.testing.assert_allclose(rollout_map(r), np.ones((1, 2, 2)))


def test_gem_self_self_attention_by_hand() -> None:
    """τ = 0 makes every self-self attention uniform: each token's output is the mean
    of ``v``; a large τ with orthogonal tokens makes it the identity: ``v`` itself."""
    from vista.explain.gem import self_self_attention

    v = torch.tensor([[[[1.0, 0.0], [0.0, 3.0]]]])  # batch 1, 1 head, 2 tokens
    q = k = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    uniform = self_self_attention(q, k, v, torch.tensor(0.0))
    np.testing.assert_allclose(uniform[0, 0].numpy(), [[0.5, 1.5], [0.5, 1.5]])
    sharp = self_self_attention(v, v, v, torch.tensor(60.0), iterations=2)
    np.testing.assert_allclose(sharp[0, 0].numpy(), v[0, 0].numpy(), atol=1e-6)


def test_gradeclip_map_two_patches_by_hand() -> None:
    from vista.explain.gradeclip import gradeclip_map

    g = np.array([[2.0, 1.0]])
    v = np.array([[[1.0, 1.0], [-1.0, 0.0]]])
    k = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    q = np.array([[1.0, 0.0]])
    # channel sums 3 and -2; ksim min-max: 1 and 0; ReLU
    np.testing.assert_allclose(gradeclip_map(g, v, q, k), [[3.0, 0.0]])
    np.testing.assert_allclose(gradeclip_map(g, v, q, k, ksim=False), [[3.0, 0.0]])


def test_legrad_correction_by_hand() -> None:
    maps = np.array([[[0.0, 1.0], [2.0, 4.0]]])
    empty = np.array([[[0.0, 0.0], [0.0, 10.0]]])  # the last patch is "always on"
    np.testing.assert_allclose(legrad_correct(maps, empty), [[[0.0, 0.5], [1.0, 0.0]]])


@pytest.mark.parametrize(("fn", "message"), [
    (lambda: legrad_map([]), "at least one block"),
    (lambda: legrad_map([np.zeros((1, 2, 5))]), "must be (batch, heads, queries, keys)"),
    (lambda: attention_rollout([np.zeros((1, 1, 2, 2))], head_fusion="median"), "head_fusion"),
    (lambda: attention_rollout([np.zeros((1, 1, 2, 3))]), "must be (batch, heads, tokens, tokens)"),
], ids=["empty", "3d", "fusion", "not-square"])
def test_maths_errors(fn: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        fn()


def test_maths_does_not_mutate_inputs() -> None:
    attn = [np.random.default_rng(0).random((1, 2, 5, 5)) for _ in range(2)]
    before = [a.copy() for a in attn]
    attention_rollout(attn, discard_ratio=0.5)
    legrad_map(attn)
    for a, b in zip(attn, before, strict=True):
        np.testing.assert_array_equal(a, b)


# --- the shared checks on every family x method --------------------------------------


@pytest.mark.parametrize("family", ["clip", "siglip"])
@pytest.mark.parametrize("method", ["legrad", "rollout", "gradeclip"])
def test_method_shared_checks(folders: dict[str, Path], family: str, method: str) -> None:
    explainer = load(folders, family, method)
    key = explainer.parts.score_name
    check_method(explainer, TEXTS, key)
    maps = explainer.explain(tiny_image(), TEXTS)
    assert maps[0].params["recipe"] == method and maps[0].params["method"] == method
    parts = explainer.parts  # the recorded score is the model's for the pair
    with torch.no_grad():
        expected = parts.score(parts.image_embedding(parts.pixels(tiny_image())),
                               parts.texts(TEXTS)[3])[0]
    np.testing.assert_allclose([m.params[key] for m in maps], expected.numpy(), rtol=1e-5)
    if method == "rollout":  # attention only: the same map for every text
        np.testing.assert_array_equal(maps[0].values, maps[1].values)
    else:
        assert np.abs(maps[0].values - maps[1].values).max() > 1e-4


def test_legrad_params_record_choices(folders: dict[str, Path]) -> None:
    (m,) = load(folders, "siglip", "legrad", block=0).explain(tiny_image(), ["the cat"])
    assert m.params["block"] == 0 and m.params["correction"] is True
    assert m.params["overrides"] == {"block": 0}
    assert m.params["reference"].startswith("WalBouss/LeGrad")
    (c,) = load(folders, "clip", "legrad").explain(tiny_image(), ["the cat"])
    assert c.params["block"] == 1 and c.params["correction"] is False  # 3 blocks: -2 -> 1


# --- ports of the reference arithmetic ----------------------------------------------


def _pixels_and_text(explainer: Any, texts: list[str]) -> tuple[Any, Any]:
    parts = explainer.parts
    return parts.pixels(tiny_image(24, 40)), parts.texts(texts)[3]


def _reference_legrad_clip(model: Any, pixels: Any, text_embedding: Any, start: int) -> Any:
    """``LeWrapper.compute_legrad_clip`` (WalBouss/LeGrad legrad/wrapper.py) on HF CLIP
    (the pixels require grad, as the wrapper's trainable blocks do),
    without its final bilinear up-sampling: the image repeated per prompt; per block
    from ``starting_depth``, ``ln_post(feat_post_mlp.mean(tokens)) @ proj``,
    normalised; ``sum(one_hot * sim)``; gradient to that block's attention maps,
    clamped at 0; ``grad.mean(dim=1).mean(dim=1)[:, 1:]``; summed; ``min_max``."""
    n = text_embedding.shape[0]
    vision = model.vision_model
    with torch.enable_grad():
        out = vision(pixel_values=pixels.repeat(n, 1, 1, 1).requires_grad_(True), output_attentions=True,
                     output_hidden_states=True)
        accum = 0
        for layer in range(start, len(vision.encoder.layers)):
            feat = model.visual_projection(vision.post_layernorm(out.hidden_states[layer + 1].mean(1)))
            feat = F.normalize(feat, dim=-1)
            sim = text_embedding @ feat.T
            one_hot = torch.sum(F.one_hot(torch.arange(n)).float() * sim)
            grad = torch.autograd.grad(one_hot, [out.attentions[layer]], retain_graph=True)[0]
            relevance = grad.clamp(min=0).mean(dim=1).mean(dim=1)[:, 1:]
            w = int(math.sqrt(relevance.shape[-1]))
            accum = accum + relevance.reshape(n, 1, w, w)
    flat = accum.reshape(n, -1)
    lo, hi = flat.min(-1, keepdim=True)[0], flat.max(-1, keepdim=True)[0]
    return ((flat - lo) / (hi - lo)).reshape(n, w, w).detach().numpy()


def test_legrad_clip_matches_reference(folders: dict[str, Path]) -> None:
    explainer = load(folders, "clip", "legrad", block=0)
    pixels, text = _pixels_and_text(explainer, TEXTS)
    expected = _reference_legrad_clip(explainer.model, pixels, text, 0)
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), TEXTS)[0]
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def _reference_attn_pool(head: Any, x: Any) -> tuple[Any, Any]:
    """``hooked_attentional_pooler_timm_forward`` (WalBouss/LeGrad legrad/utils.py)
    with timm's ``attn_pool`` weights read from HF's pooling head: ``latent`` is
    ``probe``, ``q``/``kv`` the packed ``in_proj``, ``proj`` the ``out_proj``."""
    mha = head.attention
    b, n, c = x.shape
    h = mha.num_heads
    hd = c // h
    q = F.linear(head.probe.expand(b, -1, -1), mha.in_proj_weight[:c], mha.in_proj_bias[:c])
    q = q.reshape(b, 1, h, hd).transpose(1, 2)
    kv = F.linear(x, mha.in_proj_weight[c:], mha.in_proj_bias[c:])
    k, v = kv.reshape(b, n, 2, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
    attn = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
    y = (attn @ v).transpose(1, 2).reshape(b, 1, c)
    y = mha.out_proj(y)
    y = y + head.mlp(head.layernorm(y))
    return y[:, 0], attn


def _reference_legrad_siglip(model: Any, pixels: Any, text_embedding: Any, empty: Any,
                             start: int) -> Any:
    """``LeWrapper.compute_legrad_siglip`` (apply_correction=True, threshold 0.8) for
    one prompt at a time (the package sums the prompts given together), without
    its final up-sampling."""
    vision = model.vision_model
    maps = []
    for t in range(text_embedding.shape[0]):
        with torch.enable_grad():
            out = vision(pixel_values=pixels.clone().requires_grad_(True), output_hidden_states=True)
            accum, accum_empty = 0, 0
            for layer in range(start, len(vision.encoder.layers)):
                pooled, probs = _reference_attn_pool(vision.head, out.hidden_states[layer + 1])
                pooled = F.normalize(pooled, dim=-1)
                sim = text_embedding[t:t + 1] @ pooled.T
                grad = torch.autograd.grad(sim.sum(), [probs], retain_graph=True)[0].clamp(min=0)
                accum = accum + grad.mean(dim=1)[:, 0]
                grad_e = torch.autograd.grad((pooled @ empty.T).sum(), [probs],
                                             retain_graph=True)[0].clamp(min=0)
                accum_empty = accum_empty + grad_e.mean(dim=1)[:, 0]
        mm = lambda a: (a - a.min()) / (a.max() - a.min())  # noqa: E731
        accum = accum.detach().clone()
        accum[mm(accum_empty.detach()) > 0.8] = 0
        maps.append(mm(accum)[0].numpy())
    w = int(math.sqrt(maps[0].size))
    return np.stack(maps).reshape(-1, w, w)


def test_legrad_siglip_matches_reference(folders: dict[str, Path]) -> None:
    explainer = load(folders, "siglip", "legrad", block=0)
    pixels, text = _pixels_and_text(explainer, TEXTS)
    empty = explainer.parts.texts(["a photo of a"])[3]
    expected = _reference_legrad_siglip(explainer.model, pixels, text, empty, 0)
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), TEXTS)[0]
    np.testing.assert_allclose(maps, expected, atol=1e-5)


def _reference_rollout(attentions: list[Any], discard_ratio: float, head_fusion: str) -> Any:
    """jacobgil/vit-explain ``vit_rollout.py`` ``rollout()``, as written there."""
    result = torch.eye(attentions[0].size(-1))
    with torch.no_grad():
        for attention in attentions:
            if head_fusion == "mean":
                fused = attention.mean(axis=1)
            elif head_fusion == "max":
                fused = attention.max(axis=1)[0]
            else:
                fused = attention.min(axis=1)[0]
            flat = fused.view(fused.size(0), -1)
            _, indices = flat.topk(int(flat.size(-1) * discard_ratio), -1, False)
            indices = indices[indices != 0]
            flat[0, indices] = 0
            eye = torch.eye(fused.size(-1))
            a = (fused + 1.0 * eye) / 2
            a = a / a.sum(dim=-1)
            result = torch.matmul(a, result)
    mask = result[0, 0, 1:]
    width = int(mask.size(-1) ** 0.5)
    mask = mask.reshape(width, width).numpy()
    return mask / np.max(mask)


@pytest.mark.parametrize("head_fusion", ["mean", "max"])
def test_rollout_matches_vit_explain(folders: dict[str, Path], head_fusion: str) -> None:
    explainer = load(folders, "clip", "rollout", recipe="vit-explain", head_fusion=head_fusion)
    pixels = explainer.parts.pixels(tiny_image(24, 40))
    with torch.no_grad():
        out = explainer.model.vision_model(pixel_values=pixels, output_attentions=True)
    expected = _reference_rollout([a.clone() for a in out.attentions], 0.9, head_fusion)
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), ["the cat"])[0]
    np.testing.assert_allclose(maps[0], expected, rtol=1e-5, atol=1e-6)


def test_rollout_paper_matches_chefer_compute_rollout(folders: dict[str, Path]) -> None:
    """The paper's rollout as ``compute_rollout_attention`` in Chefer's
    ExplanationGenerator.py writes it (A + I, rows to 1, product), [CLS] row."""
    explainer = load(folders, "clip", "rollout")
    pixels = explainer.parts.pixels(tiny_image(24, 40))
    with torch.no_grad():
        out = explainer.model.vision_model(pixel_values=pixels, output_attentions=True)
    mats = [a.mean(dim=1)[0] for a in out.attentions]
    eye = torch.eye(mats[0].shape[-1])
    mats = [(m + eye) / (m + eye).sum(dim=-1, keepdim=True) for m in mats]
    joint = mats[0]
    for m in mats[1:]:
        joint = m @ joint
    row = joint[0, 1:].numpy()
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), ["the cat"])[0]
    np.testing.assert_allclose(maps[0].ravel(), row / row.max(), rtol=1e-5)


def _reference_grad_eclip_clip(model: Any, pixels: Any, text_embedding: Any) -> np.ndarray:
    """``clip_encode_dense`` + ``grad_eclip(withksim=True)`` (Cyang-Zhao/Grad-Eclip
    generate_emap.py) on HF CLIP, one text at a time: the last block recomputed
    from its input with ``attention_layer(q, k, v, 1)`` (one head), the cosine of
    the normalised embedding and the text, its gradient at the attention output's
    [CLS] row, ``q``/``k`` through ``out_proj``, the min-max query-key cosine."""
    vision = model.vision_model
    layer = vision.encoder.layers[-1]
    att = layer.self_attn
    with torch.no_grad():
        x_in = vision(pixel_values=pixels, output_hidden_states=True).hidden_states[-2][0]
    maps = []
    for t in range(text_embedding.shape[0]):
        with torch.enable_grad():
            h = layer.layer_norm1(x_in)
            q, k, v = att.q_proj(h), att.k_proj(h), att.v_proj(h)
            weights = F.softmax((q * q.shape[-1] ** -0.5) @ k.T, dim=-1)
            attn_output = (weights @ v).requires_grad_(True)
            x = x_in + att.out_proj(attn_output)
            x = x + layer.mlp(layer.layer_norm2(x))
            emb = F.normalize(model.visual_projection(vision.post_layernorm(x[:1])), dim=-1)
            c = (emb @ text_embedding[t])[0]
            grad = torch.autograd.grad(c, attn_output)[0]
        grad_cls = grad[:1]
        q_cls = F.normalize(att.out_proj(q)[:1], dim=-1)
        k_patch = F.normalize(att.out_proj(k)[1:], dim=-1)
        cosine_qk = (q_cls * k_patch).sum(-1)
        cosine_qk = (cosine_qk - cosine_qk.min()) / (cosine_qk.max() - cosine_qk.min())
        emap = F.relu((grad_cls * v[1:] * cosine_qk[:, None]).detach().sum(-1))
        maps.append(emap.reshape(4, 4).numpy())
    return np.stack(maps)


def test_gradeclip_clip_matches_reference(folders: dict[str, Path]) -> None:
    explainer = load(folders, "clip", "gradeclip", heads="one")
    pixels, text = _pixels_and_text(explainer, TEXTS)
    expected = _reference_grad_eclip_clip(explainer.model, pixels, text)
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), TEXTS)[0]
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_gradeclip_recomputed_last_attention_is_the_models(folders: dict[str, Path],
                                                          family: str) -> None:
    """With the model's own heads, the embedding recomputed from the last attention
    is the model's image embedding (so the explained score is the model's)."""
    from vista.explain.gradeclip import _last_attention

    explainer = load(folders, family, "gradeclip")
    pixels = explainer.parts.pixels(tiny_image(24, 40))
    with torch.enable_grad():
        emb = _last_attention(explainer.parts, pixels, "model")[1]
    with torch.no_grad():
        expected = explainer.parts.image_embedding(pixels)
    np.testing.assert_allclose(F.normalize(emb, dim=-1).detach().numpy(), expected.numpy(),
                               rtol=1e-5, atol=1e-6)


def _reference_gem(model: Any, pixels: Any, text_embedding: Any, depth: int) -> np.ndarray:
    """WalBouss/GEM on HF CLIP: ``SelfSelfAttention.forward`` (packed ``qkv`` =
    HF's q/k/v projections, ``ss_attn_iter=1``, ``ss_attn_temp=None``),
    ``GEMResidualBlock.forward`` over the last ``depth - 1`` blocks,
    ``modified_vit_forward``'s ``ln_post`` and ``proj``, ``GEMWrapper.forward``'s
    patch-text matching and ``min_max`` (without its up-sampling)."""
    vision = model.vision_model
    blocks = list(vision.encoder.layers)
    first = len(blocks) - (depth - 1)
    with torch.no_grad():
        states = vision(pixel_values=pixels, output_hidden_states=True).hidden_states
        x_gem = states[first]
        for i in range(first, len(blocks)):
            blk, att = blocks[i], blocks[i].self_attn
            x = blk.layer_norm1(states[i])
            b, n, c = x.shape
            h = att.num_heads
            weight = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight])
            bias = torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias])
            qkv = F.linear(x, weight, bias).reshape(b, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            inv_temp = torch.norm(x, dim=-1).mean(dim=-1, keepdim=True).unsqueeze(1).unsqueeze(-1) \
                * (c // h) ** -0.5
            xs1, xs2, xs3 = v, k, q
            for _ in range(1):
                xs1, xs2, xs3 = (F.normalize(t, dim=-1) for t in (xs1, xs2, xs3))
                a1, a2, a3 = ((t @ t.transpose(-2, -1) * inv_temp).softmax(dim=-1)
                              for t in (xs1, xs2, xs3))
                xs1, xs2, xs3 = a1 @ xs1, a2 @ xs2, a3 @ xs3
            xs1, xs2, xs3 = (F.normalize(t, dim=-1) for t in (xs1, xs2, xs3))
            a1, a2, a3 = ((t @ t.transpose(-2, -1) * inv_temp).softmax(dim=-1)
                          for t in (xs1, xs2, xs3))
            xs = (a1 @ v + a2 @ v + a3 @ v) / 3
            x_gem = x_gem + att.out_proj(xs.transpose(1, 2).reshape(b, n, c))
        feat = F.normalize(model.visual_projection(vision.post_layernorm(x_gem)), dim=-1)
        matching = feat[:, 1:] @ text_embedding.T  # (1, N, prompts)
    m = matching[0].T.reshape(text_embedding.shape[0], -1)
    m = (m - m.min(-1, keepdim=True)[0]) / (m.max(-1, keepdim=True)[0] - m.min(-1, keepdim=True)[0])
    return m.reshape(-1, 4, 4).numpy()


@pytest.mark.parametrize("depth", [4, 2])  # the tiny model's 3 blocks, or the last one
def test_gem_matches_reference(folders: dict[str, Path], depth: int) -> None:
    explainer = load(folders, "clip", "gem", depth=depth)
    pixels, text = _pixels_and_text(explainer, TEXTS)
    expected = _reference_gem(explainer.model, pixels, text, depth)
    maps = explainer.runner(explainer.parts, tiny_image(24, 40), TEXTS)[0]
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)


def test_gem_shared_checks_and_errors(folders: dict[str, Path]) -> None:
    explainer = load(folders, "clip", "gem", depth=4)  # the tiny model has 3 blocks
    check_method(explainer, TEXTS, "similarity")
    maps = explainer.explain(tiny_image(), TEXTS)
    assert np.abs(maps[0].values - maps[1].values).max() > 1e-4
    assert maps[0].params["depth"] == 4 and maps[0].params["template"] == "{}"
    with pytest.raises(ValueError, match="depth must be <= 4"):
        load(folders, "clip", "gem")  # the default 7 needs 6 blocks
    with pytest.raises(ValueError, match="does not support siglip"):
        load(folders, "siglip", "gem")


@pytest.mark.parametrize(("family", "method", "message"), [
    ("clipseg", "legrad", "does not support clipseg"),
    ("vilt", "rollout", "does not support vilt"),
    ("clip", "captum:Lime", "unknown method 'captum:Lime'"),
    ("clip", "legrad", "unknown option"),
], ids=["legrad-clipseg", "rollout-vilt", "captum-unknown", "legrad-option"])
def test_bad_method_is_one_line_listing_what_is_supported(
        folders: dict[str, Path], family: str, method: str, message: str) -> None:
    kw = {"blok": 1} if message == "unknown option" else {}
    with pytest.raises(ValueError, match=message) as info:
        load_explainer(family, method=method, weights=str(folders["clip"]), device="cpu", **kw)
    text = str(info.value)
    assert "\n" not in text
    if message.startswith("does not"):
        assert "it supports: clip, siglip" in text
