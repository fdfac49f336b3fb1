"""The ``vilt`` explainer on a tiny random ViLT saved and loaded like real weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import (  # noqa: E402
    TOKEN_LIMIT,
    check_call_is_clean,
    check_deterministic_and_batched,
    check_long_text_split,
    check_long_text_truncated,
    make_bert_tokenizer,
    make_image_processor,
    save_folder,
    tiny_image,
)

from vista.explain import load_explainer  # noqa: E402
from vista.imaging import resize_map  # noqa: E402

pytestmark = pytest.mark.explain

TEXTS = ["a cat on the mat", "two dogs", "the red car near a tree"]


def _vilt_folder(folder: Path, shorter: int) -> Path:
    """A tiny random ViLT retrieval model; its processor resizes the shorter side to
    ``shorter`` (sides a multiple of 8) and normalises with 0.5 as ViLT's does."""
    tok = make_bert_tokenizer(folder, model_max_length=TOKEN_LIMIT)
    config = transformers.ViltConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, image_size=32, patch_size=8, max_position_embeddings=TOKEN_LIMIT,
    )
    torch.manual_seed(0)
    model = transformers.ViltForImageAndTextRetrieval(config)
    processor = make_image_processor("vilt", size=shorter, mean=(0.5,) * 3, std=(0.5,) * 3)
    return save_folder(folder, model, tok, processor)


@pytest.fixture(scope="module")
def vilt_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _vilt_folder(tmp_path_factory.mktemp("tiny-vilt"), 32)


@pytest.fixture(scope="module")
def explainer(vilt_folder: Path) -> Any:
    return load_explainer("vilt", recipe="vista-0.1", weights=str(vilt_folder), device="cpu")


def test_maps_shape_finite_params(explainer: Any) -> None:
    maps = explainer.explain(tiny_image(24, 40), TEXTS)
    assert len(maps) == len(TEXTS)
    for m in maps:
        assert m.values.shape == (24, 40)
        assert np.isfinite(m.values).all()
        assert m.values.min() >= 0.0  # gradient clamped at 0, attention >= 0
        assert m.model == "vilt" and m.method == "gradcam"
        assert m.params["block"] == 1  # L - 2 for 3 blocks
        assert m.params["grid"] == [4, 6]  # 32 x 48 input, patch 8: aspect kept
    assert any(m.values.max() > 0 for m in maps)


def test_deterministic_batched_equals_unbatched_rng_untouched(explainer: Any) -> None:
    torch.manual_seed(123)
    explainer.explain(tiny_image(24, 40), TEXTS)
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)  # caller's random state untouched
    check_deterministic_and_batched(explainer, TEXTS, "itm_logit")


def test_score_matches_model_own_forward(explainer: Any) -> None:
    """The ITM logit from the shared patch embedding equals the model's own forward
    on pixel values (which samples the patch order at random)."""
    image = tiny_image(24, 40)
    (m,) = explainer.explain(image, ["a cat on the mat"])
    inputs = explainer.image_processor(images=image, return_tensors="pt")
    text = explainer.tokenizer(["a cat on the mat"], return_tensors="pt")
    with torch.no_grad():
        logit = explainer.model(**text, **inputs).logits[0, 0].item()
    assert m.params["itm_logit"] == pytest.approx(logit, rel=1e-4, abs=1e-5)


def test_no_hooks_grad_mode_restored_params_frozen(explainer: Any) -> None:
    check_call_is_clean(explainer)


def test_long_text_truncated_not_crash(explainer: Any) -> None:
    check_long_text_truncated(explainer, " ".join(["the cat sits on the mat"] * 20))


def test_last_block_gives_zero_map(vilt_folder: Path) -> None:
    """Why the default is not the last block: there only the [CLS] row reaches the
    ITM head, so the word-token rows have zero gradient."""
    exp = load_explainer("vilt", recipe="vista-0.1", weights=str(vilt_folder), device="cpu", block=-1)
    (m,) = exp.explain(tiny_image(), ["a cat on the mat"])
    assert m.params["block"] == 2
    np.testing.assert_array_equal(m.values, 0.0)


