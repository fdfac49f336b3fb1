"""``vista.explain.clip.cls_tail``: the last CLIP vision block for the ``[CLS]`` query
only equals transformers' full forward, and the maps made through it equal the maps
made through the whole last block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import clip_folder as build_clip_folder  # noqa: E402
from explain_fixtures import tiny_image  # noqa: E402
from explain_references import assert_close_in_range  # noqa: E402

from vista.explain import load_explainer  # noqa: E402
from vista.explain.cam import gradcam_tokens  # noqa: E402
from vista.explain.clip import cls_tail  # noqa: E402
from vista.explain.hooks import batched_grads, capture_hook, leaf_hook, run_with_hooks  # noqa: E402
from vista.explain.relevance import cls_relevance_map  # noqa: E402

pytestmark = pytest.mark.explain

TEXTS = ["the cat", "a dog on the mat", "red"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip_folder(tmp_path_factory.mktemp("tiny-clip-tail"))


def _whole_block(ex: Any, image: np.ndarray, method: str) -> np.ndarray:
    """Maps through transformers' own last block (every query row), as the general
    path makes them: hooks on ``layer_norm1`` and the attention of the last block."""
    model = ex.model
    pixels, _ = ex._pixels(image)
    enc = ex.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        text = model.get_text_features(**enc).pooler_output
        text = text / text.norm(dim=-1, keepdim=True)
    last = model.vision_model.encoder.layers[-1]
    leaves: list[Any] = []
    attentions: list[Any] = []
    hooks = [(last.layer_norm1, "forward", leaf_hook(leaves))]
    if method == "relevance":
        hooks.append((last.self_attn, "forward", capture_hook(attentions, 1)))
    emb = run_with_hooks(lambda: model.get_image_features(pixel_values=pixels).pooler_output,
                         hooks)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    scores = model.logit_scale.exp() * (text @ emb[0])
    rows = scores.shape[0]
    if method == "gradcam":
        (grad,) = batched_grads(scores, leaves)
        return gradcam_tokens(leaves[0].detach().expand(rows, -1, -1), grad[:, 0], relu=True,
                              grid=ex.grid)
    (grad,) = batched_grads(scores, attentions)
    return cls_relevance_map([attentions[0].detach().expand(rows, -1, -1, -1)], [grad[:, 0]],
                             grid=ex.grid)


@pytest.mark.parametrize("explain", ["gradcam", "relevance"])
def test_tail_embedding_equals_the_full_forward(folder: Path, explain: str) -> None:
    ex = load_explainer("clip", weights=str(folder), device="cpu", recipe="gradcam")
    pixels, _ = ex._pixels(tiny_image(40, 56))
    with torch.no_grad():
        full = ex.model.get_image_features(pixel_values=pixels).pooler_output
    emb, leaves, attentions = cls_tail(ex.model, pixels, explain=explain)
    torch.testing.assert_close(emb.detach(), full, rtol=1e-5, atol=1e-6)
    assert emb.requires_grad
    n_tokens = ex.grid[0] * ex.grid[1] + 1
    if explain == "gradcam":
        assert attentions == [] and leaves[0].shape[1] == n_tokens and leaves[0].requires_grad
    else:
        heads = ex.model.config.vision_config.num_attention_heads
        assert leaves == [] and attentions[0].shape == (1, heads, 1, n_tokens)
        torch.testing.assert_close(attentions[0].detach().sum(-1), torch.ones(1, heads, 1))


@pytest.mark.parametrize(("recipe", "method", "options"), [
    ("gradcam", "gradcam", {}),
    ("chefer", "relevance", {"input_fit": "squash"}),
    ("relevance", "relevance", {"start_block": -1}),
])
def test_tail_maps_equal_the_whole_block(folder: Path, recipe: str, method: str,
                                         options: dict[str, Any]) -> None:
    ex = load_explainer("clip", weights=str(folder), device="cpu", recipe=recipe, **options)
    image = tiny_image(40, 56)
    got, _ = ex._explain_batch(image, TEXTS)
    expected = _whole_block(ex, image, method)
    assert len(got) == len(TEXTS)
    for g, e in zip(got, expected, strict=True):
        assert np.ptp(e) > 0  # the check compares real maps, not zeros
        assert_close_in_range(np.asarray(g), e)


def test_tail_is_used_only_for_the_last_block(folder: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    calls: list[str] = []
    import vista.explain.clip as clip_module

    real = clip_module.cls_tail

    def spy(model: Any, pixels: Any, *, explain: str) -> Any:
        calls.append(explain)
        return real(model, pixels, explain=explain)

    monkeypatch.setattr(clip_module, "cls_tail", spy)
    image = tiny_image(40, 56)
    load_explainer("clip", weights=str(folder), device="cpu", recipe="chefer").explain(
        image, TEXTS[:1])
    load_explainer("clip", weights=str(folder), device="cpu", recipe="relevance").explain(
        image, TEXTS[:1])  # every block: the general path
    load_explainer("clip", weights=str(folder), device="cpu", recipe="gradcam",
                   block=0).explain(image, TEXTS[:1])
    assert calls == ["relevance"]
