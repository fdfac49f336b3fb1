"""Shared Grad-CAM maths for attention and token features, in one place.

A model module only says *which* tensor and *which* score; the arithmetic that turns
an attention tensor and its gradient into a patch-grid map lives here, with every
departure from a paper as a parameter.

The functions accept torch tensors or numpy arrays (torch is imported lazily; numpy
inputs are computed in numpy) and return float32 numpy arrays.

References
----------
.. [1] Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
   Gradient-based Localization", ICCV 2017.
.. [2] Li et al., LAVIS ``compute_gradcam``
   (lavis/models/blip_models/blip_image_text_matching.py) and ALBEF's
   ``visualization.ipynb``: cross-attention probabilities times their gradient
   clamped at 0, mean over heads, mean over the text tokens, patch tokens (image CLS
   dropped) reshaped to the grid.
.. [3] Chefer et al., "Generic Attention-model Explainability for Interpreting
   Bi-Modal and Encoder-Decoder Transformers", ICCV 2021: ``(grad * attn).clamp(0)``,
   mean over heads.
.. [4] captum ``LayerGradCam``: channel weights are the spatial mean of the gradient,
   map = ReLU(sum over channels of weight × activation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_option

__all__ = [
    "CLAMP_CHOICES",
    "HEAD_REDUCE_CHOICES",
    "gradcam_attention",
    "gradcam_attention_per_token",
    "gradcam_tokens",
    "min_max",
    "patch_grid",
    "to_float64",
    "tokens_to_grid",
]

CLAMP_CHOICES = ("gradient", "product", "none")
HEAD_REDUCE_CHOICES = ("mean", "sum", "max")


def to_float64(name: str, value: Any) -> np.ndarray:
    """A torch tensor (any device, with or without grad) or array as a float64 copy.

    Parameters
    ----------
    name : str
        The parameter's name, used in the error message.
    value : torch.Tensor or array_like
        Numeric values.

    Returns
    -------
    numpy.ndarray
        A new float64 array (never a view of ``value``).

    Examples
    --------
    >>> to_float64("values", [[1, 2], [3, 4]]).dtype
    dtype('float64')
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().double().numpy()
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name} must be a numeric array or tensor; got dtype {arr.dtype}")
    return arr


def patch_grid(n_patches: int, grid: tuple[int, int] | None = None) -> tuple[int, int]:
    """The (rows, cols) patch grid for ``n_patches`` tokens.

    Parameters
    ----------
    n_patches : int
        Number of patch tokens (prefix tokens such as the image CLS already removed).
    grid : tuple of int, optional
        The grid, when the image is not square; checked against ``n_patches``.

    Returns
    -------
    tuple of int
        ``grid``, or the square grid ``(r, r)`` with ``r * r == n_patches``.

    Raises
    ------
    ValueError
        If ``grid`` does not hold ``n_patches`` tokens, or no grid is given and
        ``n_patches`` is not a perfect square.

    Examples
    --------
    >>> patch_grid(576)
    (24, 24)
    >>> patch_grid(12, (3, 4))
    (3, 4)
    """
    if grid is not None:
        rows, cols = int(grid[0]), int(grid[1])
        if rows * cols != n_patches:
            raise ValueError(f"grid {grid} holds {rows * cols} patches; got {n_patches} tokens")
        return rows, cols
    side = math.isqrt(int(n_patches))
    if side * side != n_patches:
        raise ValueError(
            f"{n_patches} patch tokens do not form a square grid; pass grid=(rows, cols)"
        )
    return side, side


