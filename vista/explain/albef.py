"""ALBEF (Li et al., NeurIPS 2021): Grad-CAM on the fusion encoder's cross-attention
for the ITM "match" logit, the recipe of ALBEF's ``visualization.ipynb`` and of BLIP.

ALBEF is not in transformers, so its ITM path is rebuilt here from torch modules
whose parameter names follow ALBEF's own files (``models/vit.py``, ``models/xbert.py``):

- ``visual_encoder``: ViT-B/16 (timm layout: ``patch_embed.proj``, ``cls_token``,
  ``pos_embed``, ``blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``,
  ``norm``; LayerNorm eps 1e-6, qkv with bias, exact GELU).
- ``text_encoder``: BERT (``embeddings.word_embeddings/position_embeddings/
  token_type_embeddings/LayerNorm``, ``encoder.layer.{i}.attention.self.query/key/
  value``, ``attention.output.dense/LayerNorm``, ``intermediate.dense``,
  ``output.dense/LayerNorm``; LayerNorm eps 1e-12). Layers from ``fusion_layer`` (6
  in ALBEF) also have ``crossattention.self.query/key/value`` and
  ``crossattention.output.dense/LayerNorm`` over the image tokens.
- ``itm_head``: ``Linear(768, 2)`` on the ``[CLS]`` output of the fusion layers.

Text input: ALBEF's own BERT tokenizer (``models/tokenization_bert.py``) writes a
single text as ``[CLS] text`` without the final ``[SEP]``; ALBEF was pre-trained and
fine-tuned that way, and its ``visualization.ipynb`` explains such rows. The default
``sep_token="none"`` does the same with transformers' tokenizer (the ``[SEP]`` it
appends becomes masked padding); ``sep_token="sep"`` keeps it, as LAVIS's ALBEF port
does.

Checkpoint key mapping (:func:`albef_state_dict`): the state dict is ``ckpt["model"]``
(or ``ckpt["state_dict"]``, or the file itself); a ``module.`` prefix is dropped;
``text_encoder.bert.`` becomes ``text_encoder.`` (pre-training checkpoints wrap BERT
in ``BertForMaskedLM``; ALBEF's fine-tuning scripts strip ``bert.`` the same way); everything
else keeps its name. Ignored: the momentum copies (``*_m.``), ``vision_proj``,
``text_proj``, the queues, ``temp``, the MLM head ``text_encoder.cls.`` and
``position_ids``. A missing key is an error that names it.

The architecture sizes are read from the checkpoint's shapes (width, depth, patch
size, input size from ``pos_embed``, fusion layer from the first layer with
``crossattention``); the head counts, which shapes do not give, default to
width / 64 (12 for ALBEF) and can be set with ``text_heads`` / ``vision_heads`` or a
``config_bert.json`` next to the checkpoint (ALBEF's own config file).

This module imports torch at its top; it is imported only when the ``albef``
explainer is loaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int, check_option, require
from ..errors import WeightsNotFoundError
from .base import (
    OVERFLOW_CHOICES,
    TOKENS_CHOICES,
    FusionGradCamExplainer,
    check_options,
    pick_device,
    resolve_block,
    resolve_weights,
    tokenize_texts,
)
from .cam import CLAMP_CHOICES, HEAD_REDUCE_CHOICES
from .registry import register

__all__ = [
    "DEFAULT_BLOCK",
    "DEFAULT_TOKEN_LIMIT",
    "AlbefExplainer",
    "AlbefITM",
    "albef_state_dict",
    "build_albef",
    "clean_caption",
    "load_albef",
]

#: The block of ALBEF's visualisation (``encoder.layer[8].crossattention.self``).
DEFAULT_BLOCK = 8
#: ALBEF cuts captions at 30 words (``pre_caption(max_words=30)``); 40 tokens hold
#: that plus ``[CLS]``/``[SEP]`` for typical English.
DEFAULT_TOKEN_LIMIT = 40
#: ALBEF's image normalisation (the CLIP constants), after a bicubic resize.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_TOKENIZER = "google-bert/bert-base-uncased"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin")
#: ``"none"``: ``[CLS] text``, as ALBEF's own tokenizer writes it (its
#: ``models/tokenization_bert.py`` adds no ``[SEP]`` to a single text; pre-training,
#: fine-tuning and ``visualization.ipynb`` all use it). ``"sep"``: ``[CLS] text [SEP]``,
#: as transformers' BertTokenizer (and LAVIS's ALBEF port) writes it.
SEP_TOKEN_CHOICES = ("none", "sep")
OPTIONS = (
    "block",
    "token_limit",
    "overflow",
    "clean_text",
    "tokens",
    "clamp",
    "head_reduce",
    "flush_denormal",
    "sep_token",
    "tokenizer",
    "text_heads",
    "vision_heads",
    "trust_checkpoint",
)
_IGNORED = re.compile(
    r"^(visual_encoder_m\.|text_encoder_m\.|vision_proj|text_proj|image_queue|text_queue|"
    r"idx_queue|queue_ptr|temp$|text_encoder\.cls\.|text_encoder\.pooler\.|.*position_ids$)"
)
_PUNCT = re.compile(r"([,.'!?\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")


def clean_caption(text: str) -> str:
    """ALBEF's ``pre_caption`` without the word cap: lower case, ``,.'!?"()*#:;~``
    removed, ``-`` and ``/`` to spaces, whitespace runs to one space, stripped.

    Examples
    --------
    >>> clean_caption("A dog's ball, on the sea-side!")
    'a dogs ball on the sea side'
    """
    out = _PUNCT.sub("", text.lower()).replace("-", " ").replace("/", " ")
    return _SPACES.sub(" ", out).strip()


def albef_state_dict(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """ALBEF checkpoint contents → the state dict of :func:`build_albef`'s model.

    See the module docstring for the mapping.

    Examples
    --------
    >>> sd = albef_state_dict({"model": {
    ...     "module.text_encoder.bert.encoder.layer.6.crossattention.self.query.weight": 1,
    ...     "visual_encoder.blocks.0.attn.qkv.weight": 2,
    ...     "visual_encoder_m.blocks.0.attn.qkv.weight": 3, "image_queue": 4}})
    >>> sorted(sd)
    ['text_encoder.encoder.layer.6.crossattention.self.query.weight', 'visual_encoder.blocks.0.attn.qkv.weight']
    """
    state: Mapping[str, Any] = checkpoint
    for key in ("model", "state_dict"):
        if key in state and isinstance(state[key], Mapping):
            state = state[key]
            break
    out: dict[str, Any] = {}
    for name, value in state.items():
        if name.startswith("module."):
            name = name[len("module."):]
        if name.startswith("text_encoder.bert."):
            name = "text_encoder." + name[len("text_encoder.bert."):]
        if _IGNORED.match(name):
            continue
        if name.startswith(("visual_encoder.", "text_encoder.", "itm_head.")):
            out[name] = value
    return out


def _count(state: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def infer_config(state: Mapping[str, Any]) -> dict[str, int]:
    """Architecture sizes from the shapes in an ALBEF state dict (mapped names)."""
    pos = state["visual_encoder.pos_embed"]
    patch_w = state["visual_encoder.patch_embed.proj.weight"]
    n_patches = int(pos.shape[1]) - 1
    side = math.isqrt(n_patches)
    if side * side != n_patches:
        raise ValueError(f"visual_encoder.pos_embed has {n_patches} patches: not a square grid")
    text_layers = _count(state, r"text_encoder\.encoder\.layer\.(\d+)\.")
    fusion = [
        i for i in range(text_layers)
        if f"text_encoder.encoder.layer.{i}.crossattention.self.query.weight" in state
    ]
    if not fusion:
        raise ValueError("the checkpoint has no text_encoder layer with crossattention")
    word = state["text_encoder.embeddings.word_embeddings.weight"]
    return {
        "vision_width": int(pos.shape[2]),
        "vision_depth": _count(state, r"visual_encoder\.blocks\.(\d+)\."),
        "vision_mlp": int(state["visual_encoder.blocks.0.mlp.fc1.weight"].shape[0]),
        "patch_size": int(patch_w.shape[-1]),
        "image_size": side * int(patch_w.shape[-1]),
        "text_width": int(word.shape[1]),
        "vocab_size": int(word.shape[0]),
        "text_layers": text_layers,
        "fusion_layer": fusion[0],
        "text_mlp": int(state["text_encoder.encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "max_positions": int(state["text_encoder.embeddings.position_embeddings.weight"].shape[0]),
        "type_vocab": int(state["text_encoder.embeddings.token_type_embeddings.weight"].shape[0]),
        "encoder_width": int(
            state[f"text_encoder.encoder.layer.{fusion[0]}.crossattention.self.key.weight"].shape[1]
        ),
    }


# --- the architecture, with ALBEF's parameter names ---------------------------------


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class VitAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class VitBlock(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = VitAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    """ALBEF's ``visual_encoder``: ViT with a CLS token, final LayerNorm, no head."""

    def __init__(self, cfg: Mapping[str, int], heads: int) -> None:
        super().__init__()
        w = cfg["vision_width"]
        n = (cfg["image_size"] // cfg["patch_size"]) ** 2
        self.patch_embed = PatchEmbed(cfg["patch_size"], w)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, w))
        self.blocks = nn.ModuleList(
            VitBlock(w, heads, cfg["vision_mlp"]) for _ in range(cfg["vision_depth"])
        )
        self.norm = nn.LayerNorm(w, eps=1e-6)

    def forward(self, pixels: Tensor) -> Tensor:
        x = self.patch_embed(pixels)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed[:, : x.shape[1], :]
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: Mapping[str, int]) -> None:
        super().__init__()
        w = cfg["text_width"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], w, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg["max_positions"], w)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab"], w)
        self.LayerNorm = nn.LayerNorm(w, eps=1e-12)

    def forward(self, ids: Tensor) -> Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)[None, :]
        x = (
            self.word_embeddings(ids)
            + self.token_type_embeddings(torch.zeros_like(ids))
            + self.position_embeddings(pos)
        )
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    """Returns (context, attention probabilities), as xbert's does. ``context`` may
    have batch 1 against a larger query batch: the matmuls broadcast it."""

    def __init__(self, width: int, heads: int, kv_width: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)

    def _split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(
        self, hidden: Tensor, context: Tensor, mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        q = self._split(self.query(hidden))
        k = self._split(self.key(context))
        v = self._split(self.value(context))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        out = (probs @ v).transpose(1, 2)
        return out.reshape(*out.shape[:2], -1), probs


class BertSelfOutput(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, width: int, heads: int, kv_width: int) -> None:
        super().__init__()
        self.self = BertSelfAttention(width, heads, kv_width)
        self.output = BertSelfOutput(width)

    def forward(
        self, hidden: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        ctx, _ = self.self(hidden, hidden if context is None else context, mask)
        return self.output(ctx, hidden)


class BertIntermediate(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, hidden: int, width: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertLayer(nn.Module):
    """Self-attention, then (fusion layers) cross-attention to the image, then FFN."""

    def __init__(self, cfg: Mapping[str, int], heads: int, fusion: bool) -> None:
        super().__init__()
        w = cfg["text_width"]
        self.attention = BertAttention(w, heads, w)
        self.crossattention = BertAttention(w, heads, cfg["encoder_width"]) if fusion else None
        self.intermediate = BertIntermediate(w, cfg["text_mlp"])
        self.output = BertOutput(cfg["text_mlp"], w)

    def forward(self, hidden: Tensor, mask: Tensor, image: Tensor) -> Tensor:
        x = self.attention(hidden, None, mask)
        if self.crossattention is not None:
            x = self.crossattention(x, image, None)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, cfg: Mapping[str, int], heads: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(cfg, heads, i >= cfg["fusion_layer"]) for i in range(cfg["text_layers"])
        )


class TextEncoder(nn.Module):
    """ALBEF's ``text_encoder`` in ``multi_modal`` mode: BERT whose layers from
    ``fusion_layer`` on cross-attend to the image tokens."""

    def __init__(self, cfg: Mapping[str, int], heads: int) -> None:
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg, heads)

    def forward(self, ids: Tensor, attention_mask: Tensor, image: Tensor) -> Tensor:
        # xbert's extended mask: 0 where attended, -10000 on padding.
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, mask, image)
        return x


