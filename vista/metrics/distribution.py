"""Metrics on normalised maps: NSS (z-scores at fixated pixels), SIM and KLD (the maps
as distributions) and information gain over a baseline, as the MIT benchmark computes
them; and the centre-bias baseline map.

References
----------
.. [1] Z. Bylinskii, T. Judd, A. Oliva, A. Torralba, F. Durand, "What do different
   evaluation metrics tell us about saliency models?", IEEE TPAMI 41(3), 2019; code:
   https://github.com/cvzoya/saliency (``code_forMetrics``).
.. [2] M. Kümmerer, T. Wallis, M. Bethge, "Information-theoretic model comparison
   unifies saliency metrics", PNAS 112(52), 2015.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, check_positive
from ._shared import (
    MATLAB_EPS,
    _as_map,
    _finite_range,
    _in_safe_range,
    _on_density,
    _on_grid,
    _on_mask,
    _undefined,
)
from .registry import register

__all__ = ["center_bias", "info_gain", "kld", "nss", "sim"]


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
    s = _in_safe_range(s)
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
    m = _in_safe_range(arr).astype(np.float64)
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
    s, h, hmax, _ = _on_density(saliency, human, resize)
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
    s, h, hmax, smin = _on_density(saliency, human, resize)
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
    """Information gain of the saliency map over a baseline, as the MIT ``InfoGain.m`` [1]_ [2]_.

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
