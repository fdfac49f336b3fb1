"""ALBEF explainer: a tiny ALBEF saved as a checkpoint with ALBEF's own key names,
loaded through ``load_explainer("albef", recipe="vista-0.1", weights=path)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
pytest.importorskip("transformers", reason="the explain extra (transformers) is not installed")

import torch
from explain_fixtures import count_hooks, denormals_flushed, make_bert_tokenizer, tiny_image

from vista.errors import WeightsNotFoundError
from vista.explain import load_explainer
from vista.explain.albef import albef_state_dict, build_albef, infer_config
from vista.imaging import resize_map

pytestmark = pytest.mark.explain

TEXTS = ["a cat sits on the mat", "the red dog", "a man standing near a big tree"]

# Key names copied from ALBEF's models/vit.py and models/xbert.py (pre-training
# checkpoint layout: BERT inside BertForMaskedLM, hence "text_encoder.bert.").
ALBEF_KEYS = (
    "visual_encoder.cls_token",
    "visual_encoder.pos_embed",
    "visual_encoder.patch_embed.proj.weight",
    "visual_encoder.blocks.0.norm1.weight",
    "visual_encoder.blocks.0.attn.qkv.weight",
    "visual_encoder.blocks.0.attn.proj.bias",
    "visual_encoder.blocks.1.mlp.fc2.weight",
    "visual_encoder.norm.bias",
    "text_encoder.bert.embeddings.word_embeddings.weight",
    "text_encoder.bert.embeddings.token_type_embeddings.weight",
    "text_encoder.bert.embeddings.LayerNorm.weight",
    "text_encoder.bert.encoder.layer.0.attention.self.query.weight",
    "text_encoder.bert.encoder.layer.0.attention.output.LayerNorm.bias",
    "text_encoder.bert.encoder.layer.6.crossattention.self.key.weight",
    "text_encoder.bert.encoder.layer.6.crossattention.output.dense.weight",
    "text_encoder.bert.encoder.layer.9.intermediate.dense.weight",
    "text_encoder.bert.encoder.layer.9.output.LayerNorm.weight",
    "itm_head.weight",
)

TINY = {
    "vision_width": 24, "vision_depth": 2, "vision_mlp": 48, "patch_size": 8,
    "image_size": 32, "text_width": 16, "vocab_size": 0, "text_layers": 10,
    "fusion_layer": 6, "text_mlp": 32, "max_positions": 64, "type_vocab": 2,
    "encoder_width": 24,
}


def _checkpoint(folder: Path) -> Path:
    """A tiny ALBEF (10 text layers fused from 6, so blocks 8-9 exist; 32 px input,
    8 px patches) saved like ALBEF's Pretrain.py does: {"model": state_dict, ...},
    with the momentum copies, queues and MLM head that the loader must skip."""
    tok = make_bert_tokenizer(folder)
    tok.save_pretrained(folder)
    (folder / "config_bert.json").write_text('{"num_attention_heads": 2, "fusion_layer": 6}')
    cfg = {**TINY, "vocab_size": len(tok)}
    torch.manual_seed(0)
    model = build_albef(cfg, text_heads=2, vision_heads=3)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2) if p.ndim > 1 else p.normal_(0.0, 0.02)
    sd: dict[str, Any] = {}
    for k, v in model.state_dict().items():
        if k.startswith("text_encoder."):
            k = "text_encoder.bert." + k[len("text_encoder."):]
        sd[k] = v.clone()
        if k.startswith(("visual_encoder.", "text_encoder.")):
            head, rest = k.split(".", 1)
            sd[f"{head}_m.{rest}"] = v.clone() * 0  # momentum copy: must be ignored
    sd["text_encoder.cls.predictions.bias"] = torch.zeros(len(tok))
    sd["text_encoder.bert.embeddings.position_ids"] = torch.arange(64)[None]
    sd["image_queue"] = torch.zeros(4, 8)
    sd["queue_ptr"] = torch.zeros(1, dtype=torch.long)
    sd["temp"] = torch.tensor(0.07)
    sd["vision_proj.weight"] = torch.zeros(8, 24)
    path = folder / "albef_tiny.pth"
    torch.save({"model": sd, "epoch": 3, "config": {"image_res": 32}}, path)
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("albef"))


@pytest.fixture(scope="module")
def explainer(ckpt: Path) -> Any:
    return load_explainer("albef", recipe="vista-0.1", weights=str(ckpt), device="cpu", vision_heads=3)


def test_checkpoint_uses_albef_key_names(ckpt: Path) -> None:
    sd = torch.load(ckpt, weights_only=True)["model"]
    missing = [k for k in ALBEF_KEYS if k not in sd]
    assert missing == []
    mapped = albef_state_dict({"model": sd})
    assert "text_encoder.encoder.layer.6.crossattention.self.query.weight" in mapped
    assert not any(k.startswith(("visual_encoder_m", "text_encoder_m", "image_queue"))
                   for k in mapped)
    cfg = infer_config(mapped)
    assert cfg["fusion_layer"] == 6
    assert cfg["image_size"] == 32
    assert cfg["text_layers"] == 10


def test_maps_finite_shape_deterministic(explainer: Any) -> None:
    img = tiny_image(24, 32)
    maps = explainer.explain(img, TEXTS)
    assert len(maps) == 3
    for m in maps:
        assert m.shape == (24, 32)
        assert np.isfinite(m.values).all()
        assert m.values.min() >= 0.0
        assert m.values.max() > 0.0
        assert m.model == "albef"
        assert m.params["block"] == 8
        assert m.params["grid"] == [4, 4]
        assert m.params["sep_token"] == "none"  # ALBEF's own tokenizer: no [SEP]
    again = explainer.explain(img, TEXTS)
    for a, b in zip(maps, again, strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_batched_equals_unbatched(explainer: Any) -> None:
    img = tiny_image(16, 16, seed=2)
    together = explainer.explain(img, TEXTS)
    for text, batched in zip(TEXTS, together, strict=True):
        alone = explainer.explain(img, [text])[0]
        np.testing.assert_allclose(alone.values, batched.values, rtol=1e-4, atol=1e-8)


def test_no_hooks_frozen_and_scoped(explainer: Any) -> None:
    model = explainer.model
    before = denormals_flushed()
    with torch.no_grad():
        explainer.explain(tiny_image(), ["a dog"])
        assert not torch.is_grad_enabled()
    assert denormals_flushed() == before
    assert count_hooks(model) == 0
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def _notebook_ids(explainer: Any, text: str, sep_token: str) -> dict[str, Any]:
    """The notebook's ``tokenizer(text)``: ALBEF's own BertTokenizer writes
    ``[CLS] text`` with no ``[SEP]`` (models/tokenization_bert.py,
    ``build_inputs_with_special_tokens``; the maintainers confirm it in
    salesforce/ALBEF issues #75 and #91); transformers' writes ``[CLS] text [SEP]``."""
    t = explainer.tokenizer([text], return_tensors="pt")
    if sep_token == "none":
        assert int(t["input_ids"][0, -1]) == explainer.tokenizer.sep_token_id
        t = {k: v[:, :-1] for k, v in t.items()}
    return t


@pytest.mark.parametrize("sep_token", ["none", "sep"])
def test_matches_visualisation_recipe(ckpt: Path, sep_token: str) -> None:
    """ALBEF's visualization.ipynb, written out: trainable model, one pair, the
    attention saved by a hook and its gradient by ``register_hook``,
    ``loss = output[:, 1].sum(); loss.backward()``, then mask, grads.clamp(0),
    cams * grads, mean over heads; then the mean over the text tokens (all tokens
    after ``[CLS]``, and before ``[SEP]`` where there is one)."""
    explainer = load_explainer("albef", recipe="vista-0.1", weights=str(ckpt), device="cpu", vision_heads=3,
                               sep_token=sep_token)
    assert explainer.options["sep_token"] == sep_token
    model = explainer.model
    trainable = build_albef(infer_config(albef_state_dict(torch.load(ckpt, weights_only=True))),
                            text_heads=2, vision_heads=3)
    trainable.load_state_dict(model.state_dict())
    trainable.eval()
    img = tiny_image(32, 32, seed=4)
    pixels = explainer._pixels(img)
    ours = explainer.explain(img, TEXTS)
    for text, got in zip(TEXTS, ours, strict=True):
        t = _notebook_ids(explainer, text, sep_token)
        saved: dict[str, Any] = {}

        def hook(module: Any, args: Any, output: Any, saved: dict[str, Any] = saved) -> None:
            saved["attn"] = output[1]
            output[1].register_hook(lambda g: saved.__setitem__("grad", g))

        attn_mod = trainable.text_encoder.encoder.layer[8].crossattention.self
        handle = attn_mod.register_forward_hook(hook)
        try:
            image_embeds = trainable.visual_encoder(pixels)
            hidden = trainable.text_encoder(t["input_ids"], t["attention_mask"], image_embeds)
            loss = trainable.itm_head(hidden[:, 0, :])[:, 1].sum()
            trainable.zero_grad()
            loss.backward()
        finally:
            handle.remove()
        mask = t["attention_mask"].view(1, 1, -1, 1, 1)
        n = int(t["attention_mask"].sum()) - (1 if sep_token == "none" else 2)
        assert got.params["itm_logit"] == pytest.approx(float(loss.detach()), rel=1e-4, abs=1e-6)
        cams = saved["attn"].detach()[:, :, :, 1:].reshape(1, 2, -1, 4, 4) * mask
        grads = saved["grad"][:, :, :, 1:].clamp(0).reshape(1, 2, -1, 4, 4) * mask
        gradcam = (cams * grads)[0].mean(0)
        expected = (gradcam[1 : n + 1].sum(0) / n).numpy()
        np.testing.assert_allclose(got.values, resize_map(expected, (32, 32)),
                                   rtol=1e-4, atol=1e-9)


def test_rows_without_sep_hold_token_limit_tokens(ckpt: Path) -> None:
    """sep_token="none": each row is [CLS] + up to token_limit - 1 text tokens, no
    [SEP], padded; "sep" keeps transformers' [CLS] ... [SEP]."""
    long, short = "a red dog sits on the mat near a big tree", "dog"
    for sep_token, ids, mask in [
        ("none", [[2, 5, 28, 19, 37, 9], [2, 19, 0, 0, 0, 0]],
         [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]]),
        ("sep", [[2, 5, 28, 19, 37, 3], [2, 19, 3, 0, 0, 0]],
         [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]),
    ]:
        ex = load_explainer("albef", recipe="vista-0.1", weights=str(ckpt), device="cpu", vision_heads=3,
                            token_limit=6, sep_token=sep_token)
        enc, _, infos = ex._tokenize([long, short])
        assert enc["input_ids"].tolist() == ids  # [CLS]=2, [SEP]=3, [PAD]=0
        assert enc["attention_mask"].tolist() == mask
        assert [i["truncated"] for i in infos] == [True, False]
        assert infos[0]["token_limit"] == 6


