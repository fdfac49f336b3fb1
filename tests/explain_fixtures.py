"""Helpers that build tiny tokenizers, image processors, model configs and images for
explain tests, and the checks several explainers' tests share.

Everything is made in a temporary folder, offline, in well under a second, and is
saved with ``save_pretrained`` so a test loads it through the same path as real
weights (``load_explainer(name, weights=folder)``).

Import from a test module with ``from explain_fixtures import ...`` (pytest puts
``tests/`` on ``sys.path``, rootdir-relative ``rootdir``/``conftest`` style).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BERT_SPECIALS",
    "TINY_WORDS",
    "TOKEN_LIMIT",
    "check_call_is_clean",
    "check_deterministic_and_batched",
    "check_long_text_split",
    "check_long_text_truncated",
    "count_hooks",
    "denormals_flushed",
    "make_bert_tokenizer",
    "make_image_processor",
    "save_folder",
    "tiny_clip_config",
    "tiny_image",
    "write_clip_tokenizer",
    "write_wordpiece_vocab",
]

#: Token limit of the tiny CLIP, CLIPSeg and ViLT models (short, so long texts are cheap).
TOKEN_LIMIT = 16

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# A small caption vocabulary: enough that typical test sentences are not all [UNK].
TINY_WORDS = (
    "a", "an", "the", "of", "on", "in", "with", "and", "is", "are", "to", "at", "by",
    "cat", "dog", "man", "woman", "child", "table", "mat", "chair", "car", "tree",
    "red", "blue", "green", "big", "small", "left", "right", "top", "bottom",
    "sits", "sitting", "stands", "standing", "looks", "holding", "near", "next",
    "picture", "photo", "image", "there", "two", "one", "some", "white", "black",
    ".", ",", "!", "?", "##s", "##ing", "##ed", "##er", "##ly",
)


def write_wordpiece_vocab(
    folder: str | Path,
    words: Iterable[str] = TINY_WORDS,
    *,
    specials: Sequence[str] = BERT_SPECIALS,
) -> Path:
    """Write ``vocab.txt`` (one token a line, specials first) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = list(dict.fromkeys([*specials, *words]))
    path = folder / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def make_bert_tokenizer(
    folder: str | Path,
    *,
    words: Iterable[str] = TINY_WORDS,
    model_max_length: int = 512,
    extra_special_tokens: Sequence[str] = (),
    bos_token: str | None = None,
) -> Any:
    """A tiny BERT WordPiece tokenizer (transformers ``BertTokenizer``).

    Parameters
    ----------
    folder : path
        Where ``vocab.txt`` is written (the tokenizer is not saved; save it, or the
        processor that holds it, with ``save_pretrained``).
    words : iterable of str
        Vocabulary after the five BERT specials (ids 0-4: PAD, UNK, CLS, SEP, MASK).
    model_max_length : int
        The tokenizer's token limit.
    extra_special_tokens : sequence of str
        Added as ``additional_special_tokens`` after the vocabulary (BLIP: ``["[ENC]"]``).
    bos_token : str, optional
        Added as the bos token (BLIP: ``"[DEC]"``).

    Returns
    -------
    transformers.BertTokenizer
        ``len(tokenizer)`` is the vocabulary size a tiny model config needs.
    """
    from transformers import BertTokenizer

    path = write_wordpiece_vocab(folder, words)
    tokens = path.read_text(encoding="utf-8").splitlines()
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = BertTokenizer(vocab=vocab, model_max_length=model_max_length)
    special: dict[str, Any] = {}
    if bos_token is not None:
        special["bos_token"] = bos_token
    if extra_special_tokens:
        special["additional_special_tokens"] = list(extra_special_tokens)
    if special:
        tok.add_special_tokens(special)
    return tok


def make_image_processor(
    kind: str = "blip",
    *,
    size: int | tuple[int, int] = 32,
    mean: Sequence[float] = (0.48145466, 0.4578275, 0.40821073),
    std: Sequence[float] = (0.26862954, 0.26130258, 0.27577711),
) -> Any:
    """A tiny image processor resizing to ``size`` (square int or (height, width)).

    ``kind`` is ``"blip"`` (``BlipImageProcessor``: plain resize to height × width)
    or ``"clip"`` (``CLIPImageProcessor``: shortest edge then centre crop) or
    ``"vilt"`` (``ViltImageProcessor``). The PIL backends are used so torchvision is
    not needed. Defaults are the CLIP/BLIP normalisation constants.
    """
    import transformers

    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    common: dict[str, Any] = {"image_mean": list(mean), "image_std": list(std), "do_rescale": True,
              "do_normalize": True}
    if kind == "blip":
        cls = getattr(transformers, "BlipImageProcessorPil", None) or transformers.BlipImageProcessor
        return cls(size={"height": h, "width": w}, do_resize=True, **common)
    if kind == "clip":
        cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
        return cls(size={"shortest_edge": min(h, w)}, crop_size={"height": h, "width": w},
                   do_center_crop=True, **common)
    if kind == "vilt":
        cls = getattr(transformers, "ViltImageProcessorPil", None) or transformers.ViltImageProcessor
        return cls(size={"shortest_edge": min(h, w)}, **{**common, "size_divisor": 8})
    raise ValueError(f"kind must be one of 'blip', 'clip', 'vilt'; got {kind!r}")


