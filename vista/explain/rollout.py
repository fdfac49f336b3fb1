"""Attention rollout (Abnar & Zuidema, 2020): how much each patch flows into the
image embedding through the vision encoder's self-attention, with the residual
connection counted as an identity.

For every block, in forward order: the heads are fused (mean, max or min), the
identity is added and the result halved, ``Ã = (A + I) / 2``, each row is scaled
to sum to 1, and the rollout is ``R ← Ã R`` (starting at ``R = I``). The map is the
``[CLS]`` row of ``R`` without the ``[CLS]`` column, divided by its maximum. A
model without ``[CLS]`` that pools with an attention head (SigLIP) reads the
row ``p R``, where ``p`` is the pooling head's attention over the last block's
tokens, averaged over heads.

Rollout uses the attention alone: the map does not depend on the text (the
text's score is still recorded). It is the classic text-agnostic baseline.

References
----------
.. [1] Abnar and Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020.
.. [2] jacobgil/vit-explain ``vit_rollout.py`` ``rollout()``, the reference code
   followed here. Its defaults are ``discard_ratio=0.9`` (the lowest 90 % of each
   fused attention matrix, taken over the whole matrix, set to 0, except element
   (0, 0)) and a division ``a / a.sum(dim=-1)`` that broadcasts over the last
   axis, i.e. divides column ``j`` by the sum of row ``j``
   (``renorm="vit-explain"``). vista's defaults follow the paper: no discard, rows
   summed to 1 (``renorm="rows"``); both reference choices are options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_option, check_range, require
from .cam import to_float64, tokens_to_grid
from .hooks import capture_hook, remove_hooks

__all__ = ["HEAD_FUSION_CHOICES", "RENORM_CHOICES", "attention_rollout", "rollout_map",
           "run_rollout"]

HEAD_FUSION_CHOICES = ("mean", "max", "min")
RENORM_CHOICES = ("rows", "vit-explain")


def attention_rollout(
    attentions: Sequence[Any],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    renorm: str = "rows",
) -> np.ndarray:
    """The rollout ``R`` after every block.

    Parameters
    ----------
    attentions : sequence of array or tensor, each shape (B, H, N, N)
        Self-attention probabilities of every block, in forward order.
    head_fusion : {"mean", "max", "min"}
        How heads are fused.
    discard_ratio : float
        Fraction of the lowest entries of each fused matrix set to 0 (over the
        whole N×N matrix, element (0, 0) kept), as vit-explain does; 0 keeps all.
    renorm : {"rows", "vit-explain"}
        ``"rows"``: each row of ``(A + I) / 2`` sums to 1 (the paper).
        ``"vit-explain"``: ``a / a.sum(dim=-1)`` as the reference writes it, which
        divides column ``j`` by the sum of row ``j``.

    Returns
    -------
    numpy.ndarray, shape (B, N, N), float64

    Examples
    --------
    >>> a = np.array([[[[0.5, 0.5], [0.0, 1.0]]]])
    >>> attention_rollout([a])[0]
    array([[0.75, 0.25],
           [0.  , 1.  ]])
    """
    check_option("head_fusion", head_fusion, HEAD_FUSION_CHOICES)
    check_option("renorm", renorm, RENORM_CHOICES)
    discard_ratio = check_range("discard_ratio", discard_ratio, 0.0, 1.0)
    if len(attentions) == 0:
        raise ValueError("attentions must hold at least one block")
    result: np.ndarray | None = None
    for b, attention in enumerate(attentions):
        attn = to_float64(f"attentions[{b}]", attention)
        if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
            raise ValueError(f"attentions[{b}] must be (batch, heads, tokens, tokens); got {attn.shape}")
        if head_fusion == "mean":
            fused = attn.mean(axis=1)
        else:
            fused = attn.max(axis=1) if head_fusion == "max" else attn.min(axis=1)
        batch, n = fused.shape[0], fused.shape[-1]
        if result is None:
            result = np.broadcast_to(np.eye(n), (batch, n, n)).copy()
        elif result.shape != fused.shape:
            raise ValueError(f"attentions[{b}] has {fused.shape} tokens; earlier blocks {result.shape}")
        if discard_ratio > 0:
            flat = fused.reshape(batch, -1)
            k = int(flat.shape[-1] * discard_ratio)
            for row in range(batch):
                lowest = np.argsort(flat[row], kind="stable")[:k]
                flat[row, lowest[lowest != 0]] = 0.0
        a = (fused + np.eye(n)) / 2
        if renorm == "rows":
            a = a / a.sum(axis=-1, keepdims=True)
        else:
            a = a / a.sum(axis=-1)[:, None, :]
        result = a @ result
    assert result is not None
    return result


def rollout_map(
    rollout: Any,
    *,
    pooling: Any = None,
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """The pooled row of a rollout as a patch-grid map divided by its maximum.

    Parameters
    ----------
    rollout : array, shape (B, N, N)
        From :func:`attention_rollout`.
    pooling : array, shape (B, N), optional
        The row that pools the tokens (SigLIP: the pooling head's attention);
        default the ``[CLS]`` row (row 0).
    n_prefix : int
        Leading non-patch tokens dropped (1: CLS; 0: none).
    grid : tuple of int, optional
        Patch grid; square by default.

    Returns
    -------
    numpy.ndarray, shape (B, rows, cols), float32

    Examples
    --------
    >>> rollout_map(np.eye(5)[None] + 1.0)
    array([[[1., 1.],
            [1., 1.]]], dtype=float32)
    """
    r = to_float64("rollout", rollout)
    if pooling is None:
        row = r[:, 0, :]
    else:
        row = np.einsum("bn,bnm->bm", to_float64("pooling", pooling), r)
    patches = row[:, n_prefix:]
    peak = patches.max(axis=1, keepdims=True)
    patches = np.divide(patches, peak, out=np.zeros_like(patches), where=peak > 0)
    return tokens_to_grid(patches, n_prefix=0, grid=grid)


def run_rollout(
    parts: Any,
    image: np.ndarray,
    texts: list[str],
    *,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    renorm: str = "rows",
) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """Rollout maps of a dual encoder (:class:`vista.explain.dual.DualParts`): one
    map, the same for every text, and each text's score."""
    torch = require("torch", "explain")
    pixels = parts.pixels(image)
    enc, owners, infos, text = parts.texts(texts)
    attentions: list[Any] = []
    hidden: list[Any] = []
    handles = [parts.attention(layer).register_forward_hook(capture_hook(attentions, 1))
               for layer in parts.layers()]
    handles.append(parts.layers()[-1].register_forward_hook(capture_hook(hidden)))
    try:
        with torch.no_grad():
            emb = parts.image_embedding(pixels)
            pooling = None
            if parts.n_prefix == 0:
                _, probs = parts.pool(parts.vision.post_layernorm(hidden[0]))
                pooling = probs.mean(dim=1)[:, 0]  # heads, then the probe's row
    finally:
        remove_hooks(handles)
    rollout = attention_rollout(attentions, head_fusion=head_fusion,
                                discard_ratio=discard_ratio, renorm=renorm)
    one = rollout_map(rollout, pooling=pooling, n_prefix=parts.n_prefix, grid=parts.grid)
    scores = parts.score(emb, text)[0]
    maps = np.repeat(one, scores.shape[0], axis=0)
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos
