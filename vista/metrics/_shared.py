"""Checks shared by every metric: the input rules, fixation masks and the one resize.

Input rules, shared by every metric:

* maps are 2-D real numeric arrays (any integer, bool or float dtype) holding finite
  values; NaN or inf raises a ValueError naming the argument and counting the bad
  values; complex arrays and masked arrays raise a TypeError (a metric cannot guess
  whether the imaginary part or the hidden values matter: pass ``np.abs(m)`` or
  ``m.filled(0)`` explicitly);
* the saliency map must have the shape of the human map (or fixation mask), unless
  the caller passes ``resize=True``: then it is resized to that grid bilinearly
  (:func:`vista.imaging.resize_map`: OpenCV ``INTER_LINEAR``, pixel centres aligned, no
  anti-aliasing), never silently;
* human density maps must be non-negative; fixation masks mark fixated pixels with
  values > 0 (counts are allowed; negative values raise);
* any finite value is scored exactly, up to float64's largest: metrics that sum or
  square a map rescale it by a power of two first where the sums would overflow;
* where a quantity is undefined (a constant map for a correlation, fewer fixated pixels
  than the MIT code accepts, a human map with zero mass) the metric returns NaN and
  emits an :class:`UndefinedMetricWarning` that says why.

Fixations given as points (:func:`fixation_mask`, :func:`vista.metrics.compute`) are in
image pixels with pixel centres at integer coordinates (x right, y down, the EyeLink
convention): a fixation at ``(x, y)`` marks pixel ``(row, col) = (floor(y + 0.5),
floor(x + 0.5))``. Fixations that land outside the grid are dropped with a warning that
counts them; fixation weights (durations) are ignored by the MIT metrics, which use a
binary mask in which a pixel fixated twice counts once, as in the MIT benchmark.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .._validation import check_array, check_int
from ..imaging import resize_map

__all__ = ["MATLAB_EPS", "UndefinedMetricWarning", "fixation_mask", "resize_bilinear"]

MATLAB_EPS: float = float(np.finfo(np.float64).eps)
"""MATLAB's ``eps`` (2.2204e-16), the regulariser of the MIT KLD and information gain."""

class UndefinedMetricWarning(RuntimeWarning):
    """A metric is undefined for the given inputs; NaN was returned."""


def _undefined(metric: str, reason: str) -> float:
    warnings.warn(
        f"{metric} is undefined: {reason}; returning NaN", UndefinedMetricWarning, stacklevel=3
    )
    return math.nan


# --------------------------------------------------------------------------- inputs


def _real_array(name: str, value: Any, *, ndim: int) -> np.ndarray:
    """``value`` as a real numeric array (no copy); masked and complex arrays raise."""
    if isinstance(value, np.ma.MaskedArray):
        hidden = int(np.ma.count_masked(value))
        raise TypeError(
            f"{name} is a masked array ({hidden} hidden value(s)); the metrics do not guess "
            f"what hidden values mean: pass {name}.filled(VALUE) or {name}.data explicitly"
        )
    if np.iscomplexobj(value):
        raise TypeError(
            f"{name} is complex (dtype {np.asarray(value).dtype}); the metrics take real "
            f"maps: pass np.abs({name}) or {name}.real explicitly"
        )
    return check_array(name, value, ndim=ndim, finite=False)


def _as_map(name: str, value: Any) -> np.ndarray:
    """``value`` as a non-empty 2-D numeric array (no copy); finiteness checked later."""
    arr = _real_array(name, value, ndim=2)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _require_finite(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{name} must be finite; it contains {n_nan} NaN and {n_inf} inf value(s)"
        )


