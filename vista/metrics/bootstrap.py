"""Bootstrap intervals for a mean score over triplets, and for a difference of models.

The unit resampled is the triplet (one score per image-text pair: ``values[i]`` is one
model's metric on triplet ``i``) or, with ``clusters``, a whole cluster of triplets:
every segment of one image, or every triplet of one participant. Segments of one image
share the image (and often the viewer), so their scores are not independent; resampling
them one by one understates the spread of the mean. The cluster bootstrap draws whole
clusters with replacement and takes the mean over all triplets of the drawn clusters
(Davison & Hinkley 1997, section 3.8; Field & Welsh 2007).

Resampling is vectorised: one ``(n_boot, n)`` (or ``(n_boot, n_clusters)``) index
matrix drawn with one call, so 1000 iterations over 508 values take a few milliseconds;
clusters are resampled through the count of each cluster in each resample and one
matrix product with the clusters' sums and sizes.

NaN handling: a triplet whose score is NaN (a metric undefined for it, see
:class:`vista.metrics.UndefinedMetricWarning`) is dropped before resampling, with a
:class:`DroppedValuesWarning` that counts the dropped triplets; the count is kept in
the result (``n_dropped``). In :func:`paired_bootstrap` a triplet is dropped when
either model's score is NaN, so both models are compared on the same triplets. A
cluster left with no triplet is not drawn. inf raises a ValueError (it is never a
legitimate score), as does an empty input or one that holds only NaN.

References
----------
.. [1] A. C. Davison, D. V. Hinkley, *Bootstrap Methods and their Application*,
   Cambridge University Press, 1997, section 3.8 (hierarchical data).
.. [2] C. A. Field, A. H. Welsh, "Bootstrapping clustered data", JRSS B 69(3), 2007.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from .._validation import as_rng, check_array, check_int, check_option

__all__ = [
    "RESAMPLE_UNITS",
    "BootstrapResult",
    "DroppedValuesWarning",
    "PairedBootstrapResult",
    "bootstrap",
    "cluster_codes",
    "cluster_draws",
    "paired_bootstrap",
    "resampled_cluster_means",
]

PAPER_ITERATIONS = 5
"""Bootstrap iterations behind the bracketed values of VISTA's Table 1."""

RESAMPLE_UNITS: tuple[str, ...] = ("triplet", "image", "participant")
"""What a score run's bootstrap resamples: single triplets (the paper), or whole images
or participants with all their triplets (``clusters`` of :func:`bootstrap`)."""

Mode = Literal["ci", "paper"]
Interval = Literal["percentile", "bca"]


class DroppedValuesWarning(RuntimeWarning):
    """NaN scores were dropped before resampling."""


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """A mean score with its bootstrap interval.

    Attributes
    ----------
    mean : float
        Mean of the (non-NaN) values: the point estimate.
    low, high : float
        Interval bounds. ``ci`` mode: the ``confidence`` interval (percentile or
        BCa). ``paper`` mode: the smallest and largest of the 5 resampled means.
    replicates : numpy.ndarray
        The ``n_boot`` resampled means (read-only).
    n_boot : int
        Number of bootstrap iterations.
    mode : {"ci", "paper"}
    interval : {"percentile", "bca"}
        How ``low`` and ``high`` were computed in ``ci`` mode.
    confidence : float
        Nominal coverage of the interval in ``ci`` mode.
    std : float
        Standard deviation (ddof=1) of the replicates: the bootstrap standard error.
    n : int
        Number of values resampled (after dropping NaN).
    n_dropped : int
        Number of NaN values dropped.
    n_clusters : int
        Number of clusters resampled; 0 when single values (triplets) were resampled.
    """

    mean: float
    low: float
    high: float
    replicates: np.ndarray
    n_boot: int
    mode: str
    interval: str
    confidence: float = 0.95
    std: float = math.nan
    n: int = 0
    n_dropped: int = 0
    n_clusters: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the replicates as a list; ``n_clusters`` only when
        clusters were resampled, so triplet results read as they always did)."""
        return _with_clusters(self.n_clusters, {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "std": self.std,
            "n_boot": self.n_boot,
            "mode": self.mode,
            "interval": self.interval,
            "confidence": self.confidence,
            "n": self.n,
            "n_dropped": self.n_dropped,
            "replicates": self.replicates.tolist(),
        })


def _with_clusters(n_clusters: int, fields: dict[str, Any]) -> dict[str, Any]:
    if n_clusters:
        fields["n_clusters"] = n_clusters
    return fields


@dataclass(frozen=True, eq=False)
class PairedBootstrapResult:
    """The mean difference between two models scored on the same triplets.

    Attributes
    ----------
    difference : float
        ``mean(a - b)`` over the triplets where both scores are defined.
    low, high : float
        Percentile interval of the difference at ``confidence``.
    p_value : float
        Two-sided bootstrap p-value for "no difference" (see :func:`paired_bootstrap`).
    replicates : numpy.ndarray
        The ``n_boot`` resampled mean differences (read-only).
    n_boot : int
    confidence : float
    n : int
        Number of triplets compared.
    n_dropped : int
        Triplets dropped because a score was NaN.
    n_clusters : int
        Number of clusters resampled; 0 when triplets were resampled.
    """

    difference: float
    low: float
    high: float
    p_value: float
    replicates: np.ndarray
    n_boot: int = 1000
    confidence: float = 0.95
    n: int = 0
    n_dropped: int = 0
    n_clusters: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the replicates as a list; ``n_clusters`` as in
        :meth:`BootstrapResult.to_dict`)."""
        return _with_clusters(self.n_clusters, {
            "difference": self.difference,
            "low": self.low,
            "high": self.high,
            "p_value": self.p_value,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "n": self.n,
            "n_dropped": self.n_dropped,
            "replicates": self.replicates.tolist(),
        })


