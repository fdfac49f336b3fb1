"""Saliency metrics: pure functions that compare a model's saliency map with people.

Every function takes the saliency map first and the human data second (a density map,
or a binary fixation mask for the fixation-based metrics), options keyword-only, and
returns a Python float. Inputs are never modified.

Input rules, shared by every metric:

* maps are 2-D numeric arrays (any integer, bool or float dtype) holding finite values;
  NaN or inf raises a ValueError naming the argument and counting the bad values;
* the saliency map must have the shape of the human map (or fixation mask), unless
  the caller passes ``resize=True``: then it is resized to that grid bilinearly
  (OpenCV ``INTER_LINEAR``, pixel centres aligned, no anti-aliasing) — never silently;
* human density maps must be non-negative; fixation masks mark fixated pixels with
  values > 0 (counts are allowed; negative values raise);
* where a quantity is undefined (a constant map for a correlation, fewer fixated pixels
  than the MIT code accepts, a human map with zero mass) the metric returns NaN and
  emits an :class:`UndefinedMetricWarning` that says why.

Fixations given as points (:func:`fixation_mask`, :func:`compute`) are in image pixels
with pixel centres at integer coordinates (x right, y down, the EyeLink convention):
a fixation at ``(x, y)`` marks pixel ``(row, col) = (floor(y + 0.5), floor(x + 0.5))``.
Fixations that land outside the grid are dropped with a warning that counts them;
fixation weights (durations) are ignored by the MIT metrics, which use a binary mask
in which a pixel fixated twice counts once, as in the MIT benchmark.

References
----------
.. [1] Z. Bylinskii, T. Judd, A. Oliva, A. Torralba, F. Durand, "What do different
   evaluation metrics tell us about saliency models?", IEEE TPAMI 41(3), 2019; code:
   https://github.com/cvzoya/saliency (``code_forMetrics``).
.. [2] A. Borji, H. R. Tavakoli, D. N. Sihite, L. Itti, "Analysis of scores, datasets,
   and models in visual saliency prediction", ICCV 2013.
.. [3] M. Kümmerer, T. Wallis, M. Bethge, "Information-theoretic model comparison
   unifies saliency metrics", PNAS 112(52), 2015.
.. [4] Harshit, T. Tasdizen, "VISTA: A Visual and Textual Attention Dataset for
   Interpreting Multimodal Models", 2024 (arXiv:2410.04609).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .._validation import as_rng, check_array, check_int, check_positive
from .registry import _spec_kwargs, get_metric, metric_names, register

__all__ = [
    "MATLAB_EPS",
    "UndefinedMetricWarning",
    "auc_borji",
    "auc_borji_mit",
    "auc_judd",
    "auc_shuffled",
    "center_bias",
    "compute",
    "compute_all",
    "fixation_mask",
    "info_gain",
    "kld",
    "ncc",
    "nss",
    "resize_bilinear",
    "sim",
]

MATLAB_EPS: float = float(np.finfo(np.float64).eps)
"""MATLAB's ``eps`` (2.2204e-16), the regulariser of the MIT KLD and information gain."""

# The one-pass moment kernel converts blocks of _CHUNK elements to float64 (small enough
# to stay in cache) and takes dot products over sub-blocks of _DOT elements: OpenBLAS
# hands dot products of more than 10 000 elements to its thread pool, and on a busy
# machine each hand-off can cost milliseconds.
_CHUNK = 32768
_DOT = 8192
_BLOCK = 32  # pixels per block in the sampler of auc_borji


class UndefinedMetricWarning(RuntimeWarning):
    """A metric is undefined for the given inputs; NaN was returned."""


def _undefined(metric: str, reason: str) -> float:
    warnings.warn(
        f"{metric} is undefined: {reason}; returning NaN", UndefinedMetricWarning, stacklevel=3
    )
    return math.nan


# --------------------------------------------------------------------------- inputs


def _as_map(name: str, value: Any) -> np.ndarray:
    """``value`` as a non-empty 2-D numeric array (no copy); finiteness checked later."""
    arr = check_array(name, value, ndim=2, finite=False)
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
    without anti-aliasing). float32 stays float32; every other dtype becomes float64.
    The metrics call this only when asked to (``resize=True``); MATLAB's ``imresize``
    in the MIT code is bicubic with anti-aliasing, so resized scores differ slightly
    from the MIT code's.

    Examples
    --------
    >>> resize_bilinear(np.array([[0.0, 1.0]]), (1, 4)).round(3).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    import cv2

    arr = _as_map("values", values)
    _require_finite("values", arr)
    rows, cols = (int(shape[0]), int(shape[1]))
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive; got {shape}")
    if arr.shape == (rows, cols):
        return arr.copy()
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    out = cv2.resize(np.ascontiguousarray(arr), (cols, rows), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out).reshape(rows, cols)


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
    arr = check_array(name, fixations, ndim=2)
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


