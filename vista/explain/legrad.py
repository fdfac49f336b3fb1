"""LeGrad (Bousselham et al., 2024): the gradient of each block's own image-text
similarity with respect to that block's attention, summed over the last blocks.

For every vision block ``b`` from ``block`` (the package's ``layer_index``, default -2) to the last:

1. the block's output tokens are pooled into an intermediate image embedding, the
   way the model pools its last block (CLIP: ``post_layernorm`` of the mean over
   all tokens, projected; SigLIP: the attention-pooling head), and normalised;
2. its similarity to the normalised text embedding (no logit scale);
3. the gradient of that similarity with respect to the block's attention
   probabilities (CLIP: the block's self-attention; SigLIP: the pooling head's
   attention over the block's tokens), clamped at 0;
4. the mean over heads and over the query rows, the ``[CLS]`` column dropped.

The per-block maps are summed, then min-max scaled per text
(:func:`legrad_map`, :func:`min_max`). For SigLIP the reference also removes the
patches that a neutral prompt ("a photo of a") lights up: where the min-max
scaled map of the neutral prompt exceeds 0.8, the map is set to 0 before the final
min-max (:func:`legrad_correct`).

This follows the authors' ``legrad`` package (github.com/WalBouss/LeGrad,
``legrad/wrapper.py``: ``LeWrapper.compute_legrad_clip`` and
``compute_legrad_siglip``), which wraps OpenCLIP; here the arithmetic runs on
Hugging Face ``CLIPModel`` and ``SiglipModel``. Departures, each recorded:

- the input is the model's own square size with the whole image squashed into it;
  the package resizes to any size (448 in its demo) and interpolates the position
  embeddings;
- the sum is min-max scaled on the patch grid and then resized bilinearly onto the
  image; ``compute_legrad_clip`` first up-samples each block's map by the patch
  size and min-maxes at the input resolution (the SigLIP path min-maxes on the
  grid, as here);
- every text gets its own gradient with the image encoded once; the CLIP path
  repeats the image per prompt (the same maps), the SigLIP path sums the
  similarities of all prompts given at once into one map;
- SigLIP's pooled feature is taken from the block output without
  ``post_layernorm``, as the package does with timm's ``attn_pool`` (timm applies
  its final ``norm`` before the pool; ``post_norm=True`` applies it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_range, require
from .base import resolve_block
from .cam import min_max, to_float64, tokens_to_grid
from .hooks import capture_hook, leaf_input_hook, remove_hooks

__all__ = ["legrad_correct", "legrad_map", "run_legrad"]

#: The neutral prompt of the correction (:func:`legrad_correct`).
NEUTRAL_PROMPT = "a photo of a"


def legrad_map(
    gradients: Sequence[Any], *, n_prefix: int = 1, grid: tuple[int, int] | None = None
) -> np.ndarray:
    """Sum over blocks of the clamped attention gradient, averaged over heads and
    query rows, as patch-grid maps (before min-max).

    Parameters
    ----------
    gradients : sequence of array or tensor, each shape (B, H, Q, K)
        Per block, the gradient of that block's similarity with respect to its
        attention probabilities (Q query rows, K key tokens, ``n_prefix`` first).
    n_prefix : int
        Leading key tokens that are not patches (1: CLS; 0: SigLIP).
    grid : tuple of int, optional
        Patch grid; square by default.

    Returns
    -------
    numpy.ndarray, shape (B, rows, cols), float32

    Examples
    --------
    >>> g = np.zeros((1, 2, 3, 5))
    >>> g[0, 0, :, 4] = 6.0      # head 0, every query row, last patch
    >>> g[0, 1, 0, 1] = -6.0     # negative: clamped away
    >>> legrad_map([g, g])
    array([[[0., 0.],
            [0., 6.]]], dtype=float32)
    """
    if len(gradients) == 0:
        raise ValueError("gradients must hold at least one block")
    total: np.ndarray | None = None
    for b, gradient in enumerate(gradients):
        grad = to_float64(f"gradients[{b}]", gradient)
        if grad.ndim != 4:
            raise ValueError(f"gradients[{b}] must be (batch, heads, queries, keys); got {grad.shape}")
        per_key = np.clip(grad, 0.0, None).mean(axis=1).mean(axis=1)  # (B, K)
        if total is not None and per_key.shape != total.shape:
            raise ValueError(f"gradients[{b}] has {per_key.shape} keys; earlier blocks {total.shape}")
        total = per_key if total is None else total + per_key
    assert total is not None
    return tokens_to_grid(total, n_prefix=n_prefix, grid=grid)


def legrad_correct(maps: Any, empty_maps: Any, *, threshold: float = 0.8) -> np.ndarray:
    """LeGrad's SigLIP correction: zero the patches where the min-max scaled map
    of a neutral prompt exceeds ``threshold``, then min-max.

    Examples
    --------
    >>> legrad_correct(np.array([[[1.0, 2.0, 4.0]]]), np.array([[[0.0, 0.0, 9.0]]]))
    array([[[0.5, 1. , 0. ]]], dtype=float32)
    """
    arr = to_float64("maps", maps)
    empty = min_max(empty_maps)
    if empty.shape != arr.shape:
        raise ValueError(f"empty_maps must have the shape of maps {arr.shape}; got {empty.shape}")
    arr[empty > threshold] = 0.0
    return min_max(arr)


def _block_gradients(parts: Any, pixels: Any, embeddings: Sequence[Any], first: int,
                     post_norm: bool) -> tuple[list[list[Any]], Any]:
    """Per text-embedding set, per block from ``first``: the gradient of each row's
    similarity with respect to the block's attention, (rows, H, Q, K); and the
    image embedding, from the last block's output."""
    from .hooks import batched_grads

    layers = parts.layers()[first:]
    leaves: list[Any] = []
    outputs: list[Any] = []
    attentions: list[Any] = []
    handles = [layers[0].register_forward_pre_hook(leaf_input_hook(leaves), with_kwargs=True)]
    for layer in layers:
        handles.append(layer.register_forward_hook(capture_hook(outputs)))
        if parts.n_prefix:
            handles.append(parts.attention(layer).register_forward_hook(capture_hook(attentions, 1)))
    try:
        parts.vision(pixel_values=pixels)
    finally:
        remove_hooks(handles)
    result: list[list[Any]] = [[] for _ in embeddings]
    for b, hidden in enumerate(outputs):
        if post_norm:
            hidden = parts.vision.post_layernorm(hidden)
        emb, probs = parts.pool(hidden)
        target = attentions[b] if probs is None else probs
        for k, text in enumerate(embeddings):
            sims = text @ emb[0]
            (grad,) = batched_grads(sims, [target], retain_graph=True)
            result[k].append(grad[:, 0])
    return result, parts.final_embedding(outputs[-1].detach())