def _values(name: str, values: Any) -> np.ndarray:
    arr = check_array(name, values, ndim=1, finite=False).astype(np.float64)
    if np.isinf(arr).any():
        raise ValueError(f"{name} must not contain inf; got {int(np.isinf(arr).sum())} inf value(s)")
    return arr


def _check_confidence(confidence: float) -> float:
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise TypeError(f"confidence must be a number; got {confidence!r}") from None
    if not 0 < c < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    return c


def _drop_nan(mask: np.ndarray, what: str, why: str) -> int:
    n_dropped = int(mask.sum())
    if n_dropped == mask.size:
        raise ValueError(f"no {what} left to resample: all {mask.size} are NaN ({why})")
    if n_dropped:
        warnings.warn(
            f"{n_dropped} of {mask.size} {what} dropped ({why})",
            DroppedValuesWarning,
            stacklevel=3,
        )
    return n_dropped


def _resample_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples with replacement: one index matrix, one gather."""
    idx = rng.integers(0, values.size, size=(n_boot, values.size))
    reps = values[idx].mean(axis=1)
    reps.setflags(write=False)
    return reps


def cluster_codes(clusters: Any, n: int, *, name: str = "clusters") -> np.ndarray:
    """Integer codes ``0 .. K-1`` for per-value cluster labels, in order of first appearance.

    Parameters
    ----------
    clusters : sequence of hashable, length n
        One label per value: an image path, a participant id, ... Any hashable works.
    n : int
        Number of values the labels must match.
    name : str
        Argument name for messages.

    Returns
    -------
    numpy.ndarray of intp, shape (n,)

    Examples
    --------
    >>> cluster_codes(["b.jpg", "a.jpg", "b.jpg"], 3).tolist()
    [0, 1, 0]
    """
    if isinstance(clusters, (str, bytes)) or not hasattr(clusters, "__len__"):
        raise TypeError(f"{name} must be a sequence of labels; got {type(clusters).__name__}")
    labels = list(clusters)
    if len(labels) != n:
        raise ValueError(f"{name} must hold one label per value: {n} values, {len(labels)} labels")
    seen: dict[Any, int] = {}
    try:
        codes = [seen.setdefault(c, len(seen)) for c in labels]
    except TypeError:
        raise TypeError(f"{name} labels must be hashable (str or int)") from None
    return np.asarray(codes, dtype=np.intp)


def _compact(codes: np.ndarray) -> np.ndarray:
    """Renumber codes to ``0 .. K-1`` with no empty cluster (after values were dropped)."""
    _, inverse = np.unique(codes, return_inverse=True)
    return np.asarray(inverse, dtype=np.intp).reshape(-1)


def cluster_draws(n_clusters: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """The ``(n_boot, n_clusters)`` matrix of clusters drawn with replacement (one call)."""
    return rng.integers(0, n_clusters, size=(n_boot, n_clusters))


def resampled_cluster_means(values: np.ndarray, codes: np.ndarray,
                            draws: np.ndarray) -> np.ndarray:
    """Means over all values of the drawn clusters, one per row of ``draws``.

    ``values`` may be 2-D (one row per series, NaN where a series has no value): each
    row gets its own means from the same draws. Returns shape ``(n_boot,)`` or
    ``(rows, n_boot)``.
    """
    v = np.atleast_2d(values)
    k = int(codes.max()) + 1 if codes.size else 0
    ok = ~np.isnan(v)
    sums = np.zeros((v.shape[0], k))
    counts = np.zeros((v.shape[0], k))
    for r in range(v.shape[0]):
        sums[r] = np.bincount(codes[ok[r]], weights=v[r, ok[r]], minlength=k)
        counts[r] = np.bincount(codes[ok[r]], minlength=k)
    # how often each cluster is drawn in each resample: (n_boot, k), then one product
    n_boot = draws.shape[0]
    offsets = (np.arange(n_boot) * k)[:, None]
    times = np.bincount((draws + offsets).ravel(), minlength=n_boot * k).reshape(n_boot, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (sums @ times.T) / (counts @ times.T)
    return reps[0] if np.ndim(values) == 1 else reps


def _resample(values: np.ndarray, codes: np.ndarray | None, n_boot: int,
              rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Replicate means (read-only) and the number of clusters (0 for triplets)."""
    if codes is None:
        return _resample_means(values, n_boot, rng), 0
    codes = _compact(codes)
    k = int(codes.max()) + 1
    reps = resampled_cluster_means(values, codes, cluster_draws(k, n_boot, rng))
    reps.setflags(write=False)
    return reps, k