def test_text_layers_match_transformers_bert(ckpt: Path, explainer: Any) -> None:
    """The text-only layers (below the fusion layer) are plain BERT: the output of
    layer 0 equals transformers' BertModel with the same weights."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=explainer.tokenizer.vocab_size + 0, hidden_size=16,
                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     max_position_embeddings=64, hidden_act="gelu")
    bert = BertModel(cfg, add_pooling_layer=False).eval()
    sd = {k[len("text_encoder."):]: v for k, v in explainer.model.state_dict().items()
          if k.startswith(("text_encoder.embeddings", "text_encoder.encoder.layer.0."))}
    missing, _ = bert.load_state_dict(sd, strict=False)
    assert [k for k in missing if "position_ids" not in k and "token_type_ids" not in k] == []
    ids = explainer.tokenizer(["a cat sits", "dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = bert(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
        te = explainer.model.text_encoder
        mask = (1.0 - ids["attention_mask"][:, None, None, :].float()) * -10000.0
        ours = te.encoder.layer[0](te.embeddings(ids["input_ids"]), mask, None)
    keep = ids["attention_mask"].bool()
    np.testing.assert_allclose(ours[keep].numpy(), ref.last_hidden_state[keep].numpy(),
                               rtol=1e-4, atol=1e-5)


def test_long_text_and_folder_weights(ckpt: Path) -> None:
    ex = load_explainer("albef", recipe="vista-0.1", weights=str(ckpt.parent), device="cpu", vision_heads=3,
                        token_limit=6, overflow="split")
    long = "a red dog sits on the mat near a big tree"
    m = ex.explain(tiny_image(), [long])[0]
    assert m.params["n_pieces"] == 3
    assert np.isfinite(m.values).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"block": 2}, ValueError, "must be a fusion layer", id="not-fusion"),
        pytest.param({"vision_heads": 5}, ValueError, "must divide the width", id="heads"),
        pytest.param({"depth": 3}, ValueError, "unknown option", id="unknown"),
        pytest.param({"token_reduce": "some"}, ValueError, "token_reduce must be one of", id="tokens"),
        pytest.param({"sep_token": "eos"}, ValueError, "sep_token must be one of", id="sep"),
    ],
)
def test_load_errors(ckpt: Path, kwargs: dict, error: type, message: str) -> None:
    opts = {"vision_heads": 3, **kwargs}
    with pytest.raises(error, match=message):
        load_explainer("albef", recipe="vista-0.1", weights=str(ckpt), device="cpu", **opts)


def test_weights_required_and_checked(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="albef needs weights"):
        load_explainer("albef")
    with pytest.raises(WeightsNotFoundError, match="do not exist"):
        load_explainer("albef", recipe="vista-0.1", weights=str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="exactly one ALBEF checkpoint"):
        load_explainer("albef", recipe="vista-0.1", weights=str(tmp_path))
    bad = tmp_path / "bad.pth"
    torch.save({"model": {"foo": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="not an ALBEF ITM checkpoint"):
        load_explainer("albef", recipe="vista-0.1", weights=str(bad))


@pytest.fixture(scope="module")
def deep_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from explain_fixtures import albef_checkpoint

    return albef_checkpoint(tmp_path_factory.mktemp("albef-deep"))


def _albef_tokens(tok: Any, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """What ALBEF's own tokenizer gives for ``tokenizer(texts, padding='longest')``:
    ``[CLS] text`` rows (no ``[SEP]``; models/tokenization_bert.py), right-padded."""
    rows = [tok(t)["input_ids"][:-1] for t in texts]
    assert all(r[0] == tok.cls_token_id for r in rows)
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    return ids, mask


def _trainable(ckpt: Path) -> Any:
    state = albef_state_dict(torch.load(ckpt, weights_only=True))
    model = build_albef(infer_config(state), text_heads=2, vision_heads=3)
    model.load_state_dict(state)
    return model.eval()


@pytest.mark.parametrize("recipe", ["grounding", "grounding-itc", "notebook"])
def test_recipe_matches_albef_port(deep_ckpt: Path, recipe: str) -> None:
    """Each ALBEF recipe against its file, ported in ``explain_references``, three
    texts in one call on a non-square image.

    ``grounding``: ``Grounding.py`` ITM, ``gradcam.mean(1).mean(1)`` for each text as
    a batch of one (in a padded batch the original divides by the batch's longest
    row, so a text's map would depend on its neighbours; the test also checks that
    this factor is the only difference). ``grounding-itc``: the ITC branch, the
    three texts as one batch. ``notebook``: ``visualization.ipynb``, each word's
    ``gradcam[i + 1]`` through ``getAttMap``, averaged over the words."""
    from explain_references import (
        albef_itc_gradcam,
        albef_itm_gradcam,
        assert_close_in_range,
        bicubic_square_pixels,
        getattmap_ref,
    )

    image = tiny_image(24, 40, seed=9)
    ex = load_explainer("albef", recipe=recipe, weights=str(deep_ckpt), device="cpu",
                        vision_heads=3)
    ours = ex.explain(image, TEXTS)
    model = _trainable(deep_ckpt)
    pixels = bicubic_square_pixels(image, 32)
    if recipe == "grounding-itc":
        ids, mask = _albef_tokens(ex.tokenizer, TEXTS)
        cams = albef_itc_gradcam(model, pixels.repeat(3, 1, 1, 1), ids, mask, 8)
        expected = [resize_map(c.numpy(), image.shape[:2]) for c in cams]
    else:
        expected = []
        for text in TEXTS:
            ids, mask = _albef_tokens(ex.tokenizer, [text])
            gradcam = albef_itm_gradcam(model, pixels, ids, mask, 8)
            if recipe == "grounding":
                expected.append(resize_map(gradcam.mean(1).mean(1)[0].numpy(), image.shape[:2]))
            else:
                per_word = gradcam[0].mean(0)
                maps = [getattmap_ref(image.shape, per_word[i + 1].numpy())
                        for i in range(len(ids[0]) - 1)]
                expected.append(np.mean(maps, axis=0))
    for got, exp in zip(ours, expected, strict=True):
        assert_close_in_range(got.values, exp)
        assert got.params["recipe"] == recipe
    if recipe == "grounding":  # the batch-padding factor, and nothing else
        ids, mask = _albef_tokens(ex.tokenizer, TEXTS)
        batched = albef_itm_gradcam(model, pixels.repeat(3, 1, 1, 1), ids, mask, 8)
        lengths = mask.sum(1)
        for i, got in enumerate(ours):
            raw = batched.mean(1).mean(1)[i].numpy() * ids.shape[1] / float(lengths[i])
            assert_close_in_range(got.values, resize_map(raw, image.shape[:2]))
