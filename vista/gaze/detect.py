"""Fixation detection from gaze samples: I-VT and I-DT, thresholds in degrees and ms.

For recordings without the tracker's parser events, or when the thresholds should be
one's own. Detectors live in a small registry (:data:`DETECTORS`, :func:`register`);
:func:`detect_fixations` runs one over every eye of a :class:`~vista.gaze.recording.Samples`
record and returns a :class:`~vista.records.Fixations` record like the one the readers
give.

Conventions shared by the detectors:

- Pixels become degrees through one ``px_per_degree`` (from a
  :class:`~vista.records.Screen`, at the screen centre), the usual small-angle
  approximation.
- A fixation runs from its first sample's time to its last sample's time (as the
  EyeLink parser's ``EFIX`` start and end), at the mean position of its samples.
- A missing sample (NaN, e.g. a blink) or a time step longer than 1.5 times the median
  step ends a fixation; fixations never span one.
- Fixations shorter than ``min_duration_ms`` (last minus first sample time) are dropped.

References
----------
Salvucci, D. D., & Goldberg, J. H. (2000). Identifying fixations and saccades in
eye-tracking protocols. Proceedings of ETRA 2000, 71-78.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._registry import Registry
from .._validation import check_option, check_positive
from ..records import Fixations, Screen
from .recording import Samples

__all__ = [
    "DETECTORS",
    "DetectionParams",
    "detect_fixations",
    "detector_names",
    "dispersion_deg",
    "register",
    "velocities_deg_s",
]


@dataclass(frozen=True)
class DetectionParams:
    """The thresholds every detector receives (each uses the ones it needs)."""

    px_per_degree: float
    min_duration_ms: float = 100.0
    velocity_threshold_deg_s: float = 30.0
    dispersion_threshold_deg: float = 1.0
    velocity_window_ms: float = 10.0


Detector = Callable[[np.ndarray, np.ndarray, np.ndarray, DetectionParams],
                    tuple[np.ndarray, np.ndarray]]
"""``f(times_ms, xs, ys, params) -> (first_index, last_index)`` of each fixation
(inclusive sample indices, one eye)."""

DETECTORS: Registry[Detector] = Registry("fixation detector")
"""The registered detectors (:class:`vista._registry.Registry`)."""


def register(name: str) -> Callable[[Detector], Detector]:
    """Decorator: add a detector to :data:`DETECTORS` under ``name``.

    Examples
    --------
    >>> @register("everything")
    ... def _everything(times, xs, ys, params):
    ...     return np.array([0]), np.array([len(times) - 1])
    >>> "everything" in detector_names()
    True
    >>> DETECTORS.remove("everything")
    """
    return DETECTORS.register(name)


def detector_names() -> list[str]:
    """The registered detector names, sorted."""
    return sorted(DETECTORS.names())


# ----------------------------------------------------------------- helpers


def _valid_steps(times: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ok`` per sample (finite) and ``link`` per step i→i+1 (both samples ok and no gap)."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    if times.size < 2:
        return ok, np.zeros(0, dtype=bool)
    dt = np.diff(times)
    step = float(np.median(dt)) if dt.size else 1.0
    link = ok[:-1] & ok[1:] & (dt > 0) & (dt <= 1.5 * step)
    return ok, link


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each run of True in ``mask``."""
    m = np.concatenate(([False], mask, [False])).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


def velocities_deg_s(
    times_ms: Any, xs: Any, ys: Any, *, px_per_degree: float, window_ms: float = 0.0
) -> np.ndarray:
    """Gaze speed at each sample, degrees per second.

    The speed at sample i is the distance between samples ``i - h`` and ``i + h``
    over their time difference, ``h`` the number of samples in half of
    ``window_ms`` (at least 1: central differences). Near the ends and next to
    missing samples or gaps the window shrinks, down to one-sided differences; NaN
    where no neighbour links.

    Examples
    --------
    >>> velocities_deg_s([0, 1, 2], [0, 1, 2], [0, 0, 0], px_per_degree=10).tolist()
    [100.0, 100.0, 100.0]
    """
    t = np.asarray(times_ms, dtype=np.float64)
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    ppd = check_positive("px_per_degree", px_per_degree)
    window = check_positive("window_ms", window_ms, allow_zero=True)
    n = t.size
    if n < 2:
        return np.full(n, np.nan)
    ok, link = _valid_steps(t, x, y)
    step = float(np.median(np.diff(t)))
    h = max(1, round(window / 2.0 / step)) if step > 0 else 1
    seg_id = np.concatenate(([0], np.cumsum(~link)))
    idx = np.arange(n)
    lo = np.maximum(idx - h, 0)
    hi = np.minimum(idx + h, n - 1)
    # shrink each side until it lies in the sample's own linked run
    for side in (lo, hi):
        bad = seg_id[side] != seg_id
        while bad.any():
            side[bad] += np.where(side[bad] < idx[bad], 1, -1)
            bad = seg_id[side] != seg_id
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.hypot(x[hi] - x[lo], y[hi] - y[lo]) / ppd / ((t[hi] - t[lo]) / 1000.0)
    v[(hi == lo) | ~ok] = np.nan
    return v


