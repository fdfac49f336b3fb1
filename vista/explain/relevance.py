"""Relevance propagation through a ViT's self-attention (Chefer et al. 2021).

The rule for a self-attention-only encoder (the paper's Eq. 5-6, with the
relevance of every token initialised to itself):

.. math::

    R^{(0)} = I, \\qquad
    \\bar A^{(b)} = \\mathbb{E}_h\\big[(\\nabla A^{(b)} \\odot A^{(b)})^+\\big], \\qquad
    R^{(b)} = R^{(b-1)} + \\bar A^{(b)} R^{(b-1)}

over the blocks ``b`` in forward order; the map is the CLS row of the final ``R``
without its CLS column, reshaped to the patch grid. ``A`` are the attention
probabilities of a block, ``\\nabla A`` the gradient of the explained score with
respect to them.

Model modules capture the attention tensors and their gradients (with torch); this
module only does the arithmetic, in float64 numpy, so it is checked by hand in the
tests and is the same on every device.

References
----------
.. [1] Chefer, Gur and Wolf, "Generic Attention-model Explainability for
   Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021,
   arXiv:2103.15679. The authors' CLIP notebook (Transformer-MM-Explainability,
   ``CLIP_explainability.ipynb``) propagates through the last vision block only
   by default (``start_layer=-1``); the paper propagates through all blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .cam import to_float64, tokens_to_grid

__all__ = ["attention_relevance", "cls_relevance_map"]


def attention_relevance(
    attentions: Sequence[Any],
    gradients: Sequence[Any],
    *,
    start_block: int = 0,
) -> np.ndarray:
    """Token-to-token relevance ``R`` after propagating through the blocks.

    Parameters
    ----------
    attentions : sequence of array or tensor, each shape (B, H, N, N)
        Self-attention probabilities of every block, in forward order.
    gradients : sequence of array or tensor, each shape (B, H, N, N)
        Gradient of the explained score with respect to each attention tensor.
    start_block : int
        First block that contributes (0-based; negative counts from the end, so
        ``-1`` is the last block only, the authors' CLIP notebook default). Blocks
        before it are skipped, as in the authors' code.

    Returns
    -------
    numpy.ndarray, shape (B, N, N), float64
        ``R``; row ``i`` is the relevance of every token for token ``i``.

    Raises
    ------
    ValueError
        If the sequences are empty or of different lengths, a tensor is not 4-D
        with square token axes, shapes differ, or ``start_block`` is out of range.

    Examples
    --------
    One block, one head, two tokens; only the positive part of
    ``gradient * attention`` counts:

    >>> attn = [np.array([[[[0.5, 0.5], [0.25, 0.75]]]])]
    >>> grad = [np.array([[[[2.0, -1.0], [4.0, 0.0]]]])]
    >>> attention_relevance(attn, grad)[0]
    array([[2., 0.],
           [1., 1.]])
    """
    if len(attentions) == 0:
        raise ValueError("attentions must hold at least one block")
    if len(gradients) != len(attentions):
        raise ValueError(
            f"gradients must hold one tensor per block ({len(attentions)}); got {len(gradients)}"
        )
    n_blocks = len(attentions)
    if not -n_blocks <= start_block < n_blocks:
        raise ValueError(f"start_block must be in [{-n_blocks}, {n_blocks}); got {start_block}")
    first = start_block % n_blocks
    relevance: np.ndarray | None = None
    for b in range(first, n_blocks):
        attn = to_float64(f"attentions[{b}]", attentions[b])
        grad = to_float64(f"gradients[{b}]", gradients[b])
        if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
            raise ValueError(
                f"attentions[{b}] must be (batch, heads, tokens, tokens); got shape {attn.shape}"
            )
        if grad.shape != attn.shape:
            raise ValueError(
                f"gradients[{b}] must have the shape of attentions[{b}] {attn.shape}; "
                f"got {grad.shape}"
            )
        cam = np.clip(grad * attn, 0.0, None).mean(axis=1)  # (B, N, N)
        if relevance is None:
            batch, n = cam.shape[0], cam.shape[-1]
            relevance = np.broadcast_to(np.eye(n), (batch, n, n)).copy()
        elif cam.shape != relevance.shape:
            raise ValueError(
                f"attentions[{b}] has {cam.shape} tokens per head; earlier blocks had "
                f"{relevance.shape}"
            )
        relevance = relevance + cam @ relevance
    assert relevance is not None
    return relevance


def cls_relevance_map(
    attentions: Sequence[Any],
    gradients: Sequence[Any],
    *,
    start_block: int = 0,
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """The CLS row of :func:`attention_relevance` as a patch-grid map.

    Parameters
    ----------
    attentions, gradients, start_block
        As in :func:`attention_relevance`.
    n_prefix : int
        Leading non-patch tokens dropped from the row (1: the CLS token itself).
    grid : tuple of int, optional
        Patch grid (rows, cols); square by default.

    Returns
    -------
    numpy.ndarray, shape (B, rows, cols), float32

    Examples
    --------
    >>> attn = [np.full((1, 1, 5, 5), 0.2)]
    >>> grad = [np.eye(5)[None, None] * 5.0]
    >>> cls_relevance_map(attn, grad)  # only the CLS self-link has a positive product
    array([[[0., 0.],
            [0., 0.]]], dtype=float32)
    """
    relevance = attention_relevance(attentions, gradients, start_block=start_block)
    return tokens_to_grid(relevance[:, 0, :], n_prefix=n_prefix, grid=grid)