def run_legrad(
    parts: Any,
    image: np.ndarray,
    texts: list[str],
    *,
    block: int = -2,
    correction: bool = False,
    threshold: float = 0.8,
    post_norm: bool = False,
) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """LeGrad maps of a dual encoder (a :class:`vista.explain.dual.DualParts`) for
    each text: see the module docstring. ``block`` is the first block (the
    package's ``layer_index``). ``correction`` applies
    :func:`legrad_correct` with the neutral prompt "a photo of a"."""
    torch = require("torch", "explain")
    threshold = check_range("threshold", threshold, 0.0, 1.0)
    n_layers = len(parts.layers())
    first = resolve_block("block", block, n_layers)
    pixels = parts.pixels(image)
    enc, owners, infos, text = parts.texts(texts)
    sets = [text]
    if correction:
        sets.append(parts.texts([NEUTRAL_PROMPT])[3])
    grads, image_embedding = _block_gradients(parts, pixels, sets, first, post_norm)
    maps = legrad_map(grads[0], n_prefix=parts.n_prefix, grid=parts.grid)
    if correction:
        empty = legrad_map(grads[1], n_prefix=parts.n_prefix, grid=parts.grid)
        maps = legrad_correct(maps, np.repeat(empty, maps.shape[0], axis=0), threshold=threshold)
    else:
        maps = min_max(maps)
    with torch.no_grad():
        scores = parts.score(image_embedding, text)[0]
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos
