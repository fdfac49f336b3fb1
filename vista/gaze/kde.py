"""Duration-weighted Gaussian density maps on the image grid.

The map of a set of fixations is the sum of isotropic Gaussians, one per fixation,
centred on the fixation (sub-pixel: nothing is rounded) and weighted by its
duration, evaluated at the pixel centres and normalised to sum to 1.

An isotropic Gaussian is separable, ``g(x, y) = g(x) g(y)``, so the map is a product
of two thin matrices::

    map[r, c] = sum_i w_i * gy_i(r) * gx_i(c)  =  (Gy^T  diag(w)  Gx)[r, c]

with ``Gx`` the N×W one-dimensional Gaussians evaluated at the column centres and
``Gy`` the N×H ones at the row centres: one (H×N)@(N×W) matrix product. That is the
dense per-fixation sum, exactly (same terms, no truncation, no rounding of
positions), at the cost of a BLAS call instead of N full-grid passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_array, check_int, check_positive
from ..imaging import MAX_IMAGE_PIXELS

__all__ = ["density_map", "gaussian_1d"]

_SERIAL_GEMM_SIZE = 250_000
"""Largest m·n·k of one matrix product: OpenBLAS runs products below 4·65536 on one
thread. See the Notes of :func:`density_map`."""


def gaussian_1d(centres: np.ndarray, n: int, sigma_px: float) -> np.ndarray:
    """Unnormalised 1-D Gaussians ``exp(-(k - c)^2 / (2 sigma^2))`` for ``k = 0..n-1``.

    One row per centre; float64, shape ``(len(centres), n)``.

    Examples
    --------
    >>> gaussian_1d(np.array([1.0]), 3, 1.0).round(4).tolist()
    [[0.6065, 1.0, 0.6065]]
    """
    # in place, one N×n temporary: this is a good part of the cost of a map
    d = np.subtract.outer(np.asarray(centres, dtype=np.float64) / sigma_px,
                          np.arange(n, dtype=np.float64) / sigma_px)
    d *= d
    d *= -0.5
    return np.exp(d, out=d)

def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        h, w = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width); got {shape!r}") from None
    h = check_int("shape[0] (height)", h, minimum=1)
    w = check_int("shape[1] (width)", w, minimum=1)
    if h * w > MAX_IMAGE_PIXELS:
        raise ValueError(f"shape {h}x{w} is over the pixel limit of {MAX_IMAGE_PIXELS} "
                         "(vista.imaging.MAX_IMAGE_PIXELS)")
    return h, w


# 1-D kernel values below this are zero in the float32 path: every product of two
# kept values stays a normal float32 (> 1.2e-38), never a slow denormal.
_FLOAT32_CUT = 1e-18


def density_map(
    xs: Any,
    ys: Any,
    weights: Any,
    *,
    shape: tuple[int, int],
    sigma_px: float,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Duration-weighted Gaussian kernel density of fixations on an image grid.

    Parameters
    ----------
    xs, ys : array_like of float, shape (N,)
        Fixation positions in image pixels, x right, y down. Column ``c`` is centred
        at ``x = c`` and row ``r`` at ``y = r`` (numpy's and EyeLink's pixel
        convention), so a fixation at ``x = 10.5`` lies midway between columns 10
        and 11; positions are used as given, never rounded. Positions outside the
        grid are allowed and contribute their tails.
    weights : array_like of float, shape (N,)
        Non-negative weight of each fixation, usually its duration in ms (or its
        overlap with an alignment window).
    shape : (int, int)
        ``(height, width)`` of the image grid.
    sigma_px : float
        Standard deviation of the Gaussian kernel in image pixels (> 0).
    dtype : {numpy.float64, numpy.float32}
        Precision of the map and of the final matrix product. ``float32`` (what the
        dataset folder stores, and what ``vista maps`` uses) writes half the bytes
        and runs about twice as fast; its error is below 1e-6 of the peak (2.4e-7
        measured in ``benchmarks/gaze.py``).

    Returns
    -------
    ndarray of ``dtype``, shape ``(height, width)``
        Non-negative, sums to 1 (to the rounding of ``dtype``).

    Raises
    ------
    ValueError
        If there are no fixations, the weights sum to zero (or are negative), the
        arrays differ in length or hold NaN/inf, or no density falls on the grid
        (every fixation tens of sigma off the image).

    Notes
    -----
    Boundary: the Gaussians are evaluated at the pixel centres of the grid only; mass
    falling outside the image is dropped and the map is renormalised to sum to 1.
    A fixation near the border therefore carries less of the total than a central
    one of the same duration, as in the dense per-fixation sum of common lab
    scripts and in saliency benchmarks. The kernel is sampled at pixel centres
    (not integrated over the pixel); the difference is below 0.1% of the peak for
    ``sigma_px >= 5``.

    Accuracy: the 1-D Gaussians and the normalising constant are always computed in
    float64. With ``dtype=float64`` the matrix product is float64 too and the result
    equals the dense sum to about 1e-15 of the peak. With ``dtype=float32`` the two
    factors are rounded to float32 (relative error 6e-8 each) and the 1-D values
    below 1e-18 are set to 0 first, so that no product is a denormal float (which
    would make the product ten times slower); what that drops is below 1e-13 of the
    peak.

    Threads: the product is computed in row blocks small enough (m·n·k below
    OpenBLAS's threshold) that BLAS runs each on one thread. On a busy machine a
    single 768×1024 product with 2 BLAS threads ran 5-10 times slower than with one
    (``benchmarks/gaze.py``); maps are independent, so parallelism belongs across
    maps, not inside one.

    The normalising constant is the analytic total ``sum_i w_i (sum gy_i)(sum gx_i)``,
    so the map is normalised without a second pass over it.

    Examples
    --------
    >>> m = density_map([10.5], [4.0], [200.0], shape=(9, 22), sigma_px=2.0)
    >>> round(float(m.sum()), 12)
    1.0
    >>> bool(m[4, 10] == m[4, 11])      # x = 10.5: exactly between columns 10 and 11
    True
    """
    sigma = check_positive("sigma_px", sigma_px)
    h, w = _check_shape(shape)
    x = check_array("xs", xs, ndim=1, dtype=np.float64)
    y = check_array("ys", ys, ndim=1, dtype=np.float64)
    wt = check_array("weights", weights, ndim=1, dtype=np.float64)
    if not (x.size == y.size == wt.size):
        raise ValueError(
            f"xs, ys and weights must have equal length; got {x.size}, {y.size}, {wt.size}"
        )
    if x.size == 0:
        raise ValueError("density_map needs at least one fixation; got 0")
    if (wt < 0).any():
        raise ValueError(f"weights must be >= 0; got {float(wt.min())!r}")
    if wt.sum() <= 0:
        raise ValueError("weights sum to 0: no fixation time to build a map from")
    gx = gaussian_1d(x, w, sigma)  # N×W
    gy = gaussian_1d(y, h, sigma)  # N×H
    total = float(np.dot(wt, gx.sum(axis=1) * gy.sum(axis=1)))
    if not total > 0:
        raise ValueError(
            "no density falls on the image grid: every fixation is too far off the image"
        )
    gy *= (wt / total)[:, None]  # fold weights and normalisation into the shorter side
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32; got {out_dtype}")
    gyt = gy.T
    if out_dtype == np.float32:
        gyt = np.ascontiguousarray(gyt, dtype=np.float32)
        gx = gx.astype(np.float32)
        gyt[gyt < _FLOAT32_CUT] = 0.0
        gx[gx < _FLOAT32_CUT] = 0.0
    out = np.empty((h, w), dtype=out_dtype)
    step = max(1, _SERIAL_GEMM_SIZE // (x.size * w))
    for r in range(0, h, step):
        np.matmul(gyt[r:r + step], gx, out=out[r:r + step])
    return out