def tiny_image(height: int = 24, width: int = 32, *, seed: int = 0) -> np.ndarray:
    """A random H×W×3 uint8 image (not square by default, to catch axis swaps)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def count_hooks(model: Any) -> int:
    """Number of hooks on every submodule of ``model`` (forward, pre-forward, backward),
    tensor hooks on its parameters and torch's global module hooks; compare before
    and after a call."""
    n = 0
    for module in model.modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
        ):
            n += len(getattr(module, attr, {}) or {})
    for p in model.parameters():
        n += len(getattr(p, "_backward_hooks", None) or {})
    from torch.nn.modules import module as torch_module

    for name in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks"):
        n += len(getattr(torch_module, name, {}) or {})
    return n


def denormals_flushed() -> bool:
    """Whether torch currently flushes denormal floats (probed by arithmetic)."""
    import torch

    probe = torch.tensor([1e-40], dtype=torch.float32)
    return bool((probe * 1.0).item() == 0.0)


def write_clip_tokenizer(folder: Path) -> Any:
    """A tiny byte-level BPE CLIP tokenizer: letters, letters + ``</w>``, a few merges."""
    import transformers

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
    """A tiny CLIP config (``cls``: ``CLIPConfig`` by default, or ``CLIPSegConfig``):
    2 text blocks, 3 vision blocks, 32 px input, 8 px patches (a 4x4 grid)."""
    import transformers

    cls = cls or transformers.CLIPConfig
    text = {"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2,
            "max_position_embeddings": TOKEN_LIMIT, "bos_token_id": 0, "eos_token_id": 1,
            "pad_token_id": 1}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
              "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    return cls(text_config=text, vision_config=vision, projection_dim=16)


def save_folder(folder: Path, model: Any, tokenizer: Any, image_processor: Any) -> Path:
    """Save a tiny model, its tokenizer and image processor to ``folder`` (the Hugging
    Face layout ``load_explainer(name, weights=folder)`` reads) and return it."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    return folder


def check_deterministic_and_batched(
    explainer: Any, texts: list[str], value_key: str | None = None
) -> None:
    """Same maps twice; each text alone gives its map (and ``params[value_key]``)
    from the batch."""
    import pytest

    image = tiny_image(24, 40)
    batch = explainer.explain(image, texts)
    # all-zero maps would make the comparisons below pass whatever the batching does
    assert all(np.abs(m.values).max() > 0 for m in batch)
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
    import torch

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
    """``long`` (over :data:`TOKEN_LIMIT` tokens) is truncated and still explained;
    a short text beside it is not."""
    maps = explainer.explain(tiny_image(), [long, "dog"])
    assert maps[0].params["truncated"] is True
    assert maps[0].params["n_tokens"] > TOKEN_LIMIT
    assert maps[0].params["token_limit"] == TOKEN_LIMIT
    assert maps[1].params["truncated"] is False
    assert np.isfinite(maps[0].values).all()


def check_long_text_split(explainer: Any, long: str, score_key: str) -> None:
    """With ``overflow="split"``, ``long`` is explained in several pieces (one score
    per piece under ``score_key``); a short text beside it is one piece."""
    maps = explainer.explain(tiny_image(), [long, "dog"])
    assert maps[0].params["n_pieces"] > 1 and maps[0].params["truncated"] is False
    assert isinstance(maps[0].params[score_key], list)
    assert maps[1].params["n_pieces"] == 1
    assert np.isfinite(maps[0].values).all()


