"""Correlation metrics: VISTA's NCC (Pearson's r, the MIT benchmark's CC).

References
----------
.. [1] Z. Bylinskii, T. Judd, A. Oliva, A. Torralba, F. Durand, "What do different
   evaluation metrics tell us about saliency models?", IEEE TPAMI 41(3), 2019; code:
   https://github.com/cvzoya/saliency (``code_forMetrics``).
.. [4] Harshit, T. Tasdizen, "VISTA: A Visual and Textual Attention Dataset for
   Interpreting Multimodal Models", 2024 (arXiv:2410.04609).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._shared import _as_map, _on_grid, _require_finite, _undefined
from .registry import register

__all__ = ["ncc"]

# The one-pass moment kernel converts blocks of _CHUNK elements to float64 (small enough
# to stay in cache) and takes dot products over sub-blocks of _DOT elements: OpenBLAS
# hands dot products of more than 10 000 elements to its thread pool, and on a busy
# machine each hand-off can cost milliseconds.
_CHUNK = 32768
_DOT = 8192


def _moments(a: np.ndarray, b: np.ndarray, shift_a: float, shift_b: float) -> np.ndarray:
    """Sums of x, y, x², y², xy with x = a - shift_a, y = b - shift_b, in float64.

    One pass in cache-sized blocks: each block is converted to float64 (exact for
    float32 and the products of two float32 are exact in float64) and reduced there.
    """
    a = a.reshape(-1)
    b = b.reshape(-1)
    n = a.size
    size = min(_CHUNK, n)
    bx = np.empty(size)
    by = np.empty(size)
    sx = sy = sxx = syy = sxy = 0.0
    dot, ein = np.dot, np.einsum
    for i in range(0, n, size):
        j = min(i + size, n)
        x, y = bx[: j - i], by[: j - i]
        np.copyto(x, a[i:j], casting="unsafe")
        np.copyto(y, b[i:j], casting="unsafe")
        if shift_a:
            np.subtract(x, shift_a, out=x)
        if shift_b:
            np.subtract(y, shift_b, out=y)
        sx += float(ein("i->", x))
        sy += float(ein("i->", y))
        for k in range(0, j - i, _DOT):
            xs, ys = x[k : k + _DOT], y[k : k + _DOT]
            sxx += float(dot(xs, xs))
            syy += float(dot(ys, ys))
            sxy += float(dot(xs, ys))
    return np.array([sx, sy, sxx, syy, sxy])


def _centred_moments(
    a: np.ndarray, b: np.ndarray, *, scaled: bool = False
) -> tuple[float, float, float]:
    """(Σ(x-x̄)², Σ(y-ȳ)², Σ(x-x̄)(y-ȳ)) in float64; NaN or inf in an input raises.

    Raw moments are used when that loses at most four of float64's sixteen digits
    (mean² / variance <= 10^4); otherwise a second pass subtracts the mean first, and a
    map whose minimum equals its maximum gets a variance of exactly zero. Maps so large
    or so small that their squares overflow or underflow are rescaled first (NCC does
    not change under scaling).
    """
    n = a.size
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sx, sy, sxx, syy, sxy = _moments(a, b, 0.0, 0.0)
    if not np.isfinite((sx, sy, sxx, syy, sxy)).all():
        _require_finite("saliency", a)
        _require_finite("human", b)
    in_range = [
        (m == 0 and t == 0) or 1e-200 < m / n < 1e200 for t, m in ((sx, sxx), (sy, syy))
    ]
    if not scaled and not all(in_range):
        # squares near float64's range limits lose precision or overflow: rescale
        return _centred_moments(*_unit_scaled(a, b), scaled=True)
    vx = sxx - sx * sx / n
    vy = syy - sy * sy / n
    if not (vx > 1e-4 * sxx and vy > 1e-4 * syy):
        sx, sy, sxx, syy, sxy = _moments(a, b, sx / n, sy / n)
        vx = 0.0 if a.min() == a.max() else sxx - sx * sx / n
        vy = 0.0 if b.min() == b.max() else syy - sy * sy / n
    return max(vx, 0.0), max(vy, 0.0), sxy - sx * sy / n


def _unit_scaled(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 copies of both maps divided by their largest absolute value."""
    out = []
    for m in (a, b):
        m = m.astype(np.float64)
        top = float(np.abs(m).max())
        out.append(m / top if top > 0 else m)
    return out[0], out[1]


@register(
    "ncc",
    needs="density",
    description="normalised cross-correlation with the human map (Pearson's r; VISTA's NCC, MIT CC)",
)
def ncc(saliency: Any, human: Any, *, resize: bool = False) -> float:
    """Normalised cross-correlation of the saliency map with the human density map.

    VISTA's NCC [4]_: ``1/(P-1) * sum(z_s * z_h)`` over the ``P`` pixels, with z-scores
    taken with the unbiased standard deviation. It equals Pearson's correlation
    coefficient, and the MIT benchmark's CC [1]_.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    human : array_like, shape (H, W)
        Human density map (non-negative).
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ;
        without it a shape mismatch raises.

    Returns
    -------
    float
        In [-1, 1]; NaN with an :class:`UndefinedMetricWarning` if either map is
        constant (pysaliency's ``CC`` returns 0 for a constant saliency map instead).

    Notes
    -----
    Computed in one pass over both maps in float64 (float32 inputs and their products
    are exact in float64), so the result matches ``np.corrcoef`` on float64 copies to
    about 1e-12 without making those copies; maps whose mean is large against their
    spread get a second, mean-centred pass so that this holds for them too.

    Examples
    --------
    >>> ncc([[1, 2], [3, 4]], [[1, 2], [3, 4]])
    1.0
    >>> ncc([[1, 2], [3, 4]], [[4, 3], [2, 1]])
    -1.0
    >>> round(ncc([[0, 1], [1, 3]], [[1, 2], [3, 4]]), 6)
    0.923381
    """
    s = _as_map("saliency", saliency)
    h = _as_map("human", human)
    s = _on_grid(s, h.shape, resize, "human")
    if s.size < 2:
        return _undefined("ncc", "the maps have a single pixel")
    vs, vh, cov = _centred_moments(s, h)
    if vs == 0.0 or vh == 0.0:
        which = "saliency" if vs == 0.0 else "human"
        return _undefined("ncc", f"the {which} map is constant")
    r = cov / math.sqrt(vs * vh)
    return float(min(1.0, max(-1.0, r)))