def dispersion_deg(xs: Any, ys: Any, *, px_per_degree: float) -> float:
    """Salvucci & Goldberg's dispersion of a set of points:
    ``(max x - min x) + (max y - min y)``, in degrees.

    Examples
    --------
    >>> dispersion_deg([0, 10, 5], [0, 0, 20], px_per_degree=10)
    3.0
    """
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    ppd = check_positive("px_per_degree", px_per_degree)
    return float((np.ptp(x) + np.ptp(y)) / ppd)


# ----------------------------------------------------------------- detectors


@register("ivt")
def _ivt(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: DetectionParams) -> tuple[
        np.ndarray, np.ndarray]:
    """Velocity threshold: samples slower than ``velocity_threshold_deg_s`` form
    fixations, runs of them joined where consecutive samples link (no gap)."""
    v = velocities_deg_s(t, x, y, px_per_degree=p.px_per_degree,
                         window_ms=p.velocity_window_ms)
    slow = np.isfinite(v) & (v < p.velocity_threshold_deg_s)
    _, link = _valid_steps(t, x, y)
    # a run must not cross a broken link: split runs there
    first, last = _runs(slow)
    if first.size == 0:
        return first, last
    breaks = np.flatnonzero(~link)  # step i -> i+1 broken
    out_f: list[int] = []
    out_l: list[int] = []
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        lo = np.searchsorted(breaks, a)
        hi = np.searchsorted(breaks, b)
        start = a
        for br in breaks[lo:hi].tolist():
            out_f.append(start)
            out_l.append(br)
            start = br + 1
        out_f.append(start)
        out_l.append(b)
    return np.asarray(out_f, dtype=np.intp), np.asarray(out_l, dtype=np.intp)


@register("idt")
def _idt(t: np.ndarray, x: np.ndarray, y: np.ndarray, p: DetectionParams) -> tuple[
        np.ndarray, np.ndarray]:
    """Dispersion threshold (Salvucci & Goldberg): a window spanning
    ``min_duration_ms`` whose dispersion is at most ``dispersion_threshold_deg``
    starts a fixation, which grows sample by sample while the dispersion stays under
    the threshold; otherwise the window slides by one sample."""
    n = t.size
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    limit = p.dispersion_threshold_deg * p.px_per_degree
    _, link = _valid_steps(t, x, y)
    # k[i]: the last index of the shortest window from i spanning min_duration
    k = np.searchsorted(t, t + p.min_duration_ms, side="left")
    # windows must lie within one run of linked samples
    seg_id = np.concatenate(([0], np.cumsum(~link)))
    edges = np.concatenate((np.flatnonzero(np.diff(seg_id)) + 1, [n]))
    seg_end = (edges - 1)[seg_id]
    ok_start = (k <= seg_end) & (k < n) & np.isfinite(x) & np.isfinite(y)
    out_f: list[int] = []
    out_l: list[int] = []
    cand = np.flatnonzero(ok_start)
    ci = 0
    i = 0
    while ci < cand.size:
        i = int(cand[ci])
        j = int(k[i])
        wx, wy = x[i:j + 1], y[i:j + 1]
        xmin, xmax, ymin, ymax = wx.min(), wx.max(), wy.min(), wy.max()
        if (xmax - xmin) + (ymax - ymin) > limit:
            ci += 1
            continue
        # grow the window in vectorised blocks while dispersion stays within the limit
        end = int(seg_end[i])
        while j < end:
            hi = min(end, j + 256)
            bx, by = x[j + 1:hi + 1], y[j + 1:hi + 1]
            mx = np.maximum(np.maximum.accumulate(bx), xmax)
            nx = np.minimum(np.minimum.accumulate(bx), xmin)
            my = np.maximum(np.maximum.accumulate(by), ymax)
            ny = np.minimum(np.minimum.accumulate(by), ymin)
            over = np.flatnonzero((mx - nx) + (my - ny) > limit)
            if over.size:
                j += int(over[0])
                break
            j = hi
            xmax, xmin, ymax, ymin = mx[-1], nx[-1], my[-1], ny[-1]
        out_f.append(i)
        out_l.append(j)
        ci = int(np.searchsorted(cand, j + 1))
    return np.asarray(out_f, dtype=np.intp), np.asarray(out_l, dtype=np.intp)


