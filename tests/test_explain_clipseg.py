"""The ``clipseg`` / ``clipseg-rd16`` explainers on tiny random CLIPSeg models."""

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
    check_long_text_truncated,
    clipseg_folder,
    tiny_image,
)

from vista.explain import load_explainer  # noqa: E402
from vista.imaging import resize_map  # noqa: E402

pytestmark = pytest.mark.explain

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        "clipseg": clipseg_folder(tmp_path_factory.mktemp("tiny-clipseg"), refined=True),
        "clipseg-rd16": clipseg_folder(tmp_path_factory.mktemp("tiny-clipseg-rd16"), refined=False),
    }


CASES = [
    pytest.param(("clipseg", "sigmoid"), id="rd64-sigmoid"),
    pytest.param(("clipseg", "gradcam"), id="rd64-gradcam"),
    pytest.param(("clipseg-rd16", "sigmoid"), id="rd16-sigmoid"),
    pytest.param(("clipseg-rd16", "gradcam"), id="rd16-gradcam"),
]


@pytest.fixture(scope="module", params=CASES)
def explainer(request: pytest.FixtureRequest, folders: dict[str, Path]) -> Any:
    name, method = request.param
    if method == "sigmoid":  # the transformers processor's resize, as in vista 0.1.0
        return load_explainer(name, recipe="vista-0.1", weights=str(folders[name]), device="cpu")
    return load_explainer(name, weights=str(folders[name]), device="cpu", method=method)


def test_maps_shape_finite_params(explainer: Any) -> None:
    maps = explainer.explain(tiny_image(24, 40), TEXTS)
    assert len(maps) == len(TEXTS)
    refined = explainer.model.config.use_complex_transposed_convolution
    for m in maps:
        assert m.values.shape == (24, 40)
        assert np.isfinite(m.values).all()
        assert m.model == explainer.name and m.method == explainer.method
        assert m.params["input_size"] == [32, 32]
        if explainer.method == "sigmoid":
            assert 0.0 <= m.values.min() and m.values.max() <= 1.0
            assert m.params["grid"] == ([16, 16] if refined else [32, 32])
        else:
            assert m.values.min() >= 0.0
            assert m.params["grid"] == [4, 4] and m.params["block"] == 0


def test_deterministic_and_batched_equals_unbatched(explainer: Any) -> None:
    check_deterministic_and_batched(explainer, TEXTS)


def test_sigmoid_equals_model_forward(folders: dict[str, Path]) -> None:
    """Encoding the image once and batching the texts gives the model's own forward
    (one image copy per prompt)."""
    exp = load_explainer("clipseg", recipe="vista-0.1", weights=str(folders["clipseg"]),
                         device="cpu")
    image = tiny_image(32, 32)
    maps = exp.explain(image, TEXTS)
    pixels = exp.image_processor(images=[image] * len(TEXTS), return_tensors="pt")
    enc = exp.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = exp.model(**enc, **pixels).logits

    for m, lg in zip(maps, logits, strict=True):
        expected = resize_map(torch.sigmoid(lg).numpy(), (32, 32))
        np.testing.assert_allclose(m.values, expected, rtol=1e-5, atol=1e-6)


def test_no_hooks_grad_mode_restored_params_frozen(explainer: Any) -> None:
    check_call_is_clean(explainer)


def test_long_text_truncated_not_crash(explainer: Any) -> None:
    check_long_text_truncated(explainer, " ".join(["the cat"] * 40))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"method": "relevance"}, "does not support clipseg", id="method"),
        pytest.param({"method": "gradcam", "block": 3}, "block must be in", id="block-range"),
        pytest.param({"block": 0}, "unknown option", id="block-for-sigmoid"),
    ],
)
def test_load_errors(folders: dict[str, Path], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_explainer("clipseg", weights=str(folders["clipseg"]), device="cpu", **kwargs)


def test_gradcam_matches_manual_computation(folders: dict[str, Path]) -> None:
    """Recomputed with the model's own forward: gradient of the summed logits with
    respect to decoder block 0's output, channel weights = mean gradient over the
    patch tokens, map = ReLU(weighted channel sum) on the 4 x 4 token grid."""
    exp = load_explainer("clipseg-rd16", weights=str(folders["clipseg-rd16"]), device="cpu",
                         method="gradcam")
    image = tiny_image(32, 32)
    (got,) = exp.explain(image, ["a dog on the mat"])
    model = exp.model
    pixels = exp.image_processor(images=image, return_tensors="pt")
    enc = exp.tokenizer(["a dog on the mat"], return_tensors="pt")
    store: dict[str, Any] = {}

    def keep(module: Any, args: Any, output: Any) -> None:
        output.retain_grad()
        store["act"] = output

    with torch.enable_grad():
        handle = model.decoder.layers[0].register_forward_hook(keep)
        try:
            # the decoder input is computed without grad inside the model: give the
            # conditional embedding a grad so the decoder graph exists
            cond = model.clip.get_text_features(**enc).pooler_output.requires_grad_(True)
            out = model(conditional_embeddings=cond, **pixels)
        finally:
            handle.remove()
        out.logits.sum().backward()
    act, grad = store["act"][0].detach(), store["act"].grad[0]
    cam = torch.relu(act[1:] @ grad[1:].mean(dim=0)).reshape(4, 4).numpy()

    np.testing.assert_allclose(got.values, resize_map(cam, (32, 32)), rtol=1e-4, atol=1e-7)


def test_long_text_split_into_pieces(folders: dict[str, Path]) -> None:
    exp = load_explainer("clipseg", weights=str(folders["clipseg"]), device="cpu",
                         overflow="split")
    maps = exp.explain(tiny_image(), [" ".join(["the cat"] * 40), "dog"])
    assert maps[0].params["n_pieces"] > 1 and maps[0].params["truncated"] is False
    assert 0.0 <= maps[0].values.min() and maps[0].values.max() <= 1.0


@pytest.mark.parametrize(("name", "recipe"), [("clipseg", "rd64"), ("clipseg", "rd64-refined"),
                                              ("clipseg", "rd16"), ("clipseg-rd16", "rd16")])
def test_recipe_matches_quickstart_port(folders: dict[str, Path], name: str, recipe: str) -> None:
    """``rd64``, ``rd64-refined``, ``rd16``: the clipseg quickstart, as ported in
    ``explain_references`` (the image repeated per prompt, the three prompts in one
    call), sigmoid of the logits, then bilinear onto the non-square image."""
    from explain_references import assert_close_in_range, clipseg_quickstart

    folder = folders["clipseg-rd16" if recipe == "rd16" else "clipseg"]
    image = tiny_image(24, 40, seed=17)
    ex = load_explainer(name, recipe=recipe, weights=str(folder), device="cpu")
    ours = ex.explain(image, TEXTS)
    model = transformers.CLIPSegForImageSegmentation.from_pretrained(str(folder)).eval()
    text = ex.tokenizer(TEXTS, padding=True, return_tensors="pt")
    probs = clipseg_quickstart(model, image, text["input_ids"], text["attention_mask"], 32)
    for got, p in zip(ours, probs, strict=True):
        assert_close_in_range(got.values, resize_map(p.numpy(), image.shape[:2]))
        assert got.params["recipe"] == recipe and got.params["input_fit"] == "quickstart"
