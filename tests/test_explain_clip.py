"""The ``clip`` explainer on a tiny random CLIP saved and loaded like real weights."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import count_hooks, make_image_processor, tiny_image  # noqa: E402

from vista.explain import load_explainer  # noqa: E402

pytestmark = pytest.mark.explain

TOKEN_LIMIT = 16
TEXTS = ["the cat", "a dog on the mat", "red"]


def write_clip_tokenizer(folder: Path) -> Any:
    """A tiny byte-level BPE CLIP tokenizer: letters, letters + ``</w>``, a few merges."""
    chars = [*string.ascii_lowercase, ".", ",", "!", "?"]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>"), ("t", "h"), ("th", "e</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return transformers.CLIPTokenizer.from_pretrained(folder, model_max_length=TOKEN_LIMIT)


def tiny_clip_config(vocab_size: int, cls: Any = None) -> Any:
    cls = cls or transformers.CLIPConfig
    text = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2,
            "max_position_embeddings": TOKEN_LIMIT, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
              "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    return cls(text_config=text, vision_config=vision, projection_dim=16)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-clip")
    tok = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    model = transformers.CLIPModel(tiny_clip_config(len(tok)))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    make_image_processor("clip", size=32).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=["gradcam", "relevance"])
def explainer(request: pytest.FixtureRequest, clip_folder: Path) -> Any:
    return load_explainer("clip", weights=str(clip_folder), device="cpu", method=request.param)


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


def check_deterministic_and_batched(
    explainer: Any, texts: list[str], value_key: str | None = None
) -> None:
    """Same maps twice; each text alone gives its map (and ``params[value_key]``)
    from the batch."""
    image = tiny_image(24, 40)
    batch = explainer.explain(image, texts)
    again = explainer.explain(image, texts)
    for a, b in zip(batch, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
    for text, m in zip(texts, batch, strict=True):
        (single,) = explainer.explain(image, [text])
        np.testing.assert_allclose(single.values, m.values, rtol=1e-4, atol=1e-6)
        if value_key is not None:
            expected = pytest.approx(m.params[value_key], rel=1e-5, abs=1e-6)
            assert single.params[value_key] == expected


def check_call_is_clean(explainer: Any) -> None:
    """No hook left, the caller's grad mode kept, parameters frozen without grads."""
    model = explainer.model
    before = count_hooks(model)
    with torch.no_grad():
        explainer.explain(tiny_image(), ["the cat"])
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert count_hooks(model) == before
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def check_long_text_truncated(explainer: Any, long: str) -> None:
    maps = explainer.explain(tiny_image(), [long, "dog"])
    assert maps[0].params["truncated"] is True
    assert maps[0].params["n_tokens"] > TOKEN_LIMIT
    assert maps[0].params["token_limit"] == TOKEN_LIMIT
    assert maps[1].params["truncated"] is False
    assert np.isfinite(maps[0].values).all()


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
    exp = load_explainer("clip", weights=str(clip_folder), device="cpu")
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
    from vista.explain.base import resize_to_image

    np.testing.assert_allclose(got.values, resize_to_image(cam, (32, 32)), rtol=1e-4, atol=1e-7)
    assert got.params["similarity"] == pytest.approx(float(out.logits_per_image[0, 0].detach()), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"method": "rollout"}, "method must be one of", id="method"),
        pytest.param({"block": 3}, "block must be in", id="block-range"),
        pytest.param({"start_block": 0}, "unknown option", id="option-for-other-method"),
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
        load_explainer("clip", device="cpu")


def test_long_text_split_into_pieces(clip_folder: Path) -> None:
    exp = load_explainer("clip", weights=str(clip_folder), device="cpu", overflow="split")
    long = " ".join(["the cat"] * 40)
    maps = exp.explain(tiny_image(), [long, "dog"])
    assert maps[0].params["n_pieces"] > 1 and maps[0].params["truncated"] is False
    assert isinstance(maps[0].params["similarity"], list)
    assert maps[1].params["n_pieces"] == 1
    assert np.isfinite(maps[0].values).all()
