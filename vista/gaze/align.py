"""Assign fixations to text segments by time.

The eyes lead the voice: people look at a region before and while they name it
(the eye-voice span, about a second in picture description). A segment spoken
from ``start`` to ``end`` therefore collects the fixations in the window
``[start - lead_ms, end + lag_ms]``, by default from 1.5 s before the segment
starts to its end. Each fixation is weighted by its overlap with the window in
milliseconds, so a fixation cut by the window's edge counts only for the time
inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..records import Fixations, Segment

__all__ = ["DEFAULT_LAG_MS", "DEFAULT_LEAD_MS", "align", "align_all", "overlap_ms"]

DEFAULT_LEAD_MS = 1500.0
"""Default window start: this many ms before the segment starts."""
DEFAULT_LAG_MS = 0.0
"""Default window end: this many ms after the segment ends."""


def _check_ms(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of milliseconds; got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return v


def overlap_ms(starts: Any, ends: Any, window_start: Any, window_end: Any) -> np.ndarray:
    """Overlap in ms of intervals ``[starts, ends]`` with windows, broadcasting.

    Zero where they do not overlap (touching at one instant is no overlap).

    Examples
    --------
    >>> overlap_ms([0, 100, 300], [200, 250, 400], 150, 350).tolist()
    [50.0, 100.0, 50.0]
    """
    lo = np.maximum(np.asarray(starts, dtype=np.float64), np.asarray(window_start, np.float64))
    hi = np.minimum(np.asarray(ends, dtype=np.float64), np.asarray(window_end, np.float64))
    return np.clip(hi - lo, 0.0, None)


def align(
    fixations: Fixations,
    segment: Segment,
    *,
    lead_ms: float = DEFAULT_LEAD_MS,
    lag_ms: float = DEFAULT_LAG_MS,
) -> tuple[Fixations, np.ndarray]:
    """The fixations that overlap a segment's window, and their weights.

    Parameters
    ----------
    fixations : Fixations
        On the tracker clock (any coordinates; positions are passed through).
    segment : Segment
        The text span, tracker clock.
    lead_ms : float, default 1500
        The window starts this many ms before ``segment.start_ms`` (negative: after).
    lag_ms : float, default 0
        The window ends this many ms after ``segment.end_ms`` (negative: before).

    Returns
    -------
    selected : Fixations
        The fixations with a positive overlap, in their original order.
    weights_ms : ndarray of float64
        Each selected fixation's overlap with the window, in ms (> 0).

    Notes
    -----
    A fixation that only touches the window at one instant, or a zero-duration
    fixation, has no overlap and is not selected. A window whose end is not after
    its start (e.g. a zero-length segment with ``lead_ms = lag_ms = 0``) selects
    nothing.

    Examples
    --------
    >>> f = Fixations([0, 900, 1900], [800, 1700, 2500], [1, 2, 3], [1, 2, 3])
    >>> sel, w = align(f, Segment("a dog", 2600, 3000))   # window 1100..3000 ms
    >>> sel.xs.tolist(), w.tolist()
    ([2.0, 3.0], [600.0, 600.0])
    """
    sel, weights = align_all(fixations, [segment], lead_ms=lead_ms, lag_ms=lag_ms)[0]
    return sel, weights


def align_all(
    fixations: Fixations,
    segments: Sequence[Segment],
    *,
    lead_ms: float = DEFAULT_LEAD_MS,
    lag_ms: float = DEFAULT_LAG_MS,
) -> list[tuple[Fixations, np.ndarray]]:
    """:func:`align` for many segments at once (one N×S overlap matrix).

    Returns one ``(selected, weights_ms)`` pair per segment, in order.

    Examples
    --------
    >>> f = Fixations([0, 1000], [500, 1600], [5, 6], [5, 6])
    >>> [w.tolist() for _, w in align_all(f, [Segment("a", 400, 600), Segment("b", 1500, 1550)],
    ...                                   lead_ms=0, lag_ms=0)]
    [[100.0], [50.0]]
    """
    if not isinstance(fixations, Fixations):
        raise TypeError(f"fixations must be a Fixations record; got {type(fixations).__name__}")
    lead = _check_ms("lead_ms", lead_ms)
    lag = _check_ms("lag_ms", lag_ms)
    for s in segments:
        if not isinstance(s, Segment):
            raise TypeError(f"segments must hold Segment records; got {s!r}")
    if not segments:
        return []
    w0 = np.array([s.start_ms - lead for s in segments], dtype=np.float64)
    w1 = np.array([s.end_ms + lag for s in segments], dtype=np.float64)
    ov = overlap_ms(fixations.starts_ms[:, None], fixations.ends_ms[:, None], w0[None, :],
                    w1[None, :])  # N×S
    out = []
    for k in range(len(segments)):
        idx = np.flatnonzero(ov[:, k] > 0)
        out.append((fixations.select(idx), ov[idx, k].copy()))
    return out