class AlbefITM(nn.Module):
    """The parts of ALBEF the ITM score needs: ``visual_encoder``, ``text_encoder``,
    ``itm_head``."""

    def __init__(self, cfg: Mapping[str, int], *, text_heads: int, vision_heads: int) -> None:
        super().__init__()
        self.visual_encoder = VisionTransformer(cfg, vision_heads)
        self.text_encoder = TextEncoder(cfg, text_heads)
        self.itm_head = nn.Linear(cfg["text_width"], 2)


def build_albef(config: Mapping[str, int], *, text_heads: int, vision_heads: int) -> Any:
    """The ALBEF ITM model (random weights) for ``config`` (see :func:`infer_config`)."""
    return AlbefITM(dict(config), text_heads=text_heads, vision_heads=vision_heads)


class AlbefExplainer(FusionGradCamExplainer):
    """Grad-CAM on ALBEF's fusion cross-attention; built by :func:`load_albef`."""

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        model_id: str,
        image_size: int,
        patch_size: int,
        block: int,
        token_limit: int,
        overflow: str,
        clean_text: bool,
        tokens: str,
        clamp: str,
        head_reduce: str,
        flush_denormal: bool,
        tokenizer_id: str,
        device: str,
        sep_token: str = "none",
    ) -> None:
        super().__init__(
            name=name,
            model=model,
            tokenizer=tokenizer,
            model_id=model_id,
            revision=None,
            method="gradcam",
            device=device,
        )
        self.input_size = image_size
        side = image_size // patch_size
        self.grid = (side, side)
        self.block = block
        self.token_limit = token_limit
        self.overflow = overflow
        self.clean_text = clean_text
        self.tokens = tokens
        self.clamp = clamp
        self.head_reduce = head_reduce
        self.flush_denormal = flush_denormal
        self.sep_token = sep_token
        self.options = {
            "block": block,
            "layer": f"text_encoder.encoder.layer[{block}].crossattention.self attention probs",
            "score": "ITM match logit (itm_head output index 1, before softmax)",
            "clean_text": clean_text,
            "sep_token": sep_token,
            "tokens": tokens,
            "clamp": clamp,
            "head_reduce": head_reduce,
            "token_reduce": "mean",
            "input_size": [image_size, image_size],
            "input_fit": "squash (bicubic resize, CLIP mean/std)",
            "grid": list(self.grid),
            "tokenizer": tokenizer_id,
            "flush_denormal": flush_denormal,
        }

    def _pixels(self, image: np.ndarray) -> Tensor:
        from PIL import Image

        size = (self.input_size, self.input_size)
        arr = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
        x = (arr.astype(np.float32) / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(
            STD, np.float32
        )
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)

    def _clean(self, text: str) -> str:
        return clean_caption(text)

    def _tokenize(
        self, texts: list[str]
    ) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
        if self.sep_token == "sep":
            return super()._tokenize(texts)
        # ALBEF's tokenizer writes "[CLS] text": tokenize with room for one more
        # token, then turn each row's final [SEP] into padding (masked, so the row is
        # exactly "[CLS] text"; right padding does not move the other positions).
        enc, owners, infos = tokenize_texts(
            self.tokenizer, texts, limit=self.token_limit + 1, overflow=self.overflow
        )
        ids = enc["input_ids"].clone()
        mask = enc["attention_mask"].clone()
        rows = torch.arange(ids.shape[0])
        last = mask.sum(dim=1) - 1
        if not bool((ids[rows, last] == self.tokenizer.sep_token_id).all()):
            raise RuntimeError("the ALBEF tokenizer did not end every row with [SEP]")
        ids[rows, last] = self.tokenizer.pad_token_id
        mask[rows, last] = 0
        out = {**enc, "input_ids": ids, "attention_mask": mask}
        if not bool(mask[:, -1].any()):  # the column the [SEP]s left is padding only
            out = {k: v[:, :-1] for k, v in out.items()}
        for info in infos:
            info["token_limit"] = self.token_limit
        return out, owners, infos

    def _encode_image(self, pixels: Tensor) -> Tensor:
        return self.model.visual_encoder(pixels)

    def _cross_attention(self) -> tuple[Any, Any]:
        cross = self.model.text_encoder.encoder.layer[self.block].crossattention
        return cross, cross.self

    def _match_logit(
        self, input_ids: Tensor, attention_mask: Tensor, image_embeds: Tensor
    ) -> Tensor:
        hidden = self.model.text_encoder(input_ids, attention_mask, image_embeds)
        return self.model.itm_head(hidden[:, 0, :])[:, 1]