def test_gradcam_matches_manual_computation(explainer: Any) -> None:
    """Recomputed with the model's own forward on a square image (grid 4 x 4):
    attention of block 1 and its gradient for the ITM logit, LAVIS recipe by hand
    (grad clamped at 0, times attention, head mean, mean over the word rows, patch
    columns)."""
    image = tiny_image(32, 32)
    text = "a cat on the mat"
    (got,) = explainer.explain(image, [text])
    model = explainer.model
    inputs = explainer.image_processor(images=image, return_tensors="pt")
    enc = explainer.tokenizer([text], return_tensors="pt")
    store: dict[str, Any] = {}

    def keep(module: Any, args: Any, output: Any) -> None:
        store["probs"] = output[1]
        output[1].retain_grad()

    with torch.enable_grad():
        inputs["pixel_values"].requires_grad_(True)
        torch.manual_seed(7)
        handle = model.vilt.encoder.layer[1].attention.attention.register_forward_hook(keep)
        try:
            out = model(**enc, **inputs, output_attentions=True)
        finally:
            handle.remove()
        out.logits[0, 0].backward()
    # the model's own embedding permutes the patches; recover the order by value of
    # the position: recompute it with the same seed
    torch.manual_seed(7)
    with torch.no_grad():
        _, _, (patch_index, _) = model.vilt.embeddings.visual_embed(
            inputs["pixel_values"], inputs["pixel_mask"], max_image_length=-1
        )
    probs, grad = store["probs"].detach()[0], store["probs"].grad[0]
    n_text = enc["input_ids"].shape[1]
    cam = (probs * grad.clamp(min=0)).mean(dim=0)[1 : n_text - 1, n_text + 1 :].mean(dim=0)
    expected = np.zeros((4, 4), dtype=np.float32)
    idx = patch_index[0].numpy()
    expected[idx[:, 0], idx[:, 1]] = cam.numpy()

    np.testing.assert_allclose(got.values, resize_map(expected, (32, 32)), rtol=1e-4,
                               atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"method": "relevance"}, "does not support vilt", id="method"),
        pytest.param({"block": 5}, "block must be in", id="block-range"),
        pytest.param({"clamp": "relu"}, "clamp must be one of", id="clamp"),
        pytest.param({"layer": 1}, "unknown option", id="unknown"),
    ],
)
def test_load_errors(vilt_folder: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_explainer("vilt", recipe="vista-0.1", weights=str(vilt_folder), device="cpu", **kwargs)


def test_long_text_split_into_pieces(vilt_folder: Path) -> None:
    exp = load_explainer("vilt", recipe="vista-0.1", weights=str(vilt_folder), device="cpu", overflow="split")
    check_long_text_split(exp, " ".join(["the cat sits on the mat"] * 10), "itm_logit")


#: Short texts: the words' maps tend to tile the image (the plan's image marginal is
#: uniform), so the mean over many words of a tiny model is nearly flat.
IPOT_TEXTS = ["two dogs", "a red cat", "the big tree"]


def test_ipot_recipe_matches_demo_port(tmp_path: Path) -> None:
    """``ipot``: ViLT ``demo.py`` with ``objectives.ipot``, as ported in
    ``explain_references`` (each text alone, as the demo runs; the model's own random
    patch order), every word's heatmap with the demo's display normalisation; vista's
    text map is their mean, three texts in one call on a non-square image."""
    from explain_references import (
        assert_close_in_range,
        vilt_demo_token_heatmaps,
        vilt_pixelbert_pixels,
    )

    vilt_folder = _vilt_folder(tmp_path, 96)  # a 12 x 20 patch grid
    image = tiny_image(24, 40, seed=13)
    ex = load_explainer("vilt", recipe="ipot", weights=str(vilt_folder), device="cpu")
    ours = ex.explain(image, IPOT_TEXTS)
    vilt = transformers.ViltModel.from_pretrained(str(vilt_folder)).eval()
    pixels = vilt_pixelbert_pixels(image, 96, divisor=8)
    for text, got in zip(IPOT_TEXTS, ours, strict=True):
        ids = ex.tokenizer([text], return_tensors="pt")["input_ids"]
        heatmaps = vilt_demo_token_heatmaps(vilt, pixels, ids)
        expected = np.mean([resize_map(hm, image.shape[:2]) for hm in heatmaps], axis=0)
        assert_close_in_range(got.values, expected)
        assert got.params["recipe"] == "ipot" and got.params["n_token_maps"] == len(heatmaps)
