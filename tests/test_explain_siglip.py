"""The ``siglip`` family on a tiny random SigLIP saved in the real layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    check_method,
    one_torch_thread,
    siglip_folder,
)

from vista.explain import explainer_names, load_explainer  # noqa: E402
from vista.explain.siglip import pool_with_probs  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return siglip_folder(tmp_path_factory.mktemp("siglip"))


@pytest.fixture(scope="module")
def gradcam(folder: Path) -> Any:
    return load_explainer("siglip", weights=str(folder), device="cpu")


def test_registered_with_its_default(gradcam: Any) -> None:
    assert "siglip" in explainer_names()
    (m,) = gradcam.explain(tiny_image(), ["the cat"])
    assert m.method == "gradcam" and m.params["recipe"] == "gradcam"
    assert m.params["score"] == "sigmoid_score" and 0 < m.params["sigmoid_score"] < 1
    assert m.params["grid"] == [4, 4] and m.params["block"] == 2


def test_gradcam_shared_checks(gradcam: Any) -> None:
    check_method(gradcam, TEXTS, "sigmoid_score")
    maps = gradcam.explain(tiny_image(), TEXTS)
    assert np.abs(maps[0].values - maps[1].values).max() > 0


def test_pooling_head_step_by_step_equals_the_model(gradcam: Any) -> None:
    head = gradcam.model.vision_model.head
    hidden = torch.randn(2, 16, 32)
    pooled, probs = pool_with_probs(head, hidden)
    with torch.no_grad():
        np.testing.assert_allclose(pooled.numpy(), head(hidden).numpy(), rtol=1e-5, atol=1e-6)
    assert probs.shape == (2, 2, 1, 16)
    np.testing.assert_allclose(probs.sum(-1).numpy(), 1.0, rtol=1e-6)


def test_score_is_the_models_sigmoid_pair_score(gradcam: Any) -> None:
    """The score explained is ``sigmoid(logits_per_image)`` of ``SiglipModel.forward``
    with the texts padded to max_length as SigLIP's processor does."""
    parts = gradcam.parts
    image = tiny_image(24, 40)
    pixels = parts.pixels(image)
    ids = gradcam.tokenizer(TEXTS, padding="max_length", max_length=16,
                            return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = gradcam.model(input_ids=ids, pixel_values=pixels)
    maps = gradcam.explain(image, TEXTS)
    np.testing.assert_allclose([m.params["sigmoid_score"] for m in maps],
                               out.logits_per_image.sigmoid()[0].numpy(), rtol=1e-5)


def test_gradcam_by_hand_on_the_last_block(gradcam: Any) -> None:
    """Grad-CAM computed here: the gradient of the sigmoid score to the last block's
    ``layer_norm1`` output, averaged over all tokens (no [CLS]), weighting the
    channels, ReLU."""
    parts = gradcam.parts
    image = tiny_image(24, 40)
    pixels = parts.pixels(image)
    text = parts.texts(["the cat"])[3]
    kept: list[Any] = []
    layer = gradcam.model.vision_model.encoder.layers[-1]
    handle = layer.layer_norm1.register_forward_hook(lambda m, a, o: kept.append(o))
    try:
        with torch.enable_grad():
            emb = parts.image_embedding(pixels.clone().requires_grad_(True))
            score = parts.score(emb, text)[0, 0]
            (grad,) = torch.autograd.grad(score, kept)
    finally:
        handle.remove()
    weights = grad[0].mean(0)
    cam = (kept[0][0].detach() * weights).sum(-1).clamp(min=0).reshape(4, 4).numpy()
    got = gradcam.runner(parts, image, ["the cat"])[0][0]
    np.testing.assert_allclose(got, cam, rtol=1e-4, atol=1e-7)


def test_long_text_truncated(gradcam: Any) -> None:
    long = " ".join(["the cat sits on the mat"] * 6)
    maps = gradcam.explain(tiny_image(), [long, "dog"])
    assert maps[0].params["truncated"] is True and maps[1].params["truncated"] is False
    assert np.isfinite(maps[0].values).all()


def test_unsupported_method_lists_supported(folder: Path) -> None:
    with pytest.raises(ValueError, match="methods for siglip: ") as info:
        load_explainer("siglip", method="relevance", weights=str(folder), device="cpu")
    assert "legrad" in str(info.value) and "\n" not in str(info.value)