# --------------------------------------------------------------------------- NCC


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


# --------------------------------------------------------------------------- VISTA AUC


def _block_sums(flat: np.ndarray) -> np.ndarray:
    """Sums of consecutive blocks of ``_BLOCK`` pixels (the last block may be shorter).

    One vectorised pass in the map's own precision (float32 or float64), as fast as a
    BLAS matrix-vector product without its thread pool. NaN and inf propagate into the
    sums, so they also serve as the finiteness check.
    """
    full = flat.size // _BLOCK
    out = np.empty(-(-flat.size // _BLOCK), dtype=flat.dtype)
    if full:
        out[:full] = np.einsum("ij->i", flat[: full * _BLOCK].reshape(full, _BLOCK))
    if out.size > full:
        out[full] = flat[full * _BLOCK :].sum()
    return out


def _sample_density(
    flat: np.ndarray, n: int, rng: np.random.Generator, sums: np.ndarray | None = None
) -> np.ndarray | None:
    """``n`` flat indices drawn i.i.d. with probability proportional to ``flat`` (>= 0).

    Exact, without a full-length cumulative sum: a block is chosen with probability
    proportional to an upper bound ``g_b`` of its mass (from the fast block sums, whose
    rounding error is bounded), a point is drawn uniformly in ``[0, g_b)``, and it is
    kept if it falls under the block's exact float64 cumulative sum, which also names
    the pixel. Every kept draw lands on pixel ``i`` with probability ``flat[i] / sum``;
    the rare rejected draws (a few in a million) are drawn again. A zero-weight pixel is
    never chosen. Returns None if the total mass is 0. ``sums`` are the block sums of
    ``flat`` when the caller already has them.
    """
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float64)
        sums = None
    sums = (_block_sums(flat) if sums is None else sums).astype(np.float64)
    if not np.isfinite(sums).all():  # finite values whose float32 sums overflow
        flat = flat.astype(np.float64)
        flat = flat / flat.max()
        sums = _block_sums(flat)
    # float sums of B non-negative terms are within (B - 1) * u of the exact sum;
    # 2 * B * u plus B subnormals is a safe upper bound
    unit = float(np.finfo(flat.dtype).eps) / 2
    tiny = float(np.finfo(flat.dtype).smallest_subnormal)
    bound = np.where(sums > 0, sums * (1 + 2 * _BLOCK * unit) + _BLOCK * tiny, 0.0)
    cum = np.cumsum(bound)
    total = float(cum[-1])
    if not total > 0.0:
        return None
    size = flat.size
    steps = np.arange(_BLOCK, dtype=np.intp)
    out = np.empty(n, dtype=np.intp)
    filled = 0
    while filled < n:
        u = rng.random(n - filled) * total
        u.sort()  # the draws form a set; sorted, the look-ups below walk memory in order
        blocks = np.minimum(np.searchsorted(cum, u, side="right"), cum.size - 1)
        residual = u - (cum[blocks] - bound[blocks])
        # one column per draw (block pixels down the rows), so the cumulative sum runs
        # along axis 0 as whole-row vector additions
        cols = steps[:, None] + blocks * _BLOCK
        if int(cols[-1].max()) >= size:  # the short last block: pad with zeros
            values = np.where(cols < size, flat[np.minimum(cols, size - 1)], 0).astype(np.float64)
        else:
            values = flat[cols].astype(np.float64)
        within = values  # cumulative sums down the rows, in place
        for r in range(1, _BLOCK):
            np.add(within[r - 1], within[r], out=within[r])
        keep = (residual >= 0) & (residual < within[-1])
        k = (within <= residual).sum(axis=0)
        got = blocks[keep] * _BLOCK + k[keep]
        out[filled : filled + got.size] = got
        filled += got.size
    return out


def _rank_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + P(pos == neg) / 2, exactly, from ranks (Mann-Whitney U / n m)."""
    neg = np.sort(neg)
    lo = np.searchsorted(neg, pos, side="left")
    hi = np.searchsorted(neg, pos, side="right")
    twice_u = 2 * int(lo.sum()) + int((hi - lo).sum())
    return twice_u / (2.0 * pos.size * neg.size)


@register(
    "auc_borji",
    needs="density",
    description="VISTA's AUC-Borji: positives drawn from the human map, uniform negatives, exact ranks",
)
def auc_borji(
    saliency: Any,
    human: Any,
    *,
    n_pos: int = 1000,
    n_neg: int = 1000,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> float:
    """VISTA's AUC-Borji: how well the saliency map separates human-attended pixels.

    ``n_pos`` positive pixels are drawn with probability proportional to the human
    density map and ``n_neg`` negative pixels uniformly over the image (both with
    replacement); the score is ``P(s_pos > s_neg) + P(s_pos == s_neg) / 2``, computed
    exactly from ranks (the Mann-Whitney statistic), not from a threshold sweep.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    human : array_like, shape (H, W)
        Human density map (non-negative, any total mass).
    n_pos, n_neg : int, default 1000
        Number of positive and negative samples.
    rng : numpy.random.Generator or int or None
        Randomness: positives are drawn first (``n_pos`` uniforms), then negatives
        (``n_neg`` integers). Same seed, same number.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ.

    Returns
    -------
    float
        In [0, 1], 0.5 for a map at chance (a constant map scores exactly 0.5). NaN with
        an :class:`UndefinedMetricWarning` if the human map has zero mass.

    Notes
    -----
    The MIT benchmark's AUC-Borji (:func:`auc_borji_mit`) takes positives from fixated
    pixels of a binary map, sweeps thresholds in steps of 0.1 and averages 100 splits;
    this variant samples positives from the (KDE) density and has no threshold
    discretisation, so it is exact for the drawn samples.

    Examples
    --------
    >>> auc_borji([[0.0, 1.0]], [[0.0, 1.0]], rng=0)  # expected 0.75: half the negatives tie
    0.739
    """
    n_pos = check_int("n_pos", n_pos, minimum=1)
    n_neg = check_int("n_neg", n_neg, minimum=1)
    s = _as_map("saliency", saliency)
    h = _as_map("human", human)
    s = _on_grid(s, h.shape, resize, "human")
    _fast_finite("saliency", s)
    hmin = float(h.min())
    if not hmin >= 0:
        _require_finite("human", h)
        raise ValueError(f"human must be a non-negative density map; its minimum is {hmin:g}")
    flat_h = h.reshape(-1)
    sums = _block_sums(flat_h) if flat_h.dtype in (np.float32, np.float64) else None
    if sums is not None and not np.isfinite(sums).all():
        _require_finite("human", h)  # inf (NaN would have shown in the minimum)
    gen = as_rng(rng)
    pos = _sample_density(flat_h, n_pos, gen, sums)
    if pos is None:
        return _undefined("auc_borji", "the human map has zero mass (all zeros)")
    neg = gen.integers(0, h.size, size=n_neg)
    flat = s.reshape(-1)
    return _rank_auc(flat[pos], flat[neg])


# --------------------------------------------------------------------------- MIT AUCs


def _colon_last(limit: np.ndarray, step: float) -> np.ndarray:
    """Index K of the last element of MATLAB's ``0:step:limit`` (3-ulp tolerance)."""
    q = limit / step
    k = np.floor(q)
    k = np.where((k + 1) - q <= 3 * MATLAB_EPS * np.maximum(q, 1.0), k + 1, k)
    return k.astype(np.intp)


def _sweep_auc(pos: np.ndarray, neg: np.ndarray, step: float) -> float:
    """The MIT threshold-sweep AUC, averaged over splits.

    ``pos`` holds the N normalised saliency values at fixated pixels; each row of
    ``neg`` (n_splits × M) the values at one split's negative locations. For each split
    the thresholds are MATLAB's ``fliplr(0:step:max([pos; neg_s]))``; the hit and
    false-alarm rates at each threshold (``>=``), with (0, 0) prepended and (1, 1)
    appended, give a trapezoid area. Counting is vectorised over splits and thresholds
    with one ``searchsorted``; thresholds above a split's maximum add (0, 0) points,
    which add no area, so one grid serves every split.
    """
    n_splits, m = neg.shape
    n = pos.size
    limits = np.maximum(neg.max(axis=1), pos.max())
    k_last = _colon_last(limits, step)
    k_max = int(k_last.max())
    thresholds = np.arange(k_max + 1) * step
    tp = np.empty((n_splits, k_max + 1), dtype=np.int64)
    tp[:] = n - np.searchsorted(np.sort(pos), thresholds, side="left")
    bins = np.searchsorted(thresholds, neg, side="right")  # thresholds <= value
    flat = (np.arange(n_splits)[:, None] * (k_max + 2) + bins).reshape(-1)
    hist = np.bincount(flat, minlength=n_splits * (k_max + 2)).reshape(n_splits, k_max + 2)
    fp = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]
    # MATLAB's colon clamps its last element to the limit when within tolerance
    clamped = np.flatnonzero(thresholds[k_last] > limits)
    if clamped.size:
        lim = limits[clamped]
        tp[clamped, k_last[clamped]] = (pos[None, :] == lim[:, None]).sum(axis=1)
        fp[clamped, k_last[clamped]] = (neg[clamped] == lim[:, None]).sum(axis=1)
    zeros = np.zeros((n_splits, 1))
    ones = np.ones((n_splits, 1))
    y = np.hstack([zeros, tp[:, ::-1] / n, ones])
    x = np.hstack([zeros, fp[:, ::-1] / m, ones])
    area = (np.diff(x, axis=1) * (y[:, 1:] + y[:, :-1])).sum(axis=1) / 2.0
    return float(area.mean())