def tokens_to_grid(
    values: Any, *, n_prefix: int = 1, grid: tuple[int, int] | None = None
) -> np.ndarray:
    """Drop ``n_prefix`` leading tokens (e.g. the image CLS) and reshape the rest.

    Parameters
    ----------
    values : array or tensor, shape (..., K)
        One value per image token, CLS first.
    n_prefix : int
        Leading non-patch tokens to drop (1 for a ViT with a CLS token).
    grid : tuple of int, optional
        Patch grid; square by default (see :func:`patch_grid`).

    Returns
    -------
    numpy.ndarray, shape (..., rows, cols), float32

    Examples
    --------
    >>> tokens_to_grid(np.arange(5.0), n_prefix=1)
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    arr = to_float64("values", values)
    patches = arr[..., n_prefix:]
    rows, cols = patch_grid(patches.shape[-1], grid)
    return patches.reshape(*patches.shape[:-1], rows, cols).astype(np.float32)


def gradcam_attention(
    attention: Any,
    gradient: Any,
    *,
    token_mask: Any = None,
    clamp: str = "gradient",
    head_reduce: str = "mean",
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """Grad-CAM on an attention tensor: one patch-grid map per batch row.

    The LAVIS / ALBEF recipe [2]_ with its defaults: ``attention * gradient.clamp(0)``,
    averaged over heads, averaged over the query tokens selected by ``token_mask``
    (the segment's text tokens), the ``n_prefix`` leading key tokens (the image CLS)
    dropped and the remaining key tokens reshaped to the patch grid.

    Parameters
    ----------
    attention : array or tensor, shape (B, H, T, K)
        Attention probabilities: batch, heads, query tokens (text), key tokens
        (image, CLS first).
    gradient : array or tensor, shape (B, H, T, K)
        The gradient of the score with respect to ``attention``.
    token_mask : array or tensor, shape (B, T), optional
        Which query tokens a map averages over (nonzero = used); all tokens when
        omitted. LAVIS averages over the text tokens between ``[ENC]`` and ``[SEP]``.
    clamp : {"gradient", "product", "none"}
        Where the ReLU goes. ``"gradient"``: clamp the gradient at 0 before the
        product (LAVIS, ALBEF). ``"product"``: clamp ``attention * gradient`` after
        the product, before the head mean (Chefer et al. [3]_). ``"none"``: no clamp.
    head_reduce : {"mean", "sum", "max"}
        How heads are combined; LAVIS and Chefer et al. take the mean.
    n_prefix : int
        Leading key tokens that are not patches (1: the ViT's CLS token).
    grid : tuple of int, optional
        Patch grid (rows, cols); square by default.

    Returns
    -------
    numpy.ndarray, shape (B, rows, cols), float32
        One map per batch row.

    Raises
    ------
    ValueError
        On mismatched shapes, an unknown option, or a row whose ``token_mask``
        selects no token.

    Notes
    -----
    The mean over tokens is a plain sum divided by the number of selected tokens,
    as LAVIS does (``gradcam[1:n+1].sum(0) / n``). Heads are reduced before tokens;
    for ``"mean"`` and ``"sum"`` the order does not matter.

    Examples
    --------
    One row, two heads, two text tokens, a CLS and four patches:

    >>> attn = np.full((1, 2, 2, 5), 0.2)
    >>> grad = np.zeros((1, 2, 2, 5))
    >>> grad[0, 0, 0, 1] = 1.0      # head 0, token 0, first patch
    >>> grad[0, 1, 1, 4] = -1.0     # negative: clamped away
    >>> gradcam_attention(attn, grad)
    array([[[0.05, 0.  ],
            [0.  , 0.  ]]], dtype=float32)
    """
    per_token = _head_reduced(attention, gradient, clamp=clamp, head_reduce=head_reduce,
                              n_prefix=n_prefix)
    b, t, _ = per_token.shape
    if token_mask is None:
        weights = np.ones((b, t))
    else:
        weights = (to_float64("token_mask", token_mask) != 0).astype(np.float64)
        if weights.shape != (b, t):
            raise ValueError(f"token_mask must have shape {(b, t)}; got {weights.shape}")
    counts = weights.sum(axis=1)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(f"token_mask selects no token in row(s) {empty.tolist()}")
    pooled = np.einsum("btk,bt->bk", per_token, weights) / counts[:, None]
    return tokens_to_grid(pooled, n_prefix=n_prefix, grid=grid)


def _head_reduced(attention: Any, gradient: Any, *, clamp: str, head_reduce: str,
                  n_prefix: int) -> np.ndarray:
    """``attention × gradient`` with the clamp, heads reduced: (B, T, K) float64."""
    check_option("clamp", clamp, CLAMP_CHOICES)
    check_option("head_reduce", head_reduce, HEAD_REDUCE_CHOICES)
    attn, grad = _with_gradient("attention", attention, gradient,
                                "4-D (batch, heads, tokens, keys)", n_prefix)
    if clamp == "gradient":
        cam = attn * np.clip(grad, 0.0, None)
    elif clamp == "product":
        cam = np.clip(attn * grad, 0.0, None)
    else:
        cam = attn * grad
    if head_reduce == "mean":
        return np.asarray(cam.mean(axis=1))
    if head_reduce == "sum":
        return np.asarray(cam.sum(axis=1))
    return np.asarray(cam.max(axis=1))


def gradcam_attention_per_token(
    attention: Any,
    gradient: Any,
    *,
    clamp: str = "gradient",
    head_reduce: str = "mean",
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """:func:`gradcam_attention` before the mean over query tokens: one map per
    token, as ALBEF's ``visualization.ipynb`` draws each word's row
    ``gradcam[i + 1]`` on its own.

    Returns
    -------
    numpy.ndarray, shape (B, T, rows, cols), float32

    Examples
    --------
    >>> attn = np.full((1, 1, 2, 5), 0.5)
    >>> grad = np.zeros((1, 1, 2, 5)); grad[0, 0, 1, 2] = 2.0
    >>> gradcam_attention_per_token(attn, grad)[0, 1]
    array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    per_token = _head_reduced(attention, gradient, clamp=clamp, head_reduce=head_reduce,
                              n_prefix=n_prefix)
    return tokens_to_grid(per_token, n_prefix=n_prefix, grid=grid)


def gradcam_tokens(
    activations: Any,
    gradient: Any,
    *,
    relu: bool = True,
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
) -> np.ndarray:
    """captum-style Grad-CAM [4]_ on a ViT layer's token features.

    Channel weights are the gradient averaged over the patch tokens; the map is the
    weighted sum of the channels at each patch, then ReLU. This is captum's
    ``LayerGradCam`` with the ViT token sequence reshaped to the patch grid.

    Parameters
    ----------
    activations : array or tensor, shape (B, K, C)
        Token features of a vision layer (CLS first).
    gradient : array or tensor, shape (B, K, C)
        The gradient of the score with respect to ``activations``.
    relu : bool
        Clamp the map at 0 (captum's default ``relu_attributions=False`` keeps
        negative values; Grad-CAM [1]_ applies the ReLU).
    n_prefix : int
        Leading tokens that are not patches; they are excluded from the channel
        weights and from the map.
    grid : tuple of int, optional
        Patch grid; square by default.

    Returns
    -------
    numpy.ndarray, shape (B, rows, cols), float32

    Examples
    --------
    >>> act = np.ones((1, 5, 2))
    >>> grad = np.zeros((1, 5, 2))
    >>> grad[0, 1:, 0] = 2.0        # channel 0 matters, weight 2
    >>> act[0, 4, 0] = 3.0          # most of it at the last patch
    >>> gradcam_tokens(act, grad)
    array([[[2., 2.],
            [2., 6.]]], dtype=float32)
    """
    act, grad = _with_gradient("activations", activations, gradient,
                               "3-D (batch, tokens, channels)", n_prefix)
    weights = grad[:, n_prefix:, :].mean(axis=1)  # (B, C)
    cam = np.einsum("bkc,bc->bk", act, weights)
    if relu:
        cam = np.clip(cam, 0.0, None)
    return tokens_to_grid(cam, n_prefix=n_prefix, grid=grid)


def min_max(maps: Any) -> np.ndarray:
    """Scale each map (first axis) to [0, 1]; a constant map becomes all zeros.

    Examples
    --------
    >>> min_max(np.array([[[1.0, 3.0]], [[2.0, 2.0]]]))
    array([[[0., 1.]],
    <BLANKLINE>
           [[0., 0.]]], dtype=float32)
    """
    arr = to_float64("maps", maps)
    flat = arr.reshape(arr.shape[0], -1)
    lo = flat.min(axis=1, keepdims=True)
    span = flat.max(axis=1, keepdims=True) - lo
    out = np.divide(flat - lo, span, out=np.zeros_like(flat), where=span > 0)
    return out.reshape(arr.shape).astype(np.float32)


def _with_gradient(name: str, values: Any, gradient: Any, shape: str,
                   n_prefix: int) -> tuple[np.ndarray, np.ndarray]:
    """``values`` and ``gradient`` as float64, checked: ``values`` has the documented
    number of axes (``shape``), the gradient its shape, and ``n_prefix`` leaves at least
    one token on the last token axis (axis 1 of features, the key axis of attention)."""
    arr = to_float64(name, values)
    grad = to_float64("gradient", gradient)
    ndim = int(shape[0])
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {shape}; got {arr.shape}")
    if grad.shape != arr.shape:
        raise ValueError(f"gradient must have the shape of {name} {arr.shape}; got {grad.shape}")
    tokens = arr.shape[-1] if ndim == 4 else arr.shape[1]
    if not 0 <= n_prefix < tokens:
        raise ValueError(f"n_prefix must be in [0, {tokens}); got {n_prefix}")
    return arr, grad
