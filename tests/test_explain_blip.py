"""BLIP-ITM explainer on a tiny random model saved with ``save_pretrained`` and loaded
through ``load_explainer`` (the same path as real weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
pytest.importorskip("transformers", reason="the explain extra (transformers) is not installed")

import torch
from explain_fixtures import (
    blip_folder,
    count_hooks,
    denormals_flushed,
    tiny_image,
)

from vista.explain import load_explainer
from vista.imaging import resize_map

pytestmark = pytest.mark.explain

TEXTS = ["a cat sits on the mat", "the red dog", "a man standing near a big tree"]


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return blip_folder(tmp_path_factory.mktemp("blip"))


@pytest.fixture(scope="module")
def explainer(blip_dir: Path) -> Any:
    return load_explainer("blip-itm-base", recipe="vista-0.1", weights=str(blip_dir), device="cpu")


def test_maps_finite_shape_deterministic(explainer: Any) -> None:
    img = tiny_image(24, 32)
    maps = explainer.explain(img, TEXTS)
    assert len(maps) == len(TEXTS)
    for m in maps:
        assert m.shape == (24, 32)
        assert m.values.dtype == np.float32
        assert np.isfinite(m.values).all()
        assert m.values.min() >= 0.0  # gradient clamped at 0, attention >= 0
        assert m.values.max() > 0.0
        assert m.model == "blip-itm-base"
        assert m.method == "gradcam"
        assert m.params["block"] == 7
        assert m.params["first_token"] == "enc"
        assert m.params["revision"] is None
        assert m.params["grid"] == [4, 4]
    again = explainer.explain(img, TEXTS)
    for a, b in zip(maps, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
    # different texts give different maps
    assert not np.allclose(maps[0].values, maps[1].values)


def test_batched_equals_unbatched(explainer: Any) -> None:
    img = tiny_image(20, 20, seed=3)
    together = explainer.explain(img, TEXTS)
    for text, batched in zip(TEXTS, together, strict=True):
        alone = explainer.explain(img, [text])[0]
        np.testing.assert_allclose(alone.values, batched.values, rtol=1e-4, atol=1e-7)
        assert alone.params["itm_logit"] == pytest.approx(batched.params["itm_logit"], abs=1e-5)


def test_no_hooks_frozen_eval(explainer: Any) -> None:
    model = explainer.model
    assert count_hooks(model) == 0
    explainer.explain(tiny_image(), TEXTS)
    assert count_hooks(model) == 0
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_grad_mode_and_denormals_restored(explainer: Any) -> None:
    before = denormals_flushed()
    with torch.no_grad():
        explainer.explain(tiny_image(), ["a dog"])
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert denormals_flushed() == before
    with torch.inference_mode():
        m = explainer.explain(tiny_image(), ["a dog"])[0]
        assert torch.is_inference_mode_enabled()
    assert np.isfinite(m.values).all()
    assert not torch.is_inference_mode_enabled()
    torch.set_flush_denormal(True)
    try:
        explainer.explain(tiny_image(), ["a dog"])
        assert denormals_flushed()
    finally:
        torch.set_flush_denormal(before)


def test_matches_lavis_per_pair_recipe(blip_dir: Path, explainer: Any) -> None:
    """The LAVIS way, written out: trainable model, one forward per pair through
    ``BlipForImageTextRetrieval.forward`` (image re-encoded), ``loss.backward()``
    with the attention saved by a hook and its gradient by ``register_hook``, then
    LAVIS's arithmetic (mask, clamp(0), product, mean over heads, tokens 1..n
    summed / n). The explainer must give the same maps."""
    from transformers import AutoImageProcessor, AutoTokenizer, BlipForImageTextRetrieval

    model = BlipForImageTextRetrieval.from_pretrained(str(blip_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(blip_dir))
    proc = AutoImageProcessor.from_pretrained(str(blip_dir), backend="pil")
    img = tiny_image(32, 32, seed=5)
    from PIL import Image

    pixels = proc(images=Image.fromarray(img), return_tensors="pt")["pixel_values"]
    ours = explainer.explain(img, TEXTS)
    enc_id = tok.convert_tokens_to_ids("[ENC]")
    for text, got in zip(TEXTS, ours, strict=True):
        t = tok([text], return_tensors="pt")
        ids = t["input_ids"].clone()
        ids[:, 0] = enc_id
        saved: dict[str, Any] = {}

        def hook(module: Any, args: Any, output: Any, saved: dict[str, Any] = saved) -> None:
            saved["attn"] = output[1]
            output[1].register_hook(lambda g: saved.__setitem__("grad", g))

        handle = model.text_encoder.encoder.layer[7].crossattention.self.register_forward_hook(
            hook
        )
        try:
            out = model(input_ids=ids, pixel_values=pixels, attention_mask=t["attention_mask"])
            loss = out.itm_score[:, 1].sum()
            model.zero_grad()
            loss.backward()
        finally:
            handle.remove()
        mask = t["attention_mask"].view(1, 1, -1, 1, 1)
        n = int(t["attention_mask"].sum()) - 2
        heads = saved["attn"].shape[1]
        cams = saved["attn"].detach()[:, :, :, 1:].reshape(1, heads, -1, 4, 4) * mask
        grads = saved["grad"][:, :, :, 1:].clamp(0).reshape(1, heads, -1, 4, 4) * mask
        gradcam = (cams * grads)[0].mean(0)
        expected = (gradcam[1 : n + 1].sum(dim=0) / n).numpy()
        np.testing.assert_allclose(
            got.values, resize_map(expected, (32, 32)), rtol=1e-4, atol=1e-9
        )


def test_long_text_truncated_and_recorded(blip_dir: Path) -> None:
    ex = load_explainer("blip-itm-base", recipe="vista-0.1", weights=str(blip_dir), device="cpu", token_limit=8)
    long = " ".join(["a red dog sits on the mat"] * 10)
    maps = ex.explain(tiny_image(), [long, "a cat"])
    assert np.isfinite(maps[0].values).all()
    assert maps[0].params["truncated"] is True
    assert maps[0].params["n_tokens"] == 70
    assert maps[0].params["token_limit"] == 8
    assert maps[1].params["truncated"] is False


def test_long_text_split(blip_dir: Path) -> None:
    kw: dict[str, Any] = {"weights": str(blip_dir), "device": "cpu", "token_limit": 8,
                          "recipe": "vista-0.1"}
    split = load_explainer("blip-itm-base", overflow="split", **kw)
    trunc = load_explainer("blip-itm-base", **kw)
    long = " ".join(["a red dog sits on the mat"] * 3)  # 21 tokens: pieces of 6, 6, 6, 3
    img = tiny_image()
    maps = split.explain(img, [long, "a cat"])
    assert maps[0].params["n_pieces"] == 4
    assert maps[0].params["truncated"] is False
    assert len(maps[0].params["itm_logit"]) == 4
    assert np.isfinite(maps[0].values).all()
    # a short text is one piece: the same as with truncation
    np.testing.assert_allclose(maps[1].values, trunc.explain(img, ["a cat"])[0].values,
                               rtol=1e-4, atol=1e-8)


def test_options_recorded_and_cls_first_token(blip_dir: Path) -> None:
    ex = load_explainer("blip-itm-large", recipe="vista-0.1", weights=str(blip_dir), device="cpu", block=-1,
                        first_token="cls", clamp="product", clean_text=False)
    m = ex.explain(tiny_image(), ["A cat!"])[0]
    assert m.model == "blip-itm-large"
    assert m.params["block"] == 9
    assert m.params["first_token"] == "cls"
    assert m.params["clamp"] == "product"
    assert "text_used" not in m.params
    cls = load_explainer("blip-itm-base", recipe="vista-0.1", weights=str(blip_dir), device="cpu", token_reduce="cls")
    m_cls = cls.explain(tiny_image(), ["a cat sits"])[0]
    assert m_cls.params["token_reduce"] == "cls"
    assert np.isfinite(m_cls.values).all() and m_cls.values.max() > 0
    cleaned = load_explainer("blip-itm-base", recipe="vista-0.1", weights=str(blip_dir), device="cpu")
    assert cleaned.explain(tiny_image(), ["A cat!"])[0].params["text_used"] == "a cat"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"block": 10}, ValueError, "block must be in", id="block-range"),
        pytest.param({"blok": 1}, ValueError, "unknown option", id="unknown-option"),
        pytest.param({"method": "relevance"}, ValueError, "does not support blip-itm-base", id="method"),
        pytest.param({"overflow": "drop"}, ValueError, "overflow must be one of", id="overflow"),
        pytest.param({"token_limit": 1000}, ValueError, "token_limit must be <=", id="limit"),
        pytest.param({"first_token": "sep"}, ValueError, "first_token must be", id="first"),
        pytest.param({"token_reduce": "some"}, ValueError, "token_reduce must be one of", id="tokens"),
        pytest.param({"block": 1.5}, TypeError, "block must be an integer", id="block-type"),
    ],
)
def test_load_errors(blip_dir: Path, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        load_explainer("blip-itm-base", recipe="vista-0.1", weights=str(blip_dir), device="cpu", **kwargs)


def test_explain_input_errors(explainer: Any) -> None:
    with pytest.raises(TypeError, match="texts must be a list"):
        explainer.explain(tiny_image(), "a cat")
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        explainer.explain(np.zeros((4, 4)), ["a cat"])


def _lavis_pixels(image: np.ndarray, size: int) -> torch.Tensor:
    """LAVIS ``BlipImageEvalProcessor``: ``Resize((size, size), BICUBIC)``,
    ``ToTensor``, ``Normalize`` with the CLIP constants."""
    from PIL import Image

    arr = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    mean = np.array([0.48145466, 0.4578275, 0.40821073])
    std = np.array([0.26862954, 0.26130258, 0.27577711])
    x = ((arr / 255.0 - mean) / std).astype(np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


@pytest.mark.parametrize(("recipe", "block"), [("lavis", 6), ("lavis-notebook", 7)])
def test_recipe_matches_lavis_port(blip_dir: Path, recipe: str, block: int) -> None:
    """``lavis``: LAVIS ``compute_gradcam`` (block 6) as ported in
    ``explain_references.lavis_compute_gradcam``, the three texts as one padded
    batch with the image repeated (as ``BlipITM.forward`` takes them), then
    bilinear onto the image. ``lavis-notebook``: block 7 and ``getAttMap``."""
    from explain_references import assert_close_in_range, getattmap_ref, lavis_compute_gradcam
    from transformers import AutoTokenizer, BlipForImageTextRetrieval

    image = tiny_image(24, 40, seed=7)
    ours = load_explainer("blip-itm-base", recipe=recipe, weights=str(blip_dir),
                          device="cpu").explain(image, TEXTS)
    model = BlipForImageTextRetrieval.from_pretrained(str(blip_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(blip_dir))
    text = tok(TEXTS, padding="longest", truncation=True, max_length=35, return_tensors="pt")
    ids = text["input_ids"].clone()
    ids[:, 0] = tok.convert_tokens_to_ids("[ENC]")
    pixels = _lavis_pixels(image, 32).repeat(len(TEXTS), 1, 1, 1)
    gradcams = lavis_compute_gradcam(model, pixels, ids, text["attention_mask"], block)
    for got, gradcam in zip(ours, gradcams, strict=True):
        avg = gradcam[1].numpy()
        expected = getattmap_ref(image.shape, avg) if recipe == "lavis-notebook" else \
            resize_map(avg, image.shape[:2])
        assert_close_in_range(got.values, expected)
        assert got.params["recipe"] == recipe and got.params["block"] == block