def _normalised(flat: np.ndarray, idx: np.ndarray, mn: float, mx: float) -> np.ndarray:
    """Min-max normalised values at ``idx``, in float64, without touching the full map."""
    return (flat[idx].astype(np.float64) - mn) / (mx - mn)


def _check_step(step: float) -> float:
    step = check_positive("step", step)
    if step > 1:
        raise ValueError(f"step must be in (0, 1] (a fraction of the normalised range); got {step!r}")
    return step


@register(
    "auc_borji_mit",
    needs="fixations",
    description="MIT benchmark AUC-Borji: fixated pixels vs uniform random pixels, threshold sweep",
)
def auc_borji_mit(
    saliency: Any,
    fixation_mask: Any,
    *,
    n_splits: int = 100,
    step: float = 0.1,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> float:
    """The MIT saliency benchmark's AUC-Borji, to the letter [1]_ [2]_.

    The saliency map is min-max normalised; positives are the saliency values at the
    fixated pixels (``fixation_mask > 0``); each of ``n_splits`` splits draws as many
    negatives as there are fixated pixels, uniformly with replacement over all pixels
    (MATLAB ``randi``); thresholds run ``0:step:max`` over that split's values and are
    swept from high to low; hit and false-alarm rates (``>=``) with (0, 0) and (1, 1)
    added give a trapezoid area; the score is the mean over splits.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    fixation_mask : array_like, shape (H, W)
        Binary fixation map (counts are allowed: fixated means > 0).
    n_splits : int, default 100
        Random splits (MIT ``Nsplits``).
    step : float, default 0.1
        Threshold step on the normalised map (MIT ``stepSize``).
    rng : numpy.random.Generator or int or None
        Randomness for the negatives: one ``integers`` call of shape
        (fixated pixels, n_splits).
    resize : bool, default False
        Resize ``saliency`` bilinearly to the mask's grid when the shapes differ (the
        MIT code always resizes, with bicubic ``imresize``).

    Returns
    -------
    float
        In [0, 1]. NaN with an :class:`UndefinedMetricWarning` where the MIT code gives
        NaN: fewer than two fixated pixels, or a constant saliency map.

    Notes
    -----
    Thresholds are ``k * step`` (as Octave computes ranges; MATLAB's colon operator may
    differ in the last bit, which matters only for values lying exactly on a
    threshold); the last one is clamped to the maximum when within 3 ulps of it, as
    both do. Normalisation is done in float64 (the MIT code normalises in the map's
    own class, single or double). Only the sampled values are normalised, so no
    full-size copy of the map is made.

    Examples
    --------
    >>> s = np.arange(16.0).reshape(4, 4)
    >>> mask = np.zeros((4, 4), bool); mask[3, 2:] = True
    >>> round(auc_borji_mit(s, mask, rng=0), 4)
    0.92
    """
    n_splits = check_int("n_splits", n_splits, minimum=1)
    step = _check_step(step)
    s, idx, _, mn, mx = _on_mask(saliency, fixation_mask, resize)
    if idx.size <= 1:
        return _undefined(
            "auc_borji_mit", f"it needs at least 2 fixated pixels (got {idx.size}), as in the MIT code"
        )
    if mx == mn:
        return _undefined("auc_borji_mit", "the saliency map is constant (min-max normalisation)")
    flat = s.reshape(-1)
    gen = as_rng(rng)
    rand = gen.integers(0, flat.size, size=(n_splits, idx.size))
    return _sweep_auc(_normalised(flat, idx, mn, mx), _normalised(flat, rand, mn, mx), step)


@register(
    "auc_shuffled",
    needs="fixations+others",
    description="MIT shuffled AUC: fixated pixels vs fixations from other images (centre-bias robust)",
)
def auc_shuffled(
    saliency: Any,
    fixation_mask: Any,
    other_mask: Any,
    *,
    n_splits: int = 100,
    step: float = 0.1,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> float:
    """The MIT benchmark's shuffled AUC [1]_.

    As :func:`auc_borji_mit`, but each split's negatives are the saliency values at
    ``min(N, L)`` pixels drawn without replacement from the ``L`` pixels fixated on
    other images (``other_mask > 0``), N being the number of fixated pixels here.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    fixation_mask : array_like, shape (H, W)
        Binary fixation map of this image.
    other_mask : array_like, shape (H, W)
        Binary map of the fixations on other images (the MIT code uses the union of
        10 other images).
    n_splits : int, default 100
        Random splits.
    step : float, default 0.1
        Threshold step on the normalised map.
    rng : numpy.random.Generator or int or None
        Randomness for the choice of negatives.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the masks' grid when the shapes differ.

    Returns
    -------
    float
        NaN with an :class:`UndefinedMetricWarning` where the MIT code gives NaN: no
        fixated pixel, no pixel in ``other_mask``, or a constant saliency map.

    Examples
    --------
    >>> s = np.arange(16.0).reshape(4, 4)
    >>> mine = np.zeros((4, 4), bool); mine[3, :] = True
    >>> others = np.zeros((4, 4), bool); others[0, :] = True
    >>> auc_shuffled(s, mine, others, rng=0)
    1.0
    """
    n_splits = check_int("n_splits", n_splits, minimum=1)
    step = _check_step(step)
    s, idx, shape, mn, mx = _on_mask(saliency, fixation_mask, resize)
    other, other_shape = _mask_indices("other_mask", other_mask)
    if other_shape != shape:
        raise ValueError(
            f"other_mask has shape {other_shape} but fixation_mask has shape {shape}"
        )
    if idx.size == 0:
        return _undefined("auc_shuffled", "fixation_mask has no fixated pixel")
    if other.size == 0:
        return _undefined("auc_shuffled", "other_mask has no fixated pixel")
    if mx == mn:
        return _undefined("auc_shuffled", "the saliency map is constant (min-max normalisation)")
    flat = s.reshape(-1)
    gen = as_rng(rng)
    m = min(idx.size, other.size)
    # each split: the first m of a random permutation of the other-image pixels
    keys = gen.random((n_splits, other.size))
    if m < other.size:
        chosen = other[np.argpartition(keys, m - 1, axis=1)[:, :m]]
    else:
        chosen = np.broadcast_to(other, (n_splits, other.size))
    return _sweep_auc(_normalised(flat, idx, mn, mx), _normalised(flat, chosen, mn, mx), step)


@register(
    "auc_judd",
    needs="fixations",
    description="MIT AUC-Judd: fixated pixels vs all other pixels, thresholds at fixated values",
)
def auc_judd(
    saliency: Any,
    fixation_mask: Any,
    *,
    jitter: bool = True,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> float:
    """The MIT benchmark's AUC-Judd [1]_.

    With ``jitter``, uniform noise in [0, 1e-7) is added to the raw map to break ties
    (as the MIT code does, before normalisation and so relative to the map's own
    scale); the map is min-max normalised; the thresholds are the saliency values at
    the fixated pixels, swept from high to low; the hit rate at the i-th threshold is
    ``i / N`` and the false-alarm rate ``(#pixels >= threshold - i) / (P - N)``; the
    score is the trapezoid area with (0, 0) and (1, 1) added.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    fixation_mask : array_like, shape (H, W)
        Binary fixation map.
    jitter : bool, default True
        Add the MIT tie-breaking noise (MIT default: on).
    rng : numpy.random.Generator or int or None
        Randomness for the jitter.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the mask's grid when the shapes differ.

    Returns
    -------
    float
        NaN with an :class:`UndefinedMetricWarning` if no pixel (or every pixel) is
        fixated, or the (jittered) map is constant.

    Examples
    --------
    >>> s = np.arange(16.0).reshape(4, 4)
    >>> mask = np.zeros((4, 4), bool); mask[3, 2:] = True
    >>> auc_judd(s, mask, jitter=False)  # the two fixated pixels are the two brightest
    1.0
    >>> mask[0, 0] = True  # add a fixation on the darkest pixel
    >>> round(auc_judd(s, mask, jitter=False), 6)
    0.833333
    """
    s, idx, _, _, _ = _on_mask(saliency, fixation_mask, resize)
    n, p = idx.size, s.size
    if n == 0:
        return _undefined("auc_judd", "fixation_mask has no fixated pixel")
    if n == p:
        return _undefined("auc_judd", "every pixel is fixated, so there are no negatives")
    flat = s.reshape(-1).astype(np.float64)
    if jitter:
        flat = flat + as_rng(rng).random(p) / 1e7
    mn, mx = float(flat.min()), float(flat.max())
    if mx == mn:
        return _undefined("auc_judd", "the saliency map is constant (min-max normalisation)")
    flat = (flat - mn) / (mx - mn)
    thr = np.sort(flat[idx])  # ascending
    # number of pixels >= each threshold: pixels binned by how many thresholds they reach
    reach = np.searchsorted(thr, flat, side="right")
    hist = np.bincount(reach, minlength=n + 1)
    above_asc = np.cumsum(hist[::-1])[::-1][1:]  # above_asc[i] = #(flat >= thr[i])
    above = above_asc[::-1]  # descending thresholds
    i = np.arange(1, n + 1)
    tp = np.concatenate([[0.0], i / n, [1.0]])
    fp = np.concatenate([[0.0], (above - i) / (p - n), [1.0]])
    return float((np.diff(fp) * (tp[1:] + tp[:-1])).sum() / 2.0)


# --------------------------------------------------------------------------- NSS, SIM, KLD, IG


@register(
    "nss",
    needs="fixations",
    description="normalised scanpath saliency: mean z-scored saliency at fixated pixels (MIT)",
)
def nss(saliency: Any, fixation_mask: Any, *, resize: bool = False) -> float:
    """Normalised scanpath saliency, as in the MIT benchmark [1]_.

    The saliency map is z-scored with its mean and unbiased (N-1) standard deviation,
    MATLAB's ``std``; the score is the mean z-score over the fixated pixels (a pixel
    fixated twice counts once). pysaliency's ``NSS`` uses the biased standard
    deviation and counts every fixation, so it differs by ``sqrt(P / (P - 1))`` and
    by the weighting of repeated pixels.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    fixation_mask : array_like, shape (H, W)
        Binary fixation map.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the mask's grid when the shapes differ.

    Returns
    -------
    float
        NaN with an :class:`UndefinedMetricWarning` for a constant map or an empty mask.

    Examples
    --------
    >>> mask = np.array([[0, 0], [0, 1]])
    >>> round(nss([[1, 2], [3, 4]], mask), 6)
    1.161895
    """
    s, idx, _, _, _ = _on_mask(saliency, fixation_mask, resize)
    if idx.size == 0:
        return _undefined("nss", "fixation_mask has no fixated pixel")
    if s.size < 2:
        return _undefined("nss", "the map has a single pixel")
    mean = float(s.mean(dtype=np.float64))
    std = float(s.std(dtype=np.float64, ddof=1))
    if std == 0.0:
        return _undefined("nss", "the saliency map is constant")
    vals = s.reshape(-1)[idx].astype(np.float64)
    return float(((vals - mean) / std).mean())


def _mit_distribution(arr: np.ndarray, *, minmax: bool) -> np.ndarray | None:
    """The MIT code's map-to-distribution step, in float64.

    A map with any non-zero value is (optionally) min-max normalised, then divided by
    its sum; an all-zero map stays all zeros. Returns None where the MIT code produces
    NaN (min-max normalisation of a constant non-zero map).
    """
    m = arr.astype(np.float64)
    if not m.any():
        return m
    if minmax:
        mn, mx = float(m.min()), float(m.max())
        if mx == mn:
            return None
        m = (m - mn) / (mx - mn)
    return m / m.sum()


@register(
    "sim",
    needs="density",
    description="similarity (histogram intersection) of the two maps as distributions (MIT)",
)
def sim(saliency: Any, human: Any, *, resize: bool = False) -> float:
    """Similarity (histogram intersection), as in the MIT benchmark [1]_.

    Each map is min-max normalised and divided by its sum (an all-zero map stays zero);
    the score is ``sum(min(p_saliency, p_human))``, 1 for identical distributions.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    human : array_like, shape (H, W)
        Human density map (non-negative).
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ.

    Returns
    -------
    float
        In [0, 1]. NaN with an :class:`UndefinedMetricWarning` if a map is constant and
        non-zero (the MIT code's min-max normalisation divides by zero there) or the
        human map is all zeros.

    Examples
    --------
    >>> sim([[0, 1], [1, 2]], [[0, 1], [1, 2]])
    1.0
    >>> sim([[0, 0], [0, 1]], [[1, 0], [0, 0]])
    0.0
    """
    s = _as_map("saliency", saliency)
    h, _, hmax = _density("human", human)
    s = _on_grid(s, h.shape, resize, "human")
    _finite_range("saliency", s)
    if hmax == 0:
        return _undefined("sim", "the human map has zero mass (all zeros)")
    ps = _mit_distribution(s, minmax=True)
    ph = _mit_distribution(h, minmax=True)
    if ps is None or ph is None:
        which = "saliency" if ps is None else "human"
        return _undefined("sim", f"the {which} map is constant (min-max normalisation)")
    return float(np.minimum(ps, ph).sum())


@register(
    "kld",
    needs="density",
    higher_is_better=False,
    description="KL divergence of the saliency distribution from the human one, nats (MIT)",
)
def kld(saliency: Any, human: Any, *, resize: bool = False) -> float:
    """Kullback-Leibler divergence, as in the MIT benchmark [1]_.

    Both maps are divided by their sums (an all-zero saliency map stays zero) and
    ``sum(h * log(eps + h / (s + eps)))`` is returned, ``eps`` = :data:`MATLAB_EPS`,
    natural logarithm (nats). Lower is better; 0 for identical distributions.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map, non-negative (a map with negative values is not a
        distribution: shift or clip it first).
    human : array_like, shape (H, W)
        Human density map (non-negative).
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ.

    Returns
    -------
    float
        NaN with an :class:`UndefinedMetricWarning` if the human map is all zeros
        (the MIT code returns 0 there).

    Examples
    --------
    >>> abs(kld([[1, 1], [1, 1]], [[1, 1], [1, 1]])) < 1e-12
    True
    >>> round(kld([[1, 1], [1, 1]], [[0, 0], [0, 1]]), 6)
    1.386294
    """
    s = _as_map("saliency", saliency)
    h, _, hmax = _density("human", human)
    s = _on_grid(s, h.shape, resize, "human")
    smin, _ = _finite_range("saliency", s)
    if smin < 0:
        raise ValueError(
            f"saliency must be non-negative for kld (it is treated as a distribution); "
            f"its minimum is {smin:g}"
        )
    if hmax == 0:
        return _undefined("kld", "the human map has zero mass (all zeros)")
    ps = _mit_distribution(s, minmax=False)
    ph = _mit_distribution(h, minmax=False)
    assert ps is not None and ph is not None  # no min-max step, never None
    return float((ph * np.log(MATLAB_EPS + ph / (ps + MATLAB_EPS))).sum())


def center_bias(shape: tuple[int, int], *, sigma: float = 0.25) -> np.ndarray:
    """A centre-bias baseline map: a Gaussian at the image centre.

    Parameters
    ----------
    shape : tuple of int
        (rows, columns).
    sigma : float, default 0.25
        Standard deviation as a fraction of each side: ``sigma * width`` horizontally,
        ``sigma * height`` vertically.

    Returns
    -------
    numpy.ndarray
        float64 map of ``shape`` summing to 1, peaked at ``((W-1)/2, (H-1)/2)``.

    Examples
    --------
    >>> m = center_bias((3, 3))
    >>> float(m.sum()), m.argmax()
    (1.0, np.int64(4))
    """
    rows = check_int("shape[0]", shape[0], minimum=1)
    cols = check_int("shape[1]", shape[1], minimum=1)
    sigma = check_positive("sigma", sigma)
    y = (np.arange(rows) - (rows - 1) / 2.0) / (sigma * rows)
    x = (np.arange(cols) - (cols - 1) / 2.0) / (sigma * cols)
    m = np.exp(-0.5 * y[:, None] ** 2) * np.exp(-0.5 * x[None, :] ** 2)
    return m / m.sum()


@register(
    "info_gain",
    needs="fixations",
    description="information gain over a baseline (centre bias by default) at fixated pixels, bits (MIT)",
)
def info_gain(
    saliency: Any, fixation_mask: Any, *, baseline: Any = None, resize: bool = False
) -> float:
    """Information gain of the saliency map over a baseline, as the MIT ``InfoGain.m`` [1]_ [3]_.

    Both maps are min-max normalised and divided by their sums; the score is the mean,
    over fixated pixels, of ``log2(eps + p_saliency) - log2(eps + p_baseline)``
    (bits per fixated pixel), ``eps`` = :data:`MATLAB_EPS`.

    Parameters
    ----------
    saliency : array_like, shape (H, W)
        Model saliency map.
    fixation_mask : array_like, shape (H, W)
        Binary fixation map.
    baseline : array_like, shape (H, W), optional
        The baseline map. Default: :func:`center_bias` of the grid (a Gaussian with
        sigma a quarter of each side). The MIT benchmark uses a centre-bias map too;
        pass the fixation map of other images for the other common choice.
    resize : bool, default False
        Resize ``saliency`` (and ``baseline``) bilinearly to the mask's grid.

    Returns
    -------
    float
        Positive when the saliency map predicts the fixations better than the
        baseline. NaN with an :class:`UndefinedMetricWarning` for an empty mask or a
        constant saliency or baseline map.

    Examples
    --------
    >>> s = center_bias((4, 4))
    >>> mask = np.zeros((4, 4), bool); mask[1, 1] = True
    >>> info_gain(s, mask)
    0.0
    """
    s, idx, shape, _, _ = _on_mask(saliency, fixation_mask, resize)
    if baseline is None:
        b = center_bias(shape)
    else:
        b = _on_grid(_as_map("baseline", baseline), shape, resize, "fixation_mask")
        _finite_range("baseline", b)
    if idx.size == 0:
        return _undefined("info_gain", "fixation_mask has no fixated pixel")
    ps = _mit_distribution(s, minmax=True)
    pb = _mit_distribution(b, minmax=True)
    if ps is None or pb is None or not ps.any() or not pb.any():
        which = "saliency" if ps is None or not ps.any() else "baseline"
        return _undefined("info_gain", f"the {which} map is constant (min-max normalisation)")
    vs = ps.reshape(-1)[idx]
    vb = pb.reshape(-1)[idx]
    return float((np.log2(MATLAB_EPS + vs) - np.log2(MATLAB_EPS + vb)).mean())


# --------------------------------------------------------------------------- compute


def _required_points(
    metric: str, name: str, value: Any, shape: tuple[int, int], *, allow_empty: bool = False
) -> np.ndarray:
    """The mask of ``value``'s points; None, or (unless ``allow_empty``) no point on the
    grid, raises."""
    if value is None:
        raise ValueError(
            f"metric {metric!r} needs {name} (an N×3 array of x, y, weight in image pixels); "
            "got None"
        )
    pts = _points(name, value)
    if pts.shape[0] == 0 and not allow_empty:
        raise ValueError(f"metric {metric!r} needs at least one fixation; {name} is empty")
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    idx = _fixation_indices(name, pts, shape)
    if idx.size == 0 and not allow_empty and pts.shape[0]:
        raise ValueError(
            f"metric {metric!r} needs at least one fixation on the {shape[0]}×{shape[1]} grid; "
            f"none of the {pts.shape[0]} {name} fall on it"
        )
    mask[idx] = True
    return mask.reshape(shape)


def compute(
    name: str,
    saliency: Any,
    human: Any,
    *,
    fixations: Any = None,
    other_fixations: Any = None,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
    **options: Any,
) -> float:
    """Compute the registered metric ``name`` for one saliency map against one human map.

    Parameters
    ----------
    name : str
        A name from :func:`vista.metrics.metric_names`.
    saliency : array_like, shape (h, w)
        Model saliency map.
    human : array_like, shape (H, W)
        Human density map; its grid is the grid every metric is computed on.
    fixations : array_like, shape (N, 3) or (N, 2), optional
        ``x, y, weight`` in image pixels (as :meth:`vista.dataset.Dataset.load_fixations`
        returns them). Needed by the fixation-based metrics, which build their binary
        mask from it (see :func:`fixation_mask` for the rounding rule).
    other_fixations : array_like, shape (M, 2) or (M, 3), optional
        Fixations from other images, for ``auc_shuffled`` (None raises there; an empty
        array gives NaN with an :class:`UndefinedMetricWarning`, as the MIT code).
    rng : numpy.random.Generator or int or None
        Passed to metrics that sample.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ.
    **options
        Further keyword options of the metric function (``n_splits``, ``step``,
        ``baseline``, ``jitter``, ``n_pos``, ``n_neg``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Unknown metric or option, bad inputs, or a fixation-based metric without
        fixations (None, empty, or none on the grid), or ``auc_shuffled`` without
        ``other_fixations``.

    Examples
    --------
    >>> h = np.array([[0.0, 0.1], [0.2, 0.7]])
    >>> compute("ncc", h, h)
    1.0
    >>> compute("nss", [[1, 2], [3, 4]], h, fixations=[[1.0, 1.0, 200.0]])  # x=1, y=1
    1.161895003862225
    >>> compute("nss", h, h)
    Traceback (most recent call last):
    ...
    ValueError: metric 'nss' needs fixations (an N×3 array of x, y, weight in image pixels); got None
    """
    spec = get_metric(name)
    accepted = _spec_kwargs(spec)
    unknown = sorted(set(options) - accepted)
    if unknown:
        known = ", ".join(sorted(accepted)) or "none"
        raise ValueError(f"metric {name!r} has no option {', '.join(unknown)}; its options: {known}")
    kwargs: dict[str, Any] = dict(options)
    if "rng" in accepted:
        kwargs["rng"] = rng
    if "resize" in accepted:
        kwargs["resize"] = resize
    if spec.needs == "density":
        return float(spec.func(saliency, human, **kwargs))
    grid = _as_map("human", human).shape
    shape = (grid[0], grid[1])
    mask = _required_points(name, "fixations", fixations, shape)
    if spec.needs == "fixations":
        return float(spec.func(saliency, mask, **kwargs))
    # no fixation from other images is the MIT code's NaN case, not a missing input
    others = _required_points(name, "other_fixations", other_fixations, shape, allow_empty=True)
    return float(spec.func(saliency, mask, others, **kwargs))


def compute_all(
    saliency: Any,
    human: Any,
    *,
    fixations: Any = None,
    other_fixations: Any = None,
    metrics: list[str] | tuple[str, ...] | None = None,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> dict[str, float]:
    """Every applicable metric for one pair of maps, in registry order.

    Density metrics always apply; fixation metrics when ``fixations`` is given;
    ``auc_shuffled`` when ``other_fixations`` is given too. One Generator made from
    ``rng`` serves every sampling metric in turn, so a seed fixes the whole table.

    Parameters
    ----------
    saliency, human, fixations, other_fixations, rng, resize
        As in :func:`compute`.
    metrics : sequence of str, optional
        Only these metrics (each must apply); default: all that apply.

    Returns
    -------
    dict
        Metric name to value.

    Examples
    --------
    >>> h = np.array([[0.0, 0.1], [0.2, 0.7]])
    >>> sorted(compute_all(h, h, rng=0))
    ['auc_borji', 'kld', 'ncc', 'sim']
    """
    have = {"density"}
    if fixations is not None:
        have.add("fixations")
        if other_fixations is not None:
            have.add("fixations+others")
    if metrics is None:
        names = [n for n in metric_names() if get_metric(n).needs in have]
    else:
        names = [get_metric(n).name for n in metrics]
        for n in names:
            if get_metric(n).needs not in have:
                what = "fixations" if get_metric(n).needs == "fixations" else "fixations and other_fixations"
                raise ValueError(f"metric {n!r} needs {what}")
    gen = as_rng(rng)
    return {
        n: compute(
            n,
            saliency,
            human,
            fixations=fixations,
            other_fixations=other_fixations,
            rng=gen,
            resize=resize,
        )
        for n in names
    }
