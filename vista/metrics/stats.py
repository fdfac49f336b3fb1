"""Statistics of a leaderboard: multiple comparisons, win rates, rankings, noise ceilings.

Pure functions on per-triplet scores (one array per model, triplets in the same order)
and on per-observer maps. They complement :mod:`vista.metrics.bootstrap`:

* :func:`holm`: Holm's step-down adjustment of a family of p-values;
* :func:`win_rates`: for each pair of models, the share of triplets on which one scores
  better (ties count half), with (cluster-)bootstrap intervals;
* :func:`bradley_terry`: one strength per model from the pairwise outcomes;
* :func:`spearman_brown`, :func:`split_half`, :func:`leave_one_out`: the noise ceiling
  of human maps from several observers, and :func:`fraction_of_ceiling`.

References
----------
.. [1] S. Holm, "A simple sequentially rejective multiple test procedure",
   Scandinavian Journal of Statistics 6(2), 1979.
.. [2] R. A. Bradley, M. E. Terry, "Rank analysis of incomplete block designs: I. The
   method of paired comparisons", Biometrika 39(3/4), 1952.
.. [3] D. R. Hunter, "MM algorithms for generalized Bradley-Terry models", Annals of
   Statistics 32(1), 2004.
.. [4] W. Brown, "Some experimental results in the correlation of mental abilities";
   C. Spearman, "Correlation calculated from faulty data", British Journal of
   Psychology 3, 1910.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_rng, check_array, check_int
from .bootstrap import _check_confidence, cluster_codes, cluster_draws, resampled_cluster_means
from .correlation import ncc

__all__ = [
    "SplitHalf",
    "WinRates",
    "bradley_terry",
    "fraction_of_ceiling",
    "holm",
    "kendalls_w",
    "leave_one_out",
    "spearman_brown",
    "split_half",
    "win_rates",
]


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values [1]_.

    The ``k``-th smallest of ``m`` p-values is multiplied by ``m - k + 1``; the adjusted
    values are made non-decreasing in that order and capped at 1. Rejecting where the
    adjusted p is below ``alpha`` controls the family-wise error rate at ``alpha``.

    Parameters
    ----------
    p_values : array_like
        The family (any shape). NaN entries (a comparison that could not be made) stay
        NaN and do not count in ``m``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape and order as the input.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(4).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = check_array("p_values", p_values, finite=False).astype(np.float64)
    flat = p.reshape(-1)
    ok = ~np.isnan(flat)
    if ((flat[ok] < 0) | (flat[ok] > 1)).any():
        raise ValueError("p_values must lie in [0, 1]")
    vals = flat[ok]
    m = vals.size
    order = np.argsort(vals, kind="stable")
    scaled = vals[order] * (m - np.arange(m))
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled)) if m else scaled
    out = np.full(flat.shape, np.nan)
    res = np.empty(m)
    res[order] = adjusted
    out[ok] = res
    return out.reshape(p.shape)


# --------------------------------------------------------------------------- win rates


@dataclass(frozen=True, eq=False)
class WinRates:
    """Pairwise win rates of models scored on the same triplets.

    Attributes
    ----------
    models : tuple of str
    rates : numpy.ndarray, shape (m, m)
        ``rates[i, j]``: share of the triplets scored by both on which model ``i``
        scores better than model ``j``, ties counting half (``rates[j, i] = 1 -
        rates[i, j]``); NaN on the diagonal.
    low, high : numpy.ndarray, shape (m, m)
        Percentile bootstrap interval of each rate at ``confidence``.
    n : numpy.ndarray of int, shape (m, m)
        Triplets compared for each pair (both scores defined).
    n_boot : int
    confidence : float
    n_clusters : int
        Clusters resampled (0: triplets were resampled).
    """

    models: tuple[str, ...]
    rates: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    n_boot: int
    confidence: float
    n_clusters: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: one entry per ordered pair ``"A > B"``."""
        out: dict[str, Any] = {}
        for i, a in enumerate(self.models):
            for j, b in enumerate(self.models):
                if i != j:
                    out[f"{a} > {b}"] = {"rate": _num(self.rates[i, j]),
                                         "low": _num(self.low[i, j]),
                                         "high": _num(self.high[i, j]), "n": int(self.n[i, j])}
        return out


def _num(x: float) -> float | None:
    return None if math.isnan(float(x)) else float(x)