def _finite_range(name: str, arr: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of ``arr``; NaN and inf surface here, so this is the check."""
    mn = float(arr.min())
    mx = float(arr.max())
    if not (math.isfinite(mn) and math.isfinite(mx)):
        _require_finite(name, arr)
    return mn, mx


def _fast_finite(name: str, arr: np.ndarray) -> None:
    """Raise unless ``arr`` is finite; one fast pass (NaN and inf propagate into sums)."""
    if arr.dtype.kind != "f":
        return
    if arr.dtype in (np.float32, np.float64) and np.isfinite(np.einsum("ij->", arr)):
        return
    _require_finite(name, arr)  # exact check; the sum may also overflow for huge finite values


def _density(name: str, value: Any) -> tuple[np.ndarray, float, float]:
    """A finite, non-negative 2-D map with its minimum and maximum."""
    arr = _as_map(name, value)
    mn, mx = _finite_range(name, arr)
    if mn < 0:
        raise ValueError(f"{name} must be a non-negative density map; its minimum is {mn:g}")
    return arr, mn, mx


def resize_bilinear(values: Any, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D map to ``shape`` (rows, columns) by bilinear interpolation.

    Pixel centres are aligned (OpenCV ``INTER_LINEAR``, the convention of
    ``skimage.transform.resize(order=1)`` and MATLAB's ``imresize(..., 'bilinear')``
    without anti-aliasing): :func:`vista.imaging.resize_map` on a checked map, the one
    resize of vista. float32 stays float32; every other dtype becomes float64. The
    metrics call this only when asked to (``resize=True``); MATLAB's ``imresize``
    in the MIT code is bicubic with anti-aliasing, so resized scores differ slightly
    from the MIT code's.

    Examples
    --------
    >>> resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)).round(3).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    arr = _as_map("values", values)
    _require_finite("values", arr)
    return resize_map(arr, (shape[0], shape[1]))


def _on_grid(saliency: np.ndarray, shape: tuple[int, ...], resize: bool, target: str) -> np.ndarray:
    if saliency.shape == tuple(shape):
        return saliency
    if not resize:
        raise ValueError(
            f"saliency has shape {saliency.shape} but {target} has shape {tuple(shape)}; "
            f"pass resize=True to resize the saliency map (bilinear) to the {target} grid"
        )
    return resize_bilinear(saliency, (shape[0], shape[1]))


def _points(name: str, fixations: Any) -> np.ndarray:
    arr = _real_array(name, fixations, ndim=2)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    if arr.shape[1] not in (2, 3):
        raise ValueError(
            f"{name} must be an N×2 (x, y) or N×3 (x, y, weight) array; got shape {arr.shape}"
        )
    return arr


def _fixation_indices(name: str, fixations: Any, shape: tuple[int, int]) -> np.ndarray:
    """Unique flat pixel indices of the fixations that land on the grid."""
    arr = _points(name, fixations)
    rows, cols = shape
    if arr.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    c = np.floor(arr[:, 0].astype(np.float64) + 0.5)
    r = np.floor(arr[:, 1].astype(np.float64) + 0.5)
    inside = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
    n_out = int(arr.shape[0] - inside.sum())
    if n_out:
        warnings.warn(
            f"{n_out} of {arr.shape[0]} {name} fall outside the {rows}×{cols} grid and "
            "are ignored",
            UserWarning,
            stacklevel=3,
        )
    flat = r[inside].astype(np.intp) * cols + c[inside].astype(np.intp)
    return np.unique(flat)


def fixation_mask(fixations: Any, shape: tuple[int, int]) -> np.ndarray:
    """The binary fixation mask of point fixations on a grid of ``shape`` (rows, cols).

    Parameters
    ----------
    fixations : array_like, shape (N, 2) or (N, 3)
        ``x, y`` (and an ignored weight) in image pixels, pixel centres at integers, as
        stored by :meth:`vista.dataset.Dataset.load_fixations`.
    shape : tuple of int
        The grid (the human map's shape).

    Returns
    -------
    numpy.ndarray of bool
        True at ``(floor(y + 0.5), floor(x + 0.5))`` for every fixation on the grid.
        Fixations outside the grid are dropped with a UserWarning that counts them.

    Examples
    --------
    >>> fixation_mask([[0.4, 0.0, 250.0], [1.5, 0.6, 100.0]], (2, 3)).astype(int).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    rows, cols = check_int("shape[0]", shape[0], minimum=1), check_int("shape[1]", shape[1], minimum=1)
    mask = np.zeros(rows * cols, dtype=bool)
    mask[_fixation_indices("fixations", fixations, (rows, cols))] = True
    return mask.reshape(rows, cols)


def _mask_indices(name: str, mask: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """Flat indices of the pixels > 0 of a fixation mask, and the mask's shape."""
    arr = _as_map(name, mask)
    if arr.dtype != bool:
        mn, _ = _finite_range(name, arr)
        if mn < 0:
            raise ValueError(f"{name} must be a binary (or count) map >= 0; its minimum is {mn:g}")
    return _flat_nonzero(arr), (arr.shape[0], arr.shape[1])


def _flat_nonzero(arr: np.ndarray) -> np.ndarray:
    """``np.flatnonzero(arr)``, for a bool mask 8 pixels at a time (several times faster
    on the sparse masks of fixations)."""
    if arr.dtype == bool and arr.flags.c_contiguous and arr.size % 8 == 0:
        words = np.flatnonzero(arr.reshape(-1).view(np.uint64) != 0)
        if words.size * 8 < arr.size // 8:  # sparse: expand only the words that hold one
            pixels = np.flatnonzero(arr.reshape(-1, 8)[words])
            return np.asarray(words[pixels // 8] * 8 + pixels % 8, dtype=np.intp)
    return np.flatnonzero(arr)


def _on_mask(
    saliency: Any, fixation_mask: Any, resize: bool
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], float, float]:
    """The checked saliency map on the mask's grid, the fixated pixels, the grid, and
    the map's minimum and maximum (the shared first step of the fixation metrics)."""
    idx, shape = _mask_indices("fixation_mask", fixation_mask)
    s = _on_grid(_as_map("saliency", saliency), shape, resize, "fixation_mask")
    mn, mx = _finite_range("saliency", s)
    return s, idx, shape, mn, mx


def _on_density(saliency: Any, human: Any, resize: bool
                ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """The checked saliency map on the human map's grid, the checked human density map,
    its maximum, and the saliency map's minimum (the shared first step of the
    distribution metrics)."""
    s = _as_map("saliency", saliency)
    h, _, hmax = _density("human", human)
    s = _on_grid(s, h.shape, resize, "human")
    smin, _ = _finite_range("saliency", s)
    return s, h, hmax, smin


# --------------------------------------------------------------------------- range


_SAFE = 2.0**400
"""Maps whose largest magnitude lies outside [2**-400, 2**400] are rescaled before
their sums, squares or ranges are taken: beyond it they may overflow or underflow."""


def _in_safe_range(arr: np.ndarray) -> np.ndarray:
    """``arr``, or a float64 copy scaled by the power of two that brings its largest
    magnitude into [0.5, 1) when sums or squares of it could overflow or underflow.

    Scaling by a power of two is exact (short of values that become subnormal, which
    are then below 2**-1022 of the map's maximum), and every metric that calls this
    is unchanged by scaling a map by a positive factor.
    """
    if arr.dtype.kind != "f" or arr.dtype.itemsize < 8:
        return arr  # integers and float32 are far inside the range in float64
    top = float(np.abs(arr).max())
    if top == 0.0 or 1.0 / _SAFE <= top <= _SAFE:
        return arr
    return np.ldexp(arr.astype(np.float64), -math.frexp(top)[1])


def _minmax(values: np.ndarray, mn: float, mx: float) -> np.ndarray:
    """``(values - mn) / (mx - mn)`` in float64 (``mx > mn``); where the span overflows
    (a map from near -max to near +max) everything is halved first, which is exact."""
    v = values.astype(np.float64)
    if not math.isfinite(mx - mn):
        v, mn, mx = v * 0.5, mn * 0.5, mx * 0.5
    return (v - mn) / (mx - mn)