# ----------------------------------------------------------------- entry point


def _means(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Mean of ``values[first[i]:last[i] + 1]`` for each i (summed, not differenced)."""
    if first.size == 0:
        return np.zeros(0)
    padded = np.append(values, 0.0)
    idx = np.empty(2 * first.size, dtype=np.intp)
    idx[0::2] = first
    idx[1::2] = last + 1
    sums = np.add.reduceat(padded, idx)[0::2]
    return sums / (last - first + 1)


def detect_fixations(
    samples: Samples,
    *,
    method: str = "ivt",
    screen: Screen | None = None,
    px_per_degree: float | None = None,
    eye: str | None = None,
    velocity_threshold_deg_s: float = 30.0,
    velocity_window_ms: float = 10.0,
    dispersion_threshold_deg: float = 1.0,
    min_duration_ms: float = 100.0,
) -> Fixations:
    """Detect fixations in gaze samples.

    Parameters
    ----------
    samples : Samples
        From :func:`~vista.gaze.io.read_recording` with ``samples=True``.
    method : str, default "ivt"
        A name in :data:`DETECTORS`: ``"ivt"`` (velocity threshold) or ``"idt"``
        (dispersion threshold).
    screen : Screen, optional
        Gives ``px_per_degree``; pass this or ``px_per_degree``.
    px_per_degree : float, optional
        Pixels per degree of visual angle.
    eye : {"L", "R"}, optional
        Only this eye; default every eye in ``samples``.
    velocity_threshold_deg_s : float, default 30
        I-VT: samples slower than this are fixation samples (deg/s).
    velocity_window_ms : float, default 10
        I-VT: speed is measured between samples this far apart (centred on the
        sample; see :func:`velocities_deg_s`). Raw 1000 Hz samples jitter by about a
        pixel per millisecond, some 25 deg/s at 40 px/deg, so sample-to-sample speed
        splits fixations; 10 ms matched the EyeLink parser's fixations best on the
        recordings shipped with eyelinkio (see the docs).
    dispersion_threshold_deg : float, default 1.0
        I-DT: largest dispersion ``(max x - min x) + (max y - min y)`` of a fixation
        (degrees).
    min_duration_ms : float, default 100
        Shortest fixation kept (and I-DT's initial window), milliseconds.

    Returns
    -------
    Fixations
        In start order (eyes interleaved), screen pixels, tracker clock.

    Raises
    ------
    ValueError
        Unknown ``method`` (the message lists the known ones), neither or both of
        ``screen`` and ``px_per_degree``, or an invalid threshold.

    Examples
    --------
    >>> t = np.arange(600.0)
    >>> x = np.where(t < 300, 100.0, 500.0)
    >>> s = Samples(t, x, np.full(600, 200.0), np.full(600, 1000.0), "R")
    >>> f = detect_fixations(s, px_per_degree=40)
    >>> f.starts_ms.tolist(), f.ends_ms.tolist(), f.xs.tolist()
    ([0.0, 305.0], [294.0, 599.0], [100.0, 500.0])
    """
    detector = DETECTORS.get(method)
    if not isinstance(samples, Samples):
        raise TypeError(f"samples must be a Samples record; got {type(samples).__name__}")
    if (screen is None) == (px_per_degree is None):
        raise ValueError("pass exactly one of screen= and px_per_degree=")
    ppd = screen.px_per_degree if screen is not None else check_positive(
        "px_per_degree", px_per_degree)
    params = DetectionParams(
        px_per_degree=ppd,
        min_duration_ms=check_positive("min_duration_ms", min_duration_ms, allow_zero=True),
        velocity_threshold_deg_s=check_positive("velocity_threshold_deg_s",
                                                velocity_threshold_deg_s),
        dispersion_threshold_deg=check_positive("dispersion_threshold_deg",
                                                dispersion_threshold_deg),
        velocity_window_ms=check_positive("velocity_window_ms", velocity_window_ms,
                                          allow_zero=True),
    )
    eyes = list(samples.eyes) if eye is None else [check_option("eye", eye, list(samples.eyes))]
    t = samples.times_ms
    parts = []
    for e in eyes:
        x, y, _ = samples.eye(e)
        first, last = detector(t, x, y, params)
        first = np.asarray(first, dtype=np.intp)
        last = np.asarray(last, dtype=np.intp)
        keep = (t[last] - t[first]) >= params.min_duration_ms if first.size else first > 0
        first, last = first[keep], last[keep]
        mx, my = _means(x, first, last), _means(y, first, last)
        parts.append(Fixations(t[first], t[last], mx, my, np.full(first.size, e, dtype="<U1")))
    fix = Fixations.concatenate(parts)
    return fix.select(np.argsort(fix.starts_ms, kind="stable"))
