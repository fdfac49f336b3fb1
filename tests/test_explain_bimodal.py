"""Chefer et al.'s bi-modal relevance and captum on BLIP-ITM and ALBEF (tiny random
models saved in the real layouts), checked against a port of the reference
arithmetic of Transformer-MM-Explainability's ``ExplanationGenerator.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import albef_checkpoint, blip_folder, tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    check_method,
    one_torch_thread,
    realistic_init,
)

from vista.explain import load_explainer  # noqa: E402
from vista.explain.bimodal import bimodal_relevance, handle_residual  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bimodal")
    blip = blip_folder(root / "blip")
    model = transformers.BlipForImageTextRetrieval.from_pretrained(blip)
    realistic_init(model)  # transformers' 0.02 init leaves the ITM gradients near round-off
    model.save_pretrained(blip)
    return {"blip-itm-base": blip, "albef": albef_checkpoint(root / "albef")}


def load(weights: dict[str, Path], family: str, method: str = "bimodal", **kw: Any) -> Any:
    extra = {"vision_heads": 3} if family == "albef" else {}
    return load_explainer(family, method=method, weights=str(weights[family]), device="cpu",
                          **extra, **kw)


def test_relevance_two_blocks_by_hand() -> None:
    """Two vision blocks and one text layer (self, then cross), by hand."""
    v1 = np.array([[0.0, 0.5], [0.0, 0.0]])
    v2 = np.array([[0.0, 1.0], [0.0, 0.0]])
    # R_ii = (I + v2)(I + v1) = [[1, 1.5], [0, 1]]
    tt = np.array([[0.0, 1.0], [0.0, 0.0]])   # [CLS] attends to the word
    ti = np.array([[0.0, 0.0], [0.0, 2.0]])   # the word attends to the patch
    # R_tt = [[1, 1], [0, 1]]; R_ti stays 0 after self-attention
    # handle_residual(R_tt) = [[1, 1], [0, 1]]; handle_residual(R_ii) = [[1, 1], [0, 1]]
    # R_ti = R_tt_bar^T @ ti @ R_ii_bar = [[1, 0], [1, 1]] @ [[0, 0], [0, 2]] @ [[1, 1], [0, 1]]
    r = bimodal_relevance([v1, v2], [("self", tt), ("cross", ti)])
    np.testing.assert_allclose(r, [[0.0, 0.0], [0.0, 2.0]])
    # without the normalisation the raw R's are used; without rule 10's self terms, Ā^{ti}
    raw = bimodal_relevance([v1, v2], [("self", tt), ("cross", ti)],
                            normalize_self_attention=False)
    np.testing.assert_allclose(raw, [[0.0, 0.0], [0.0, 2.0]])
    plain = bimodal_relevance([v1, v2], [("self", tt), ("cross", ti)],
                              apply_self_in_rule_10=False)
    np.testing.assert_allclose(plain, ti)
    # a second self-attention carries the word's image relevance to [CLS]
    r2 = bimodal_relevance([v1, v2], [("self", tt), ("cross", ti), ("self", tt)])
    np.testing.assert_allclose(r2[0], [0.0, 2.0])


def test_handle_residual_padding_row_is_zero_not_nan() -> None:
    r = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = handle_residual(r)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [[1.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


# --- the reference, ported ---------------------------------------------------------


def _ref_avg_heads(cam: Any, grad: Any) -> Any:
    cam = cam.reshape(-1, cam.shape[-2], cam.shape[-1])
    grad = grad.reshape(-1, grad.shape[-2], grad.shape[-1])
    return (grad * cam).clamp(min=0).mean(dim=0)


def _ref_handle_residual(orig: Any) -> Any:
    self_attention = orig.clone()
    self_attention -= torch.eye(self_attention.shape[-1], dtype=orig.dtype)
    self_attention = self_attention / self_attention.sum(dim=-1, keepdim=True)
    return self_attention + torch.eye(self_attention.shape[-1], dtype=orig.dtype)


def _reference(explainer: Any, image: np.ndarray, text: str) -> np.ndarray:
    """``GeneratorOurs.generate_ours(use_lrp=False)`` (ExplanationGenerator.py):
    rules 5-7 and 10-11 on one unpadded pair, the attention and its gradient taken
    from a forward and backward pass of that pair alone (batch 1, as there). The
    sums run in float64, as vista's do (in float32 the 10-block tiny ALBEF's
    relevance differs by about 1 % from rounding alone)."""
    parts = explainer.parts
    family = parts.family
    _, _, _, (ids, mask) = parts.texts([text])
    n = int(mask.sum())
    ids, mask = ids[:, :n], mask[:, :n]
    probs: list[Any] = []

    def trainable(module: Any, args: Any, kwargs: Any) -> Any:
        # the reference's embeddings are trainable: the text's attention is in the graph
        if args:
            return (args[0].detach().requires_grad_(True), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": kwargs["hidden_states"].detach()
                      .requires_grad_(True)}

    first_text = explainer.model.text_encoder.encoder.layer[0]
    handles = [first_text.register_forward_pre_hook(trainable, with_kwargs=True)]
    for layer in parts.vision_layers():
        module, index = parts.vision_attention(layer)
        handles.append(module.register_forward_hook(
            lambda m, a, o, index=index: probs.append(o if index is None else o[index])))
    kinds = []
    for kind, module in parts.text_steps():
        kinds.append(kind)
        handles.append(module.register_forward_hook(lambda m, a, o: probs.append(o[1])))
    try:
        with torch.enable_grad():
            pixels = parts.pixels(image).requires_grad_(True)
            score = family._match_logit(ids, mask, family._encode_image(pixels))[0]
            grads = torch.autograd.grad(score, probs)
    finally:
        for h in handles:
            h.remove()
    nv = len(parts.vision_layers())
    r_ii = torch.eye(probs[0].shape[-1], dtype=torch.float64)  # float64, as vista sums
    for a, g in zip(probs[:nv], grads[:nv], strict=True):
        r_ii = r_ii + _ref_avg_heads(a.detach().double(), g.double()) @ r_ii  # rules 6-7
    r_tt = torch.eye(n, dtype=torch.float64)
    r_ti = torch.zeros(n, r_ii.shape[0], dtype=torch.float64)
    for kind, a, g in zip(kinds, probs[nv:], grads[nv:], strict=True):
        cam = _ref_avg_heads(a.detach().double(), g.double())
        if kind == "self":
            r_tt, r_ti = r_tt + cam @ r_tt, r_ti + cam @ r_ti
        else:  # rules 10-11 (R_it is 0: the image never attends to the text)
            r_ti = r_ti + _ref_handle_residual(r_tt).t() @ (cam @ _ref_handle_residual(r_ii))
    return r_ti[0, 1:].reshape(4, 4).numpy()


@pytest.mark.parametrize("family", ["blip-itm-base", "albef"])
def test_bimodal_matches_reference(weights: dict[str, Path], family: str) -> None:
    explainer = load(weights, family)
    image = tiny_image(24, 40)
    maps = explainer.runner(explainer.parts, image, TEXTS)[0]
    for text, got in zip(TEXTS, maps, strict=True):
        np.testing.assert_allclose(got, _reference(explainer, image, text), rtol=1e-4, atol=1e-9)


def test_bimodal_shared_checks(weights: dict[str, Path]) -> None:
    """On BLIP (ALBEF runs the same code; its reference test above covers it)."""
    explainer = load(weights, "blip-itm-base")
    check_method(explainer, TEXTS[:2], "itm_logit")
    maps = explainer.explain(tiny_image(), TEXTS)
    assert np.abs(maps[0].values - maps[1].values).max() > 0
    assert maps[0].params["recipe"] == "bimodal"
    assert maps[0].params["normalize_self_attention"] is True
    assert maps[0].params["first_token"] == "enc"


@pytest.mark.parametrize("family", ["blip-itm-base"])  # ALBEF: the same FusionParts
def test_captum_on_fusion_families(weights: dict[str, Path], family: str) -> None:
    explainer = load(weights, family, "captum:InputXGradient")
    parts = explainer.parts
    image = tiny_image(24, 40)
    pixels = parts.pixels(image)
    handle = parts.texts(["the cat"])[3]
    ixg = pytest.importorskip("captum.attr").InputXGradient(
        lambda px: parts.score_pixels(px, handle)[:, 0])
    with torch.enable_grad():
        attr = ixg.attribute(pixels.clone().requires_grad_(True))
    got = explainer.runner(parts, image, ["the cat", "red"])[0]
    np.testing.assert_allclose(got[0], attr.detach().abs().sum(dim=1)[0].numpy(), rtol=1e-5,
                               atol=1e-8)
    assert np.abs(got[0] - got[1]).max() > 0


def test_bimodal_bad_option(weights: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="unknown option") as info:
        load(weights, "blip-itm-base", rules=3)
    assert "\n" not in str(info.value)
