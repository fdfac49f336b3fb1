"""Shared explain machinery: inputs, weights resolution, scoped torch settings,
token handling and the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vista.errors import WeightsNotFoundError
from vista.explain import explainer_names, load_explainer
from vista.explain.base import check_options, resolve_block
from vista.explain.registry import explainer_spec
from vista.explain.text import check_texts, combine_pieces
from vista.explain.weights import resolve_weights, weights_and_revision
from vista.imaging import as_rgb_array


def test_as_rgb_array_pil_and_array() -> None:
    from PIL import Image

    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    np.testing.assert_array_equal(as_rgb_array(Image.fromarray(arr)), arr)
    out = as_rgb_array(arr)
    np.testing.assert_array_equal(out, arr)
    grey = Image.fromarray(np.full((2, 2), 7, dtype=np.uint8))
    assert as_rgb_array(grey).shape == (2, 2, 3)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        pytest.param(np.zeros((4, 4), np.uint8), "HxWx3 uint8", id="2d"),
        pytest.param(np.zeros((4, 4, 4), np.uint8), "HxWx3 uint8", id="rgba"),
        pytest.param(np.zeros((4, 4, 3), np.float32), "dtype float32", id="float"),
    ],
)
def test_as_rgb_array_errors(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_rgb_array(image)


@pytest.mark.parametrize(
    ("texts", "error", "message"),
    [
        pytest.param("a cat", TypeError, "got a single str", id="str"),
        pytest.param([], ValueError, "must not be empty", id="empty"),
        pytest.param(["a", "  "], ValueError, r"texts\[1\] must be a non-empty", id="blank"),
        pytest.param(["a", 3], ValueError, r"texts\[1\]", id="not-str"),
    ],
)
def test_check_texts_errors(texts: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        check_texts(texts)


def test_combine_pieces_weighted_mean() -> None:
    maps = np.stack([np.full((2, 2), v) for v in (1.0, 3.0, 5.0)])
    out = combine_pieces(maps, [0, 0, 1], [1, 3, 2], 2)
    np.testing.assert_allclose(out[0], 2.5)  # (1*1 + 3*3) / 4
    np.testing.assert_allclose(out[1], 5.0)
    with pytest.raises(ValueError, match="text 2 has no piece"):
        combine_pieces(maps, [0, 0, 1], [1, 3, 2], 3)


def test_check_options_and_resolve_block() -> None:
    check_options({"block": 1}, ["block", "clamp"], context="x")
    with pytest.raises(ValueError, match=r"unknown option.*'layer'.*allowed: 'block'"):
        check_options({"layer": 1}, ["block"], context="x")
    assert resolve_block("block", -2, 12) == 10
    with pytest.raises(ValueError, match=r"block must be in \[-12, 11\]"):
        resolve_block("block", -13, 12)


def test_offline_and_not_cached_gives_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HF_HUB_OFFLINE=1 and an id that is in no cache: a WeightsNotFoundError that
    names the id and revision and says how to get the weights."""
    pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights("nobody-vista-test/no-such-model", "0123abc")
    msg = str(info.value)
    assert "nobody-vista-test/no-such-model" in msg
    assert "revision 0123abc" in msg
    assert "hf download nobody-vista-test/no-such-model --revision 0123abc" in msg
    assert "--weights DIR" in msg and "weights=DIR" in msg


def test_offline_through_load_explainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the explain extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError, match="not in the Hugging Face cache"):
        load_explainer("blip-itm-base", weights="nobody-vista-test/no-such-blip", device="cpu")


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        pytest.param("./missing/folder", "neither an existing local folder", id="relative"),
        pytest.param("a/b/c", "neither an existing local folder", id="three-parts"),
    ],
)
def test_resolve_weights_not_an_id(weights: str, message: str) -> None:
    with pytest.raises(WeightsNotFoundError, match=message):
        resolve_weights(weights, None)


def test_weights_and_revision_local(tmp_path: Path) -> None:
    model_id, revision, folder = weights_and_revision(str(tmp_path), "org/model", pinned="abc")
    assert (model_id, revision, folder) == (str(tmp_path), None, str(tmp_path))
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("x")
    with pytest.raises(WeightsNotFoundError, match="neither a folder nor a checkpoint"):
        resolve_weights(not_a_model, None)


def test_weights_and_revision_pins_only_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import vista.explain.weights as base

    seen: list[tuple[str, str | None]] = []

    def fake(weights: Any, revision: str | None) -> str:
        seen.append((str(weights), revision))
        return "/cache/x"

    monkeypatch.setattr(base, "resolve_weights", fake)
    assert weights_and_revision(None, "org/model", pinned="abc")[1] == "abc"
    assert weights_and_revision("org/other", "org/model", pinned="abc")[1] is None
    assert weights_and_revision("org/model", "org/model", "def", pinned="abc")[1] == "def"
    assert seen == [("org/model", "abc"), ("org/other", None), ("org/model", "def")]


def test_registry_names_and_errors() -> None:
    names = explainer_names()
    for name in ("clip", "blip-itm-base", "blip-itm-large", "albef", "vilt", "clipseg",
                 "clipseg-rd16"):
        assert name in names
    assert explainer_spec("blip-itm-base").default_method == "gradcam"
    with pytest.raises(ValueError, match="unknown model 'blip'; known models: clip, blip-itm-base"):
        load_explainer("blip")


def test_torch_call_scope_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch", reason="the explain extra is not installed")
    from vista.explain.base import denormals_flushed, torch_call_scope

    before = denormals_flushed()
    with torch.no_grad():
        with torch_call_scope(flush_denormal=True):
            assert torch.is_grad_enabled()
            assert denormals_flushed()
        assert not torch.is_grad_enabled()
    assert denormals_flushed() == before
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"), torch_call_scope(flush_denormal=True):
        raise RuntimeError("boom")
    assert denormals_flushed() == before
    assert torch.get_num_threads() == threads


def test_tokenize_texts_truncate_and_split(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the explain extra is not installed")
    from explain_fixtures import make_bert_tokenizer

    from vista.explain.text import query_token_mask, text_token_mask, tokenize_texts

    tok = make_bert_tokenizer(tmp_path)
    texts = ["a cat sits on the red mat near a dog", "dog"]  # 10 and 1 text tokens
    enc, owners, infos = tokenize_texts(tok, texts, limit=6)
    assert enc["input_ids"].shape == (2, 6)
    assert owners == [0, 1]
    assert infos[0] == {"n_tokens": 10, "token_limit": 6, "overflow": "truncate",
                        "truncated": True, "n_pieces": 1}
    assert infos[1]["truncated"] is False
    mask = text_token_mask(enc)
    assert mask.tolist() == [[0, 1, 1, 1, 1, 0], [0, 1, 0, 0, 0, 0]]
    assert query_token_mask(enc, "cls").tolist() == [[1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]]
    enc, owners, infos = tokenize_texts(tok, texts, limit=6, overflow="split")
    assert owners == [0, 0, 0, 1]
    assert infos[0]["n_pieces"] == 3 and infos[0]["truncated"] is False
    assert text_token_mask(enc).sum(dim=1).tolist() == [4, 4, 2, 1]
    with pytest.raises(ValueError, match="overflow must be one of"):
        tokenize_texts(tok, texts, limit=6, overflow="drop")
