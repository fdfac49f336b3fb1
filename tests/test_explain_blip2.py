"""The ``blip2-itm`` family on a tiny random BLIP-2 ITM saved in the real layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import count_hooks, tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    blip2_folder,
    check_method,
    one_torch_thread,
)

from vista.explain import load_explainer  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return blip2_folder(tmp_path_factory.mktemp("blip2"))


@pytest.fixture(scope="module")
def gradcam(folder: Path) -> Any:
    return load_explainer("blip2-itm", weights=str(folder), device="cpu")


def _hf_forward(explainer: Any, image: np.ndarray, text: str) -> Any:
    parts = explainer.parts
    enc = explainer.tokenizer([text], return_tensors="pt")
    return parts.pixels(image), enc


def test_default_recipe_and_params(gradcam: Any) -> None:
    (m,) = gradcam.explain(tiny_image(), ["The cat!"])
    assert m.method == "gradcam" and m.params["recipe"] == "gradcam"
    assert m.params["layer"] == "qformer.encoder.layer[2].crossattention"  # last with cross
    assert m.params["block"] == 1 and m.params["token_reduce"] == "queries"
    assert m.params["text_used"] == "the cat"


def test_shared_checks_and_text_changes_map(gradcam: Any) -> None:
    check_method(gradcam, TEXTS, "itm_logit")
    maps = gradcam.explain(tiny_image(), TEXTS)
    assert np.abs(maps[0].values - maps[1].values).max() > 1e-5


def test_itm_logit_is_the_models(gradcam: Any) -> None:
    image = tiny_image(24, 40)
    for text in TEXTS:
        pixels, enc = _hf_forward(gradcam, image, text)
        with torch.no_grad():
            out = gradcam.model(pixel_values=pixels, input_ids=enc["input_ids"],
                                attention_mask=enc["attention_mask"],
                                use_image_text_matching_head=True)
        (m,) = gradcam.explain(image, [text])
        assert m.params["itm_logit"] == pytest.approx(float(out.logits_per_image[0, 1]), rel=1e-5)


@pytest.mark.parametrize("block", [0, -1])
def test_gradcam_matches_lavis_arithmetic_on_the_model_forward(folder: Path, block: int) -> None:
    """LAVIS ``compute_gradcam`` arithmetic (grads clamped at 0 times the
    attention, mean over heads) on the probabilities the model's own ``forward``
    computes, one text at a time with a full backward pass, then the mean over
    the query rows, [CLS] column dropped."""
    explainer = load_explainer("blip2-itm", weights=str(folder), device="cpu", block=block)
    layer = [0, 2][block]
    module = explainer.model.qformer.encoder.layer[layer].crossattention.attention
    image = tiny_image(24, 40)
    expected = []
    for text in TEXTS:
        pixels, enc = _hf_forward(explainer, image, explainer.parts.texts([text])[2][0].get(
            "text_used", text))
        kept: list[Any] = []
        handle = module.register_forward_hook(lambda m, a, o, kept=kept: kept.append(o[1]))
        try:
            with torch.enable_grad():
                out = explainer.model(pixel_values=pixels.requires_grad_(True),
                                      input_ids=enc["input_ids"],
                                      attention_mask=enc["attention_mask"],
                                      use_image_text_matching_head=True)
                (grad,) = torch.autograd.grad(out.logits_per_image[0, 1], kept)
        finally:
            handle.remove()
        cam = (grad.clamp(min=0) * kept[0].detach()).mean(dim=1)[0]  # (queries, keys)
        expected.append(cam.mean(dim=0)[1:].reshape(4, 4).numpy())
    maps = explainer.runner(explainer.parts, image, TEXTS)[0]
    np.testing.assert_allclose(maps, np.stack(expected), rtol=1e-4, atol=1e-8)


def test_captum_saliency_no_hooks_and_text_changes_map(folder: Path) -> None:
    explainer = load_explainer("blip2-itm", method="captum:Saliency", weights=str(folder),
                               device="cpu")
    before = count_hooks(explainer.model)
    maps = explainer.explain(tiny_image(), TEXTS[:2])
    assert count_hooks(explainer.model) == before
    assert np.abs(maps[0].values - maps[1].values).max() > 1e-5


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "legrad"}, "does not support blip2-itm"),
    ({"block": 2}, "block must be in"),
    ({"blok": 1}, "unknown option"),
], ids=["method", "block", "option"])
def test_bad_input(folder: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_explainer("blip2-itm", weights=str(folder), device="cpu", **kwargs)
    assert "\n" not in str(info.value)