def _score_matrix(scores: Mapping[str, Any]) -> tuple[tuple[str, ...], np.ndarray]:
    if not isinstance(scores, Mapping) or len(scores) < 2:
        raise ValueError("scores must map at least two model names to per-triplet scores")
    rows = [check_array(f"scores[{k!r}]", v, ndim=1, finite=False).astype(np.float64)
            for k, v in scores.items()]
    sizes = {r.size for r in rows}
    if len(sizes) != 1:
        raise ValueError(f"every model must score the same triplets; got lengths {sorted(sizes)}")
    if 0 in sizes:
        raise ValueError("scores must hold at least one triplet")
    mat = np.vstack(rows)
    if np.isinf(mat).any():
        raise ValueError("scores must not contain inf")
    return tuple(str(k) for k in scores), mat


def win_rates(
    scores: Mapping[str, Any],
    *,
    higher_is_better: bool = True,
    clusters: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> WinRates:
    """How often each model scores better than each other one, triplet by triplet.

    A mean can be carried by a few triplets; a win rate says how often a model is the
    better one. On each triplet that both models score, the better one wins 1 and a tie
    gives each 1/2; the rate is the mean outcome.

    Parameters
    ----------
    scores : mapping of str to array_like, shape (n,)
        Per-triplet scores of each model, triplets in the same order. A triplet where
        either model of a pair is NaN is left out of that pair.
    higher_is_better : bool, default True
        False for divergences (KLD): the lower score wins.
    clusters : sequence of hashable, length n, optional
        Cluster labels (image or participant): the bootstrap then draws whole clusters,
        as :func:`vista.metrics.bootstrap.bootstrap` does.
    n_boot : int, default 1000
    confidence : float, default 0.95
    rng : numpy.random.Generator or int or None
        One draw of ``(n_boot, K)`` units serves every pair, so the intervals of the
        pairs come from the same resampled datasets.

    Returns
    -------
    WinRates

    Examples
    --------
    >>> w = win_rates({"a": [3, 2, 1, 5], "b": [1, 2, 4, 0]}, n_boot=200, rng=0)
    >>> float(w.rates[0, 1]), float(w.rates[1, 0])
    (0.625, 0.375)
    """
    n_boot = check_int("n_boot", n_boot, minimum=1)
    confidence = _check_confidence(confidence)
    models, mat = _score_matrix(scores)
    m, n = mat.shape
    codes = (np.arange(n, dtype=np.intp) if clusters is None
             else cluster_codes(clusters, n))
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    outcomes = np.empty((len(pairs), n))
    for p, (i, j) in enumerate(pairs):
        a, b = (mat[i], mat[j]) if higher_is_better else (mat[j], mat[i])
        o = (a > b) + 0.5 * (a == b)
        outcomes[p] = np.where(np.isnan(a) | np.isnan(b), np.nan, o)
    rates, low, high = (np.full((m, m), np.nan) for _ in range(3))
    counts = np.zeros((m, m), dtype=np.int64)
    k = int(codes.max()) + 1
    reps = resampled_cluster_means(outcomes, codes, cluster_draws(k, n_boot, as_rng(rng)))
    alpha = (1 - confidence) / 2
    for p, (i, j) in enumerate(pairs):
        ok = ~np.isnan(outcomes[p])
        counts[i, j] = counts[j, i] = int(ok.sum())
        if not ok.any():
            continue
        r = float(outcomes[p, ok].mean())
        finite = reps[p][~np.isnan(reps[p])]
        lo, hi = np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (np.nan, np.nan)
        rates[i, j], rates[j, i] = r, 1 - r
        low[i, j], high[i, j] = lo, hi
        low[j, i], high[j, i] = 1 - hi, 1 - lo
    return WinRates(models, rates, low, high, counts, n_boot, confidence,
                    0 if clusters is None else k)


def bradley_terry(
    wins: Any,
    comparisons: Any = None,
    *,
    prior: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Bradley-Terry strengths from pairwise outcomes [2]_, by Hunter's MM algorithm [3]_.

    The model: ``P(i beats j) = 1 / (1 + exp(-(b_i - b_j)))``. The maximum-likelihood
    log-strengths ``b`` are returned, centred to mean 0; sorting them gives the ranking.

    Parameters
    ----------
    wins : array_like, shape (m, m)
        ``wins[i, j]``: how many comparisons ``i`` won against ``j`` (ties counted half
        to each, so fractional counts are fine). The diagonal is ignored.
    comparisons : array_like, shape (m, m), optional
        Comparisons made for each pair; default ``wins + wins.T``.
    prior : float, default 1.0
        Virtual comparisons per pair, split half and half (a tie), added to the data. It
        keeps the estimate finite when a model wins every comparison (where the
        maximum-likelihood strength is infinite) and barely moves it with hundreds of
        triplets per pair. 0 gives the plain MLE, which then must exist.
    tol : float, default 1e-10
        Convergence on the largest change of a log-strength.
    max_iter : int, default 10000

    Returns
    -------
    numpy.ndarray, shape (m,)
        Log-strengths, mean 0.

    Raises
    ------
    ValueError
        With ``prior=0``, a model that never wins or never loses (no finite MLE).

    Examples
    --------
    >>> b = bradley_terry([[0, 3], [1, 0]], prior=0)  # 3 wins of 4: odds 3 to 1
    >>> round(float(np.exp(b[0] - b[1])), 6)
    3.0
    """
    w = check_array("wins", wins, ndim=2, finite=False).astype(np.float64)
    m = w.shape[0]
    if w.shape != (m, m) or m < 2:
        raise ValueError(f"wins must be a square matrix of at least 2 models; got shape {w.shape}")
    np.fill_diagonal(w, 0.0)
    w = np.where(np.isnan(w), 0.0, w)  # a pair never compared (NaN rate) adds nothing
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("wins must be finite and non-negative")
    c = w + w.T if comparisons is None else check_array(
        "comparisons", comparisons, ndim=2).astype(np.float64)
    if c.shape != w.shape:
        raise ValueError(f"comparisons must have the shape of wins {w.shape}; got {c.shape}")
    if prior < 0 or not math.isfinite(prior):
        raise ValueError(f"prior must be a finite number >= 0; got {prior!r}")
    off = ~np.eye(m, dtype=bool)
    w = w + off * prior / 2
    c = np.where(off, c + prior, 0.0)
    total = w.sum(axis=1)
    lost = (c - w).sum(axis=1)
    if (total <= 0).any() or (lost <= 0).any():
        who = int(np.flatnonzero((total <= 0) | (lost <= 0))[0])
        raise ValueError(f"model {who} never wins or never loses: no finite Bradley-Terry "
                         "estimate; pass prior > 0")
    p = np.ones(m)
    for _ in range(check_int("max_iter", max_iter, minimum=1)):
        denom = (c / (p[:, None] + p[None, :])).sum(axis=1)
        new = total / denom
        new /= math.exp(float(np.log(new).mean()))
        if float(np.abs(np.log(new) - np.log(p)).max()) < tol:
            p = new
            break
        p = new
    b = np.log(p)
    return b - b.mean()


# --------------------------------------------------------------------------- ceilings


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """The Spearman-Brown prophecy: the reliability of a test ``factor`` times as long [4]_.

    ``factor * r / (1 + (factor - 1) * r)``; with ``factor=2`` it turns a split-half
    correlation into the reliability of the whole set of observers.

    Examples
    --------
    >>> round(spearman_brown(0.5), 6)
    0.666667
    """
    r = float(r)
    factor = float(factor)
    if not factor > 0:
        raise ValueError(f"factor must be > 0; got {factor!r}")
    if math.isnan(r):
        return math.nan
    if not -1 <= r <= 1:
        raise ValueError(f"r must be a correlation in [-1, 1]; got {r!r}")
    denom = 1 + (factor - 1) * r
    return math.nan if denom == 0 else factor * r / denom


def _observer_stack(observer_maps: Any, minimum: int) -> np.ndarray:
    maps = [check_array(f"observer_maps[{i}]", m, ndim=2).astype(np.float64)
            for i, m in enumerate(observer_maps)]
    if len(maps) < minimum:
        raise ValueError(f"observer_maps must hold at least {minimum} observers; got {len(maps)}")
    if len({m.shape for m in maps}) != 1:
        raise ValueError("observer_maps must share one grid; got shapes "
                         f"{sorted({m.shape for m in maps})}")
    out = np.stack(maps)
    if (out < 0).any():
        raise ValueError("observer_maps must be non-negative density maps")
    totals = out.sum(axis=(1, 2), keepdims=True)
    return np.divide(out, totals, out=np.zeros_like(out), where=totals > 0)


def leave_one_out(
    observer_maps: Sequence[Any], *, metric: Callable[[np.ndarray, np.ndarray], float] | None = None
) -> np.ndarray:
    """The leave-one-out ceiling: each observer's map predicted by the others' mean.

    Each map is normalised to sum 1 first, so every observer weighs the same (as the
    ``observers`` row of ``vista score`` does).

    Parameters
    ----------
    observer_maps : sequence of array_like, shape (H, W)
        One density map per observer of one image (or image and text), at least 2.
    metric : callable ``metric(saliency, human) -> float``, optional
        Default :func:`vista.metrics.ncc`.

    Returns
    -------
    numpy.ndarray, shape (k,)
        The metric of the others' mean against each observer; its mean is the ceiling.

    Examples
    --------
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> leave_one_out([a, a, a]).tolist()
    [1.0, 1.0, 1.0]
    """
    stack = _observer_stack(observer_maps, 2)
    fn = metric or ncc
    total = stack.sum(axis=0)
    k = stack.shape[0]
    return np.array([fn((total - stack[i]) / (k - 1), stack[i]) for i in range(k)])


@dataclass(frozen=True)
class SplitHalf:
    """Split-half reliability of a set of observers.

    Attributes
    ----------
    r_half : float
        Mean correlation between the maps of two random halves of the observers.
    r_full : float
        Spearman-Brown corrected: the reliability of the map of all observers.
    n_observers : int
    n_splits : int
    """

    r_half: float
    r_full: float
    n_observers: int
    n_splits: int


def split_half(
    observer_maps: Sequence[Any],
    *,
    n_splits: int = 100,
    rng: np.random.Generator | int | None = None,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
) -> SplitHalf:
    """Split-half reliability with the Spearman-Brown correction.

    The observers are split at random into two halves (``k // 2`` and ``k - k // 2``);
    the mean map of one half is correlated with the other's; the mean over ``n_splits``
    splits is ``r_half`` and :func:`spearman_brown` of it is ``r_full``, the reliability
    of a map made from all ``k`` observers.

    Parameters
    ----------
    observer_maps : sequence of array_like, shape (H, W)
        One density map per observer, at least 2.
    n_splits : int, default 100
    rng : numpy.random.Generator or int or None
        One permutation per split.
    metric : callable, optional
        A correlation ``metric(a, b) -> float``; default :func:`vista.metrics.ncc`. The
        Spearman-Brown step assumes a correlation.

    Returns
    -------
    SplitHalf

    Examples
    --------
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> split_half([a, a, a, a], n_splits=5, rng=0).r_full
    1.0
    """
    stack = _observer_stack(observer_maps, 2)
    n_splits = check_int("n_splits", n_splits, minimum=1)
    fn = metric or ncc
    gen = as_rng(rng)
    k = stack.shape[0]
    half = k // 2
    rs = []
    for _ in range(n_splits):
        perm = gen.permutation(k)
        rs.append(fn(stack[perm[:half]].mean(axis=0), stack[perm[half:]].mean(axis=0)))
    r_half = float(np.nanmean(rs)) if not np.isnan(rs).all() else math.nan
    return SplitHalf(r_half, spearman_brown(min(1.0, max(-1.0, r_half))) if not
                     math.isnan(r_half) else math.nan, k, n_splits)


def fraction_of_ceiling(score: float, ceiling: float, *, chance: float = 0.0) -> float:
    """A score as a fraction of the way from chance to the ceiling.

    ``(score - chance) / (ceiling - chance)``: 1 at the ceiling, 0 at chance (use
    ``chance=0.5`` for AUCs). NaN when the ceiling does not exceed chance.

    Examples
    --------
    >>> fraction_of_ceiling(0.3, 0.6)
    0.5
    >>> fraction_of_ceiling(0.75, 1.0, chance=0.5)
    0.5
    """
    score, ceiling, chance = float(score), float(ceiling), float(chance)
    if not ceiling - chance > 0:
        return math.nan
    return (score - chance) / (ceiling - chance)


def kendalls_w(ranks: Any) -> float:
    """Kendall's coefficient of concordance W of several rankings of the same items.

    ``W = 12 S / (m² (n³ - n) - m Σ T)``, with ``S`` the sum of squared deviations of
    the items' rank sums from their mean, ``m`` rankings ("judges": grid points), ``n``
    items (models), and ``T = Σ (t³ - t)`` over each ranking's groups of ``t`` tied items
    (the tie correction). 1: every ranking is the same; 0: no agreement.

    Parameters
    ----------
    ranks : array_like, shape (m, n)
        One row per ranking; ties as average ranks (as :func:`scipy.stats.rankdata`).

    Returns
    -------
    float
        NaN with fewer than 2 items or when every ranking is one tie.

    Examples
    --------
    >>> kendalls_w([[1, 2, 3], [1, 2, 3]])
    1.0
    >>> kendalls_w([[1, 2, 3], [3, 2, 1]])
    0.0
    """
    r = check_array("ranks", ranks, ndim=2).astype(np.float64)
    m, n = r.shape
    if n < 2 or m < 1:
        return math.nan
    sums = r.sum(axis=0)
    s = float(((sums - sums.mean()) ** 2).sum())
    ties = 0.0
    for row in r:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    denom = m * m * (n**3 - n) - m * ties
    return math.nan if denom <= 0 else 12.0 * s / denom
