"""AUC metrics: VISTA's AUC-Borji and the MIT benchmark's AUC-Borji, shuffled AUC and
AUC-Judd.

References
----------
.. [1] Z. Bylinskii, T. Judd, A. Oliva, A. Torralba, F. Durand, "What do different
   evaluation metrics tell us about saliency models?", IEEE TPAMI 41(3), 2019; code:
   https://github.com/cvzoya/saliency (``code_forMetrics``).
.. [2] A. Borji, H. R. Tavakoli, D. N. Sihite, L. Itti, "Analysis of scores, datasets,
   and models in visual saliency prediction", ICCV 2013.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_rng, check_int, check_positive
from ._shared import (
    MATLAB_EPS,
    _as_map,
    _fast_finite,
    _mask_indices,
    _minmax,
    _on_grid,
    _on_mask,
    _require_finite,
    _undefined,
)
from .registry import register

__all__ = ["auc_borji", "auc_borji_mit", "auc_judd", "auc_shuffled"]

_BLOCK = 32  # pixels per block in the sampler of auc_borji


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
    return _minmax(flat[idx], mn, mx)


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
    flat = _minmax(flat, mn, mx)
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
