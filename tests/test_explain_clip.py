"""The ``clip`` explainer on a tiny random CLIP saved and loaded like real weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import (  # noqa: E402
    check_call_is_clean,
    check_deterministic_and_batched,
    check_long_text_split,
    check_long_text_truncated,
    make_image_processor,
    save_folder,
    tiny_clip_config,
    tiny_image,
    write_clip_tokenizer,
)

from vista.explain import load_explainer  # noqa: E402
from vista.imaging import resize_map  # noqa: E402

pytestmark = pytest.mark.explain

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-clip")
    tok = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    model = transformers.CLIPModel(tiny_clip_config(len(tok)))
    return save_folder(folder, model, tok, make_image_processor("clip", size=32))


@pytest.fixture(scope="module", params=["gradcam", "relevance"])
def explainer(request: pytest.FixtureRequest, clip_folder: Path) -> Any:
    return load_explainer("clip", recipe=request.param, weights=str(clip_folder), device="cpu")


def test_maps_shape_finite_params(explainer: Any) -> None:
    image = tiny_image(24, 40)
    maps = explainer.explain(image, TEXTS)
    assert len(maps) == len(TEXTS)
    for m in maps:
        assert m.values.shape == (24, 40)
        assert m.values.dtype == np.float32
        assert np.isfinite(m.values).all()
        assert m.model == "clip"
        assert m.method == explainer.method
        assert m.params["revision"] is None  # local folder
        assert m.params["grid"] == [4, 4]
        assert m.params["truncated"] is False
    if explainer.method == "gradcam":
        assert maps[0].params["block"] == 2  # last of 3 vision blocks
        assert min(m.values.min() for m in maps) >= 0.0  # ReLU
    else:
        assert maps[0].params["start_block"] == 0


def test_deterministic_and_batched_equals_unbatched(explainer: Any) -> None:
    check_deterministic_and_batched(explainer, TEXTS, "similarity")


def test_no_hooks_grad_mode_restored_params_frozen(explainer: Any) -> None:
    check_call_is_clean(explainer)


def test_long_text_truncated_not_crash(explainer: Any) -> None:
    check_long_text_truncated(explainer, " ".join(["the cat"] * 40))


def test_input_not_mutated(explainer: Any) -> None:
    image = tiny_image()
    copy = image.copy()
    explainer.explain(image, ["cat"])
    np.testing.assert_array_equal(image, copy)


def test_gradcam_matches_manual_computation(clip_folder: Path) -> None:
    """Grad-CAM recomputed by hand with plain autograd on the same tiny model:
    gradient of one text's similarity with respect to the last block's
    ``layer_norm1`` output, channel weights = mean gradient over the patch tokens,
    map = ReLU(sum of weighted channels) on the 4x4 grid."""
    exp = load_explainer("clip", recipe="gradcam", weights=str(clip_folder), device="cpu")
    image = tiny_image(32, 32)
    (got,) = exp.explain(image, ["the cat"])
    model = exp.model
    pixels = exp.image_processor(images=image, return_tensors="pt", do_center_crop=False,
                                 size={"height": 32, "width": 32})["pixel_values"]
    ids = exp.tokenizer(["the cat"], return_tensors="pt")
    store: dict[str, Any] = {}

    def keep(module: Any, args: Any, output: Any) -> None:
        output.retain_grad()
        store["act"] = output

    with torch.enable_grad():
        pixels.requires_grad_(True)
        handle = model.vision_model.encoder.layers[-1].layer_norm1.register_forward_hook(keep)
        try:
            out = model(pixel_values=pixels, **ids)
        finally:
            handle.remove()
        out.logits_per_image[0, 0].backward()
    act, grad = store["act"][0].detach(), store["act"].grad[0]
    weights = grad[1:].mean(dim=0)
    cam = torch.relu(act[1:] @ weights).reshape(4, 4).numpy()


    np.testing.assert_allclose(got.values, resize_map(cam, (32, 32)), rtol=1e-4, atol=1e-7)
    assert got.params["similarity"] == pytest.approx(float(out.logits_per_image[0, 0].detach()), rel=1e-5)


@pytest.mark.parametrize("start_block", [0, -1])
def test_relevance_matches_chefer_per_text(clip_folder: Path, start_block: int) -> None:
    """Chefer et al.'s rule as their CLIP notebook runs it, one text at a time with
    the model's own forward: attention probabilities of every vision block kept
    with their gradient of ``logits_per_image``, ``R = I``, then for each block from
    ``start_block`` on ``R += mean_heads(clamp(grad * attn, min=0)) @ R``, map =
    ``R[CLS, 1:]`` on the 4 x 4 grid. vista's one vectorised backward for all texts
    must give the same maps."""


    exp = load_explainer("clip", weights=str(clip_folder), device="cpu", recipe="relevance",
                         start_block=start_block)
    image = tiny_image(32, 32)
    got = exp.explain(image, TEXTS)
    model = exp.model
    pixels = exp.image_processor(images=image, return_tensors="pt", do_center_crop=False,
                                 size={"height": 32, "width": 32})["pixel_values"]
    layers = model.vision_model.encoder.layers
    first = start_block % len(layers)
    for text, m in zip(TEXTS, got, strict=True):
        probs: list[Any] = []

        def keep(module: Any, args: Any, output: Any, probs: list[Any] = probs) -> None:
            output[1].retain_grad()
            probs.append(output[1])

        handles = [layer.self_attn.register_forward_hook(keep) for layer in layers]
        try:
            with torch.enable_grad():
                out = model(pixel_values=pixels.clone().requires_grad_(True),
                            **exp.tokenizer([text], return_tensors="pt"))
                out.logits_per_image[0, 0].backward()
        finally:
            for handle in handles:
                handle.remove()
        rel = torch.eye(probs[0].shape[-1], dtype=torch.float64)
        for attn in probs[first:]:
            cam = (attn.grad[0] * attn[0].detach()).clamp(min=0).mean(dim=0).double()
            rel = rel + cam @ rel
        expected = rel[0, 1:].reshape(4, 4).numpy()
        assert np.abs(expected).max() > 0
        np.testing.assert_allclose(m.values, resize_map(expected, (32, 32)), rtol=1e-4,
                                   atol=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"method": "sigmoid"}, "does not support clip", id="method"),
        pytest.param({"method": "gradcam", "block": 3}, "block must be in", id="block-range"),
        pytest.param({"method": "gradcam", "start_block": 0}, "unknown option",
                     id="option-for-other-method"),
        pytest.param({"blok": 1}, "unknown option", id="typo"),
    ],
)
def test_load_errors(clip_folder: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_explainer("clip", weights=str(clip_folder), device="cpu", **kwargs)


def test_texts_validated(explainer: Any) -> None:
    with pytest.raises(TypeError, match="texts"):
        explainer.explain(tiny_image(), "a single string")


def test_offline_and_not_cached_says_how_to_get_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("huggingface_hub", reason="needs huggingface_hub")
    from vista.errors import WeightsNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFoundError, match="57c216476eefef5ab752ec549e440a49ae4ae5f3"):
        load_explainer("clip", recipe="gradcam", device="cpu")
    with pytest.raises(WeightsNotFoundError, match="openai/clip-vit-base-patch32"):
        load_explainer("clip", device="cpu")  # chefer: ViT-B/32


def test_long_text_split_into_pieces(clip_folder: Path) -> None:
    exp = load_explainer("clip", weights=str(clip_folder), device="cpu", overflow="split")
    check_long_text_split(exp, " ".join(["the cat"] * 40), "similarity")


@pytest.mark.parametrize("recipe", ["chefer", "chefer-pad"])
def test_recipe_matches_chefer_notebook_port(clip_folder: Path, recipe: str) -> None:
    """``chefer``: ``CLIP_explainability.ipynb`` ``interpret()`` (``start_layer=-1``)
    as ported in ``explain_references``, on OpenAI's preprocessing (resize the
    shorter side, centre crop), three texts in one call; vista puts the crop's map
    on the crop box and 0 on the margins. ``chefer-pad``: the same on the image
    padded to a square with the mean colour, the padding cut from the map."""
    from explain_references import (
        assert_close_in_range,
        chefer_interpret,
        openai_clip_preprocess,
    )

    image = tiny_image(24, 40, seed=11)
    ex = load_explainer("clip", recipe=recipe, weights=str(clip_folder), device="cpu")
    ours = ex.explain(image, TEXTS)
    model = transformers.CLIPModel.from_pretrained(str(clip_folder),
                                                   attn_implementation="eager").eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(clip_folder))
    proc = ex.image_processor
    h, w = image.shape[:2]
    if recipe == "chefer-pad":
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        canvas = np.empty((side, side, 3), np.uint8)
        canvas[:] = np.round(np.asarray(proc.image_mean) * 255).astype(np.uint8)
        canvas[top:top + h, left:left + w] = image
        pixels, _ = openai_clip_preprocess(canvas, 32, proc.image_mean, proc.image_std)
    else:
        pixels, (top, left, new_h, new_w) = openai_clip_preprocess(image, 32, proc.image_mean,
                                                                     proc.image_std)
    text = tok(TEXTS, padding=True, return_tensors="pt")
    relevance = chefer_interpret(model, pixels, text["input_ids"], text["attention_mask"])
    for got, rel in zip(ours, relevance, strict=True):
        grid = rel.reshape(4, 4).numpy()
        if recipe == "chefer-pad":
            assert_close_in_range(got.values, resize_map(grid, (side, side))[top:top + h,
                                                                             left:left + w])
            continue
        y0, x0 = round(top * h / new_h), round(left * w / new_w)
        y1, x1 = round((top + 32) * h / new_h), round((left + 32) * w / new_w)
        assert (y0, y1) == (0, h) and 0 < x0 < x1 < w  # a wide image: side margins
        assert_close_in_range(got.values[y0:y1, x0:x1], resize_map(grid, (y1 - y0, x1 - x0)))
        assert (got.values[:, :x0] == 0).all() and (got.values[:, x1:] == 0).all()
        assert got.params["margin_fill"] == 0.0 and got.params["crop_box"] == [y0, x0, y1, x1]
