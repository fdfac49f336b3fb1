"""Grad-ECLIP (Zhao et al., ICML 2024, "Gradient-based Visual Explanation for
Transformer-based CLIP") for CLIP and SigLIP.

The map is read from the image encoder's last attention, the one whose query
becomes the image embedding (CLIP: the last block's, query row ``[CLS]``; SigLIP:
the attention-pooling head's, the probe query):

- channel weights: the gradient of the image-text cosine similarity with respect
  to that query's attention output (before ``out_proj``), ``w = ∂c / ∂o_q``;
- the value features ``v_i`` of every patch token ``i`` (the attention's value
  projection);
- the loosened spatial weights: the cosine between the query and each patch's key,
  both passed through ``out_proj`` and normalised, then min-max over the patches
  (``ksim``), in place of the softmax attention;

``map_i = ReLU(Σ_c w_c v_{i,c} · ksim_i)``.

This follows ``grad_eclip`` and ``clip_encode_dense`` in Cyang-Zhao/Grad-Eclip
``generate_emap.py`` (``withksim=True``). Departures, recorded:

- ``heads="model"`` (default): the last attention is recomputed with the model's
  own heads, so the explained score is the model's. The reference recomputes it
  as a single head over the full width (``attention_layer(q, k, v, 1)``), which
  changes the forward pass; ``heads="one"`` does that;
- the image is squashed to the model's square input; the reference keeps the
  image's size and interpolates the position embeddings;
- every text gets its own gradient with the image encoded once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, require
from .cam import tokens_to_grid

__all__ = ["HEADS_CHOICES", "gradeclip_map", "run_gradeclip"]

HEADS_CHOICES = ("model", "one")


def gradeclip_map(gradient: Any, values: Any, q_out: Any, k_out: Any, *, ksim: bool = True
                  ) -> np.ndarray:
    """``ReLU(Σ_c w_c v_{i,c} ksim_i)`` for each row.

    Parameters
    ----------
    gradient : array, shape (B, C)
        The score's gradient at the query's attention output.
    values : array, shape (B, N, C)
        Value features of the N patch tokens (no [CLS]).
    q_out : array, shape (B, C)
        The query through ``out_proj``.
    k_out : array, shape (B, N, C)
        The patches' keys through ``out_proj``.
    ksim : bool
        Weight the patches by the min-max scaled query-key cosine (the reference's
        ``withksim``).

    Returns
    -------
    numpy.ndarray, shape (B, N), float64

    Examples
    --------
    >>> g = np.array([[1.0, -1.0]])
    >>> v = np.array([[[2.0, 0.0], [0.0, 2.0], [3.0, 1.0]]])
    >>> q = np.array([[1.0, 0.0]])
    >>> k = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    >>> gradeclip_map(g, v, q, k)   # cosines 1, 0, .71 -> min-max 1, 0, .71
    array([[2.        , 0.        , 1.41421356]])
    """
    from .cam import to_float64

    g = to_float64("gradient", gradient)
    v = to_float64("values", values)
    per_patch = np.einsum("bnc,bc->bn", v, g)
    if ksim:
        q = to_float64("q_out", q_out)
        k = to_float64("k_out", k_out)
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        k = k / np.linalg.norm(k, axis=-1, keepdims=True)
        cos = np.einsum("bnc,bc->bn", k, q)
        lo, hi = cos.min(axis=1, keepdims=True), cos.max(axis=1, keepdims=True)
        per_patch = per_patch * np.divide(cos - lo, hi - lo, out=np.zeros_like(cos),
                                          where=hi > lo)
    return np.clip(per_patch, 0.0, None)


def _attend(q: Any, k: Any, v: Any, heads: int) -> Any:
    """Scaled dot-product attention of (B, Lq, C) queries over (B, N, C) keys and
    values with ``heads`` heads; (B, Lq, C)."""
    torch = require("torch", "explain")
    b, lq, c = q.shape
    hd = c // heads
    split = [t.reshape(t.shape[0], t.shape[1], heads, hd).transpose(1, 2) for t in (q, k, v)]
    probs = torch.softmax(split[0] @ split[1].transpose(-1, -2) * hd ** -0.5, dim=-1)
    return (probs @ split[2]).transpose(1, 2).reshape(b, lq, c)


def _last_attention(parts: Any, pixels: Any, heads: str) -> tuple[Any, Any, Any, Any, Any]:
    """``(attention output (a leaf, batch 1; the query is row 0), the embedding
    computed from it, values, q_out, k_out)`` of the last attention, patches only."""
    torch = require("torch", "explain")
    vision = parts.vision
    with torch.no_grad():
        out = vision(pixel_values=pixels, output_hidden_states=True)
    if parts.n_prefix == 0:  # SigLIP: the pooling head over post_layernorm(last block)
        head = vision.head
        mha = head.attention
        hidden = out.last_hidden_state
        dim = hidden.shape[-1]
        w, bias = mha.in_proj_weight, mha.in_proj_bias
        lin = torch.nn.functional.linear
        q = lin(head.probe.expand(hidden.shape[0], -1, -1), w[:dim], bias[:dim])
        k, v = lin(hidden, w[dim:2 * dim], bias[dim:2 * dim]), lin(hidden, w[2 * dim:], bias[2 * dim:])
        n_heads = int(mha.num_heads) if heads == "model" else 1
        attn = _attend(q, k, v, n_heads).detach().requires_grad_(True)
        x = mha.out_proj(attn)
        pooled = (x + head.mlp(head.layernorm(x)))[:, 0]
        emb = parts.pool_projection(pooled)
        proj = mha.out_proj
        return attn, emb, v, proj(q)[:, 0], proj(k)
    layer = parts.layers()[-1]
    x_in = out.hidden_states[-2]
    h = layer.layer_norm1(x_in)
    att = layer.self_attn
    q, k, v = att.q_proj(h), att.k_proj(h), att.v_proj(h)
    n_heads = int(att.num_heads) if heads == "model" else 1
    attn = _attend(q, k, v, n_heads).detach().requires_grad_(True)
    x = x_in + att.out_proj(attn)
    x = x + layer.mlp(layer.layer_norm2(x))
    emb = parts.pool_projection(vision.post_layernorm(x[:, 0]))
    return attn, emb, v[:, 1:], att.out_proj(q)[:, 0], att.out_proj(k)[:, 1:]


def run_gradeclip(parts: Any, image: np.ndarray, texts: list[str], *, heads: str = "model",
                  ksim: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """Grad-ECLIP maps of a dual encoder (see the module docstring)."""
    torch = require("torch", "explain")
    from .hooks import batched_grads

    check_option("heads", heads, HEADS_CHOICES)
    pixels = parts.pixels(image)
    enc, owners, infos, text = parts.texts(texts)
    attn, emb, values, q_out, k_out = _last_attention(parts, pixels, heads)
    emb = emb / emb.norm(dim=-1, keepdim=True)
    cosine = (emb @ text.T)[0]  # (rows,)
    (grad,) = batched_grads(cosine, [attn])  # (rows, 1, L, C)
    rows = cosine.shape[0]
    per_patch = gradeclip_map(grad[:, 0, 0], values.detach().expand(rows, -1, -1),
                              q_out.detach().expand(rows, -1), k_out.detach().expand(rows, -1, -1),
                              ksim=ksim)
    maps = tokens_to_grid(per_patch, n_prefix=0, grid=parts.grid)
    with torch.no_grad():  # heads="model": the recomputed embedding is the model's
        image = emb.detach() if heads == "model" else parts.image_embedding(pixels)
        scores = parts.score(image, text)[0]
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos
