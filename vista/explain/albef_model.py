"""ALBEF's image-text model rebuilt from torch modules whose parameter names follow
ALBEF's own files (``models/vit.py``, ``models/xbert.py``), and the mapping from its
checkpoints. ALBEF is not in transformers.

- ``visual_encoder``: ViT-B/16 (timm layout: ``patch_embed.proj``, ``cls_token``,
  ``pos_embed``, ``blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``,
  ``norm``; LayerNorm eps 1e-6, qkv with bias, exact GELU). Each block's attention
  probabilities pass through an ``nn.Identity`` (``attn.probs``), so a hook can
  read them (ALBEF's ``save_attention``), for the ITC Grad-CAM of ``Grounding.py``.
- ``text_encoder``: BERT (``embeddings.word_embeddings/position_embeddings/
  token_type_embeddings/LayerNorm``, ``encoder.layer.{i}.attention.self.query/key/
  value``, ``attention.output.dense/LayerNorm``, ``intermediate.dense``,
  ``output.dense/LayerNorm``; LayerNorm eps 1e-12). Layers from ``fusion_layer`` (6
  in ALBEF) also have ``crossattention.self.query/key/value`` and
  ``crossattention.output.dense/LayerNorm`` over the image tokens. xbert's
  ``mode="text"`` runs the layers below ``fusion_layer`` only (:meth:`TextEncoder.text_only`).
- ``itm_head``: ``Linear(768, 2)`` on the ``[CLS]`` output of the fusion layers.
- ``vision_proj``, ``text_proj``, ``temp`` (when the checkpoint has them): the ITC
  projections and temperature.

Checkpoint key mapping (:func:`albef_state_dict`): the state dict is ``ckpt["model"]``
(or ``ckpt["state_dict"]``, or the file itself); a ``module.`` prefix is dropped;
``text_encoder.bert.`` becomes ``text_encoder.`` (pre-training checkpoints wrap BERT
in ``BertForMaskedLM``; ALBEF's fine-tuning scripts strip ``bert.`` the same way);
everything else keeps its name. Ignored: the momentum copies (``*_m.``), the queues,
the MLM head ``text_encoder.cls.`` and ``position_ids``. A missing key is an error
that names it.

The architecture sizes are read from the checkpoint's shapes (width, depth, patch
size, input size from ``pos_embed``, fusion layer from the first layer with
``crossattention``, ITC width from ``vision_proj``); the head counts, which shapes do
not give, are passed in.

This module imports torch at its top; it is imported only when ``albef`` is loaded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AlbefITM", "albef_state_dict", "build_albef", "infer_config"]

_IGNORED = re.compile(
    r"^(visual_encoder_m\.|text_encoder_m\.|vision_proj_m|text_proj_m|image_queue|text_queue|"
    r"idx_queue|queue_ptr|text_encoder\.cls\.|text_encoder\.pooler\.|.*position_ids$)"
)


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
        if name.startswith(("visual_encoder.", "text_encoder.", "itm_head.", "vision_proj.",
                            "text_proj.")) or name == "temp":
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
        "embed_dim": int(state["vision_proj.weight"].shape[0]) if "vision_proj.weight" in state
        and "text_proj.weight" in state and "temp" in state else 0,
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
        self.probs = nn.Identity()  # a place to hook the attention probabilities

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = self.probs(((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1))
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

    def text_only(self, ids: Tensor, attention_mask: Tensor) -> Tensor:
        """xbert's ``mode="text"``: the layers below the first fusion layer."""
        mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            if layer.crossattention is not None:
                break
            x = layer(x, mask, x)
        return x


class AlbefITM(nn.Module):
    """The parts of ALBEF the ITM score needs: ``visual_encoder``, ``text_encoder``,
    ``itm_head``."""

    def __init__(self, cfg: Mapping[str, int], *, text_heads: int, vision_heads: int) -> None:
        super().__init__()
        self.visual_encoder = VisionTransformer(cfg, vision_heads)
        self.text_encoder = TextEncoder(cfg, text_heads)
        self.itm_head = nn.Linear(cfg["text_width"], 2)
        embed = cfg.get("embed_dim", 0)
        if embed:  # the ITC projections, when the checkpoint has them
            self.vision_proj = nn.Linear(cfg["vision_width"], embed)
            self.text_proj = nn.Linear(cfg["text_width"], embed)
            self.temp = nn.Parameter(torch.tensor(0.07))

    @property
    def has_itc(self) -> bool:
        """Whether the ITC projections are loaded."""
        return hasattr(self, "vision_proj")


def build_albef(config: Mapping[str, int], *, text_heads: int, vision_heads: int) -> Any:
    """The ALBEF ITM model (random weights) for ``config`` (see :func:`infer_config`)."""
    return AlbefITM(dict(config), text_heads=text_heads, vision_heads=vision_heads)