def _jackknife(values: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """Leave-one-out means: of each value, or (with codes) of each whole cluster."""
    if codes is None:
        return (values.sum() - values) / (values.size - 1)
    codes = _compact(codes)
    sums = np.bincount(codes, weights=values)
    counts = np.bincount(codes)
    return (values.sum() - sums) / (values.size - counts)


def _percentile(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _bca(values: np.ndarray, reps: np.ndarray, confidence: float,
         codes: np.ndarray | None = None) -> tuple[float, float]:
    """Bias-corrected and accelerated interval (Efron 1987) for the mean; with
    ``codes`` the acceleration comes from the leave-one-cluster-out jackknife."""
    theta = float(values.mean())
    # bias correction from the share of replicates below the estimate (ties count half)
    below = (np.count_nonzero(reps < theta) + 0.5 * np.count_nonzero(reps == theta)) / reps.size
    if below <= 0 or below >= 1:
        return _percentile(reps, confidence)
    norm = NormalDist()
    z0 = norm.inv_cdf(below)
    # acceleration from the jackknife means
    jack = _jackknife(values, codes)
    d = jack.mean() - jack
    denom = 6.0 * float((d**2).sum()) ** 1.5
    a = float((d**3).sum()) / denom if denom > 0 else 0.0
    alpha = (1 - confidence) / 2
    qs = []
    for z in (norm.inv_cdf(alpha), norm.inv_cdf(1 - alpha)):
        qs.append(norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = np.quantile(reps, qs)
    return float(lo), float(hi)


def bootstrap(
    values: Any,
    *,
    mode: Mode = "ci",
    n_boot: int | None = None,
    interval: Interval = "percentile",
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    clusters: Any = None,
) -> BootstrapResult:
    """Bootstrap the mean of per-triplet scores by resampling triplets (or whole
    clusters of triplets) with replacement.

    Parameters
    ----------
    values : array_like, shape (n,)
        One score per triplet. NaN entries are dropped with a
        :class:`DroppedValuesWarning` that counts them; inf raises.
    mode : {"ci", "paper"}, default "ci"
        ``"ci"``: a confidence interval from ``n_boot`` (default 1000) iterations.
        ``"paper"``: VISTA's Table 1 procedure, 5 iterations (``n_boot`` must be None
        or 5); ``low``/``high`` are the smallest and largest of the 5 resampled means
        and ``std`` their standard deviation.
    n_boot : int, optional
        Iterations; default 1000 in ``ci`` mode, 5 in ``paper`` mode.
    interval : {"percentile", "bca"}, default "percentile"
        ``ci`` mode interval: percentile, or bias-corrected and accelerated (BCa).
    confidence : float, default 0.95
        Coverage of the ``ci`` interval.
    rng : numpy.random.Generator or int or None
        Randomness: one ``integers`` call of shape (n_boot, n), or (n_boot, K) with
        ``K`` clusters.
    clusters : sequence of hashable, length n, optional
        A cluster label per value (the triplet's image, or its participant). Given, the
        bootstrap draws K whole clusters with replacement and each replicate is the mean
        over every value of the drawn clusters; BCa's acceleration then comes from the
        leave-one-cluster-out jackknife. None: every value is its own unit.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    ValueError
        Empty input (or only NaN), inf, a bad option.

    Examples
    --------
    >>> r = bootstrap([0.2, 0.4, 0.6, 0.8], rng=0)
    >>> r.mean, r.n_boot, r.low < r.mean < r.high
    (0.5, 1000, True)
    >>> bootstrap([0.2, 0.4, 0.6, 0.8], mode="paper", rng=0).replicates.shape
    (5,)
    >>> bootstrap([0.2, 0.4, 0.6, 0.8], clusters=["a", "a", "b", "b"], rng=0).n_clusters
    2
    """
    check_option("mode", mode, ("ci", "paper"))
    check_option("interval", interval, ("percentile", "bca"))
    confidence = _check_confidence(confidence)
    if mode == "paper":
        if n_boot is not None and n_boot != PAPER_ITERATIONS:
            raise ValueError(
                f"n_boot must be None or {PAPER_ITERATIONS} in paper mode; got {n_boot!r}"
            )
        n_boot = PAPER_ITERATIONS
    elif n_boot is None:
        n_boot = 1000
    n_boot = check_int("n_boot", n_boot, minimum=1)
    arr = _values("values", values)
    if arr.size == 0:
        raise ValueError("values must hold at least one score; got an empty array")
    codes = None if clusters is None else cluster_codes(clusters, arr.size)
    nan = np.isnan(arr)
    n_dropped = _drop_nan(nan, "values", "their score is NaN")
    arr = arr[~nan]
    codes = None if codes is None else codes[~nan]
    reps, n_clusters = _resample(arr, codes, n_boot, as_rng(rng))
    mean = float(arr.mean())
    std = float(reps.std(ddof=1)) if reps.size > 1 else math.nan
    if mode == "paper":
        low, high = float(reps.min()), float(reps.max())
    elif interval == "bca" and arr.size > 1 and n_clusters != 1:
        low, high = _bca(arr, reps, confidence, codes)
    else:
        low, high = _percentile(reps, confidence)
    return BootstrapResult(
        mean=mean,
        low=low,
        high=high,
        replicates=reps,
        n_boot=n_boot,
        mode=mode,
        interval=interval,
        confidence=confidence,
        std=std,
        n=int(arr.size),
        n_dropped=n_dropped,
        n_clusters=n_clusters,
    )


def paired_bootstrap(
    a: Any,
    b: Any,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
    clusters: Any = None,
) -> PairedBootstrapResult:
    """Paired bootstrap of the mean difference ``a - b`` of two models on the same triplets.

    The same resampled triplets are used for both models (resampling the differences),
    which removes the between-triplet variance the two models share.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Scores of the two models, triplet by triplet in the same order. A triplet where
        either score is NaN is dropped, with a :class:`DroppedValuesWarning`.
    n_boot : int, default 1000
        Iterations.
    confidence : float, default 0.95
        Coverage of the percentile interval.
    rng : numpy.random.Generator or int or None
        Randomness: one ``integers`` call of shape (n_boot, n), or (n_boot, K).
    clusters : sequence of hashable, length n, optional
        A cluster label per triplet: whole clusters are resampled, as in
        :func:`bootstrap`.

    Returns
    -------
    PairedBootstrapResult
        ``p_value`` is the two-sided test of a zero mean difference from the bootstrap
        distribution shifted to the null: ``(1 + #{|d* - d| >= |d|}) / (1 + n_boot)``,
        with ``d`` the observed and ``d*`` the resampled mean differences; it is never
        0, its smallest value being ``1 / (1 + n_boot)``.

    Examples
    --------
    >>> r = paired_bootstrap([0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.75], rng=0)
    >>> round(r.difference, 4), r.low > 0, r.p_value < 0.05
    (0.0875, True, True)
    """
    n_boot = check_int("n_boot", n_boot, minimum=1)
    confidence = _check_confidence(confidence)
    x = _values("a", a)
    y = _values("b", b)
    if x.shape != y.shape:
        raise ValueError(
            f"a and b must score the same triplets; got {x.size} and {y.size} values"
        )
    if x.size == 0:
        raise ValueError("a and b must hold at least one score; got empty arrays")
    codes = None if clusters is None else cluster_codes(clusters, x.size)
    nan = np.isnan(x) | np.isnan(y)
    n_dropped = _drop_nan(nan, "triplets", "a or b is NaN there")
    d = x[~nan] - y[~nan]
    reps, n_clusters = _resample(d, None if codes is None else codes[~nan], n_boot,
                                 as_rng(rng))
    diff = float(d.mean())
    low, high = _percentile(reps, confidence)
    extreme = int(np.count_nonzero(np.abs(reps - diff) >= abs(diff)))
    p = min(1.0, (1 + extreme) / (1 + n_boot))
    return PairedBootstrapResult(
        difference=diff,
        low=low,
        high=high,
        p_value=p,
        replicates=reps,
        n_boot=n_boot,
        confidence=confidence,
        n=int(d.size),
        n_dropped=n_dropped,
        n_clusters=n_clusters,
    )