def blip_folder(folder: Path) -> Path:
    """A tiny random BLIP-ITM (10 text layers so block 7 has layers above it; 32 px
    input, 8 px patches: a 4x4 grid) with a tokenizer that knows [DEC] and [ENC]."""
    import torch
    from transformers import BlipConfig, BlipForImageTextRetrieval, BlipProcessor

    tok = make_bert_tokenizer(folder, extra_special_tokens=["[ENC]"], bos_token="[DEC]")
    cfg = BlipConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 10,
            "num_attention_heads": 2,
            "max_position_embeddings": 64,
            "bos_token_id": tok.bos_token_id,
            "sep_token_id": tok.sep_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        vision_config={
            "hidden_size": 24,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
            "initializer_range": 0.02,
        },
        image_text_hidden_size=16,
    )
    torch.manual_seed(0)
    BlipForImageTextRetrieval(cfg).save_pretrained(folder)
    BlipProcessor(image_processor=make_image_processor("blip", size=32), tokenizer=tok) \
        .save_pretrained(folder)
    return folder


#: A tiny ALBEF: 10 text layers fused from 6 and 10 vision blocks (so block 8 exists in
#: both), 32 px input, 8 px patches (a 4x4 grid), ITC width 8.
TINY_ALBEF = {
    "vision_width": 24, "vision_depth": 10, "vision_mlp": 48, "patch_size": 8,
    "image_size": 32, "text_width": 16, "vocab_size": 0, "text_layers": 10,
    "fusion_layer": 6, "text_mlp": 32, "max_positions": 64, "type_vocab": 2,
    "encoder_width": 24, "embed_dim": 8,
}


def albef_checkpoint(folder: Path, **sizes: int) -> Path:
    """A tiny random ALBEF with its ITC projections, saved as ALBEF's scripts save
    theirs (``{"model": state_dict}``, BERT inside ``text_encoder.bert.``), with the
    tokenizer files and ``config_bert.json`` (2 text heads) beside it. Vision heads:
    3 (pass ``vision_heads=3`` to the loader)."""
    import torch

    from vista.explain.albef_model import build_albef

    tok = make_bert_tokenizer(folder)
    tok.save_pretrained(folder)
    (folder / "config_bert.json").write_text('{"num_attention_heads": 2, "fusion_layer": 6}')
    cfg = {**TINY_ALBEF, "vocab_size": len(tok), **sizes}
    torch.manual_seed(0)
    model = build_albef(cfg, text_heads=2, vision_heads=3)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2) if p.ndim > 1 else p.normal_(0.0, 0.02)
        model.temp.fill_(0.07)
    sd = {("text_encoder.bert." + k[len("text_encoder."):] if k.startswith("text_encoder.")
           else k): v.clone() for k, v in model.state_dict().items()}
    path = folder / "albef_tiny.pth"
    torch.save({"model": sd}, path)
    return path


def clip_folder(folder: Path) -> Path:
    """A tiny random CLIP (3 vision blocks, 32 px input, 8 px patches) with its
    tokenizer and a CLIP image processor."""
    import torch
    import transformers

    tok = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    model = transformers.CLIPModel(tiny_clip_config(len(tok)))
    return save_folder(folder, model, tok, make_image_processor("clip", size=32))


def vilt_folder(folder: Path, shorter: int = 32, init: float = 0.02) -> Path:
    """A tiny random ViLT retrieval model (3 blocks, weights drawn with standard
    deviation ``init``); its processor resizes the shorter side to ``shorter`` (sides
    a multiple of 8), mean = std = 0.5 as ViLT's."""
    import torch
    import transformers

    tok = make_bert_tokenizer(folder, model_max_length=TOKEN_LIMIT)
    config = transformers.ViltConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, image_size=32, patch_size=8, max_position_embeddings=TOKEN_LIMIT,
        initializer_range=init,
    )
    torch.manual_seed(0)
    model = transformers.ViltForImageAndTextRetrieval(config)
    processor = make_image_processor("vilt", size=shorter, mean=(0.5,) * 3, std=(0.5,) * 3)
    return save_folder(folder, model, tok, processor)


def clipseg_folder(folder: Path, *, refined: bool) -> Path:
    """A tiny random CLIPSeg (``refined``: the rd64-refined decoder's transposed
    convolution), 32 px input."""
    import torch
    import transformers

    tok = write_clip_tokenizer(folder)
    config = tiny_clip_config(len(tok), transformers.CLIPSegConfig)
    config.extract_layers = [0, 1, 2]
    config.reduce_dim = 16
    config.decoder_num_attention_heads = 2
    config.decoder_intermediate_size = 32
    config.conditional_layer = 0
    config.use_complex_transposed_convolution = refined
    torch.manual_seed(0)
    model = transformers.CLIPSegForImageSegmentation(config)
    cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
    processor = cls(size={"height": 32, "width": 32}, image_mean=[0.48, 0.46, 0.41],
                    image_std=[0.27, 0.26, 0.28])
    return save_folder(folder, model, tok, processor)
