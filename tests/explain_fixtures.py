"""Helpers that build tiny tokenizers, image processors and images for explain tests.

Everything is made in a temporary folder, offline, in well under a second, and is
saved with ``save_pretrained`` so a test loads it through the same path as real
weights (``load_explainer(name, weights=folder)``).

Import from a test module with ``from explain_fixtures import ...`` (pytest puts
``tests/`` on ``sys.path``, rootdir-relative ``rootdir``/``conftest`` style).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BERT_SPECIALS",
    "TINY_WORDS",
    "count_hooks",
    "denormals_flushed",
    "make_bert_tokenizer",
    "make_image_processor",
    "tiny_image",
    "write_wordpiece_vocab",
]

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