def _find_checkpoint(path: Path) -> tuple[Path, Path]:
    """(checkpoint file, folder to look for tokenizer and config_bert.json in)."""
    if path.is_file():
        return path, path.parent
    found = sorted(p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise WeightsNotFoundError(
            f"weights folder {path} must hold exactly one ALBEF checkpoint "
            f"({'/'.join(CHECKPOINT_SUFFIXES)}); found {names}"
        )
    return found[0], path


def _heads(name: str, value: Any, width: int) -> int:
    if value is None:
        if width % 64:
            raise ValueError(f"{name} must be given for width {width} (not a multiple of 64)")
        return width // 64
    heads = check_int(name, value, minimum=1)
    if width % heads:
        raise ValueError(f"{name} must divide the width {width}; got {heads}")
    return heads


@register("albef")
def load_albef(
    name: str,
    *,
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    **options: Any,
) -> AlbefExplainer:
    """Load the ``albef`` explainer from an original ALBEF checkpoint.

    Parameters
    ----------
    name : {"albef"}
        Registry name.
    weights : str
        An ALBEF checkpoint file (``ALBEF.pth``, ``mscoco.pth``, ``refcoco.pth``, ...)
        or a folder holding exactly one, optionally with the BERT tokenizer files
        and ALBEF's ``config_bert.json``. There is no default: ALBEF's weights are
        not on the Hugging Face hub under an official id.
    device : str, optional
        Torch device; cuda when available.
    method : {"gradcam"}, optional
        The only method.
    **options
        ``block`` (int, default 8): text-encoder layer whose cross-attention is
        explained (a fusion layer). ``token_limit`` (int, default 40),
        ``overflow`` ("truncate"/"split"), ``clean_text`` (bool, default True:
        ALBEF's ``pre_caption``), ``tokens`` ("text"/"cls"), ``clamp``,
        ``head_reduce``, ``flush_denormal``: as for BLIP. ``sep_token`` ("none" or
        "sep", default "none"): "none" feeds ``[CLS] text`` as ALBEF's own tokenizer
        does (it appends no ``[SEP]``; the weights were trained and the authors'
        ``visualization.ipynb`` runs that way); "sep" feeds ``[CLS] text [SEP]`` as
        transformers' BertTokenizer and LAVIS's ALBEF port do. ``tokenizer``: folder or
        Hub id of the BERT tokenizer (default: the checkpoint's folder when it holds
        ``vocab.txt`` or ``tokenizer.json``, else ``google-bert/bert-base-uncased``).
        ``text_heads``, ``vision_heads``: attention heads (default width / 64).
        ``trust_checkpoint`` (bool, default False): unpickle arbitrary objects in
        the file (``torch.load(weights_only=False)``); only for files you trust.

    Returns
    -------
    AlbefExplainer

    Raises
    ------
    WeightsNotFoundError
        No weights given, or the file or folder is not there.
    ValueError
        On an unknown option, a block that is not a fusion layer, or a checkpoint
        without the needed keys.
    """
    transformers = require("transformers", "explain")
    check_option("method", "gradcam" if method is None else method, ("gradcam",))
    check_options(options, OPTIONS, context=name)
    if weights is None:
        raise WeightsNotFoundError(
            "albef needs weights=: an ALBEF checkpoint file (e.g. ALBEF.pth, mscoco.pth or "
            "refcoco.pth, linked from the README of github.com/salesforce/ALBEF) or a folder "
            "holding one; download it on a machine with network and pass its path"
        )
    path = Path(weights).expanduser()
    if not path.exists():
        raise WeightsNotFoundError(f"albef weights {str(path)!r} do not exist")
    ckpt_path, folder = _find_checkpoint(path)
    trust = bool(options.get("trust_checkpoint", False))
    try:
        raw = torch.load(ckpt_path, map_location="cpu", weights_only=not trust)
    except Exception as exc:
        raise ValueError(
            f"could not read ALBEF checkpoint {ckpt_path} ({type(exc).__name__}: {exc}); if "
            "you trust the file, pass trust_checkpoint=True"
        ) from exc
    state = albef_state_dict(raw)
    del raw
    for key in ("visual_encoder.pos_embed", "text_encoder.embeddings.word_embeddings.weight",
                "itm_head.weight"):
        if key not in state:
            raise ValueError(f"{ckpt_path} is not an ALBEF ITM checkpoint: no {key!r}")
    cfg = infer_config(state)
    bert_cfg = folder / "config_bert.json"
    file_cfg = json.loads(bert_cfg.read_text()) if bert_cfg.is_file() else {}
    text_heads = _heads("text_heads", options.get("text_heads",
                        file_cfg.get("num_attention_heads")), cfg["text_width"])
    vision_heads = _heads("vision_heads", options.get("vision_heads"), cfg["vision_width"])
    model = build_albef(cfg, text_heads=text_heads, vision_heads=vision_heads)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{ckpt_path}: the checkpoint does not fit the ALBEF architecture; "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    del state
    dev = pick_device(device)
    model.eval()
    model.requires_grad_(False)
    model.to(dev)
    block = resolve_block("block", options.get("block", DEFAULT_BLOCK), cfg["text_layers"])
    if block < cfg["fusion_layer"]:
        raise ValueError(
            f"block must be a fusion layer (>= {cfg['fusion_layer']}) with cross-attention; "
            f"got {block}"
        )
    token_limit = check_int("token_limit", options.get("token_limit", DEFAULT_TOKEN_LIMIT),
                            minimum=3)
    if token_limit > cfg["max_positions"]:
        raise ValueError(f"token_limit must be <= {cfg['max_positions']}; got {token_limit}")
    tok_src = options.get("tokenizer")
    if tok_src is None:
        has_tok = (folder / "vocab.txt").is_file() or (folder / "tokenizer.json").is_file()
        tok_src = str(folder) if has_tok else DEFAULT_TOKENIZER
    tok_path = Path(str(tok_src)).expanduser()
    tok_folder = str(tok_path) if tok_path.exists() else resolve_weights(str(tok_src), None)
    tokenizer = transformers.BertTokenizer.from_pretrained(tok_folder)
    return AlbefExplainer(
        name=name,
        model=model,
        tokenizer=tokenizer,
        model_id=str(path),
        image_size=cfg["image_size"],
        patch_size=cfg["patch_size"],
        block=block,
        token_limit=token_limit,
        overflow=check_option("overflow", options.get("overflow", "truncate"), OVERFLOW_CHOICES),
        clean_text=bool(options.get("clean_text", True)),
        tokens=check_option("tokens", options.get("tokens", "text"), TOKENS_CHOICES),
        clamp=check_option("clamp", options.get("clamp", "gradient"), CLAMP_CHOICES),
        head_reduce=check_option("head_reduce", options.get("head_reduce", "mean"),
                                 HEAD_REDUCE_CHOICES),
        flush_denormal=bool(options.get("flush_denormal", True)),
        tokenizer_id=str(tok_src),
        device=dev,
        sep_token=check_option("sep_token", options.get("sep_token", "none"), SEP_TOKEN_CHOICES),
    )
