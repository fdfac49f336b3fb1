"""The eye-voice span, estimated from the data rather than assumed.

People look at a thing shortly before they name it (Griffin & Bock 2000: about
0.5-1 s). ``vista maps`` builds each segment's map from the fixations in
``[start - lead_ms, end + lag_ms]``; this module measures where that window should be.

For every *naming event* (a phrase of the transcript that names a region: the region's
label spoken word for word) the fixations around the phrase's onset are sorted into
"inside the named region" and "elsewhere". :func:`eye_voice_lag` gives the proportion of
fixation time inside the region against time relative to the onset (-3 s to +1 s by
default), with bootstrap bands over events and over participants, and reads off:

* the **peak**: when the named region holds the largest share of fixation time;
* the **span**: when the share rises halfway from its baseline to the peak, the time
  at which gaze typically reaches the region (negative: before the onset); ``-span``
  is the eye-voice lead. The baseline is the level the rise starts from: the mean of
  the curve over the 400 ms ending 200 ms before a first estimate made with the
  curve's minimum before the peak (the minimum may lie in an earlier, lower stretch,
  such as the gaze window of the phrase before, which would pull the span early);
* the **window**: the shortest interval holding 80% of the excess in-region time
  (the share above baseline), and the ``--lead-ms``/``--lag-ms`` for ``vista maps``
  that it suggests.

:func:`session_lag` does it for session folders, with the regions of the simulator's
scene files, Data Viewer interest-area files or a CSV of ``image, phrase, polygon``
(:func:`vista.gaze.areas.trial_areas`).

References
----------
Griffin, Z. M. & Bock, K. (2000). What the eyes say about speaking. Psychological
Science 11(4), 274-279.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._validation import as_rng, check_int
from ..records import Fixations, Transcript, Trial

__all__ = [
    "LagResult",
    "NamingEvent",
    "eye_voice_lag",
    "naming_events",
    "plot_lag",
    "session_events",
    "session_lag",
]

WINDOW_MS: tuple[float, float] = (-3000.0, 1000.0)
"""Times relative to the naming onset covered by the curve, ms."""


@dataclass(frozen=True, eq=False)
class NamingEvent:
    """One phrase that names a region, with the fixations around it.

    Attributes
    ----------
    onset_ms, end_ms : float
        Start of the phrase's first word and end of its last word (tracker clock).
    starts_ms, ends_ms : numpy.ndarray
        Fixation times (tracker clock) of the trial, one eye.
    inside : numpy.ndarray of bool
        Whether each fixation lies in the named region.
    label : str
        The region's label (the phrase).
    participant : str
    trial_id : str
    """

    onset_ms: float
    end_ms: float
    starts_ms: np.ndarray
    ends_ms: np.ndarray
    inside: np.ndarray
    label: str = ""
    participant: str = ""
    trial_id: str = ""


def _tokens(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def naming_events(
    fixations: Fixations, transcript: Transcript | None, areas: Sequence[Any], *,
    participant: str = "", trial_id: str = "",
) -> list[NamingEvent]:
    """The naming events of one trial.

    A region is named where the tokens of its label (lower-cased, punctuation dropped)
    occur in that order as consecutive words of the transcript; each occurrence is an
    event. Areas whose label is never spoken give none.

    Parameters
    ----------
    fixations : Fixations
        The trial's fixations (one eye), in the areas' coordinates.
    transcript : Transcript or None
    areas : sequence of :class:`vista.gaze.areas.InterestArea`
    participant, trial_id : str
        Carried into the events (the participant is the unit of one bootstrap band).
    """
    if transcript is None or not transcript.words or not len(fixations):
        return []
    words = list(transcript.words)
    spoken = [" ".join(_tokens(w.text)) for w in words]
    out = []
    for area in areas:
        target = _tokens(area.label)
        if not target:
            continue
        k = len(target)
        hits = [i for i in range(len(words) - k + 1) if spoken[i:i + k] == target]
        if not hits:
            continue
        inside = np.asarray(area.contains(fixations.xs, fixations.ys), dtype=bool)
        for i in hits:
            out.append(NamingEvent(float(words[i].start_ms), float(words[i + k - 1].end_ms),
                                   fixations.starts_ms, fixations.ends_ms, inside,
                                   area.label, participant, trial_id))
    return out


def _bin_times(events: Sequence[NamingEvent], edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event and time bin: fixation time inside the region, and all fixation time."""
    inside = np.zeros((len(events), edges.size - 1))
    total = np.zeros_like(inside)
    lo, hi = edges[:-1], edges[1:]
    for e, ev in enumerate(events):
        s = ev.starts_ms - ev.onset_ms
        t = ev.ends_ms - ev.onset_ms
        keep = (t > edges[0]) & (s < edges[-1])
        if not keep.any():
            continue
        overlap = np.clip(np.minimum(t[keep, None], hi) - np.maximum(s[keep, None], lo), 0, None)
        total[e] = overlap.sum(axis=0)
        inside[e] = overlap[ev.inside[keep]].sum(axis=0)
    return inside, total


@dataclass(frozen=True)
class _Reading:
    peak_ms: float
    peak: float
    baseline: float
    span_ms: float
    window_ms: tuple[float, float]


def _smooth(curve: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return curve
    filled = np.where(np.isnan(curve), 0.0, curve)
    ok = (~np.isnan(curve)).astype(float)
    kernel = np.ones(width)
    num = np.convolve(filled, kernel, mode="same")
    den = np.convolve(ok, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _half_rise(curve: np.ndarray, times: np.ndarray, k: int, level: float) -> float:
    """The last time before bin ``k`` at which the curve is at or below ``level``, the
    crossing interpolated linearly between bins."""
    low = np.flatnonzero(curve[: k + 1] <= level)
    j = int(low[-1]) if low.size else 0
    if j < k and curve[j + 1] != curve[j] and not np.isnan(curve[j + 1]):
        frac = (level - curve[j]) / (curve[j + 1] - curve[j])
        return float(times[j] + frac * (times[j + 1] - times[j]))
    return float(times[j])


def _read_curve(curve: np.ndarray, times: np.ndarray, share: float) -> _Reading:
    """Peak, half-rise span and the shortest window holding ``share`` of the excess."""
    if np.isnan(curve).all():
        nan = math.nan
        return _Reading(nan, nan, nan, nan, (nan, nan))
    k = int(np.nanargmax(curve))
    peak = float(curve[k])
    baseline = float(np.nanmin(curve[: k + 1]))
    span = _half_rise(curve, times, k, baseline + 0.5 * (peak - baseline))
    # the level the rise starts from: the 400 ms ending 200 ms before that first estimate
    # (the minimum may lie in an earlier, lower stretch, which would pull the span early)
    near = (times >= span - 600) & (times <= span - 200) & ~np.isnan(curve)
    if near.any() and float(np.mean(curve[near])) < peak:
        baseline = float(np.mean(curve[near]))
        span = _half_rise(curve, times, k, baseline + 0.5 * (peak - baseline))
    excess = np.clip(np.nan_to_num(curve - baseline), 0, None)
    cum = np.concatenate([[0.0], np.cumsum(excess)])
    need = share * cum[-1]
    best = (0, excess.size)
    if need > 0:
        # for every start, the first end whose cumulative excess reaches the need
        ends = np.searchsorted(cum, cum[:-1] + need - 1e-12 * cum[-1], side="left")
        valid = ends <= excess.size
        starts = np.flatnonzero(valid)
        widths = ends[valid] - starts
        i = int(np.argmin(widths))
        best = (int(starts[i]), int(ends[valid][i]))
    step = float(times[1] - times[0]) if times.size > 1 else 0.0
    window = (float(times[best[0]] - step / 2), float(times[best[1] - 1] + step / 2))
    return _Reading(float(times[k]), peak, baseline, span, window)


@dataclass(frozen=True, eq=False)
class LagResult:
    """The in-region share of fixation time around naming onsets, and what it says.

    Attributes
    ----------
    times_ms : numpy.ndarray
        Bin centres relative to the naming onset, ms.
    curve : numpy.ndarray
        Share of fixation time inside the named region in each bin (all events pooled).
    band_events, band_participants : numpy.ndarray, shape (2, bins)
        Percentile bands of the curve from resampling events, and whole participants
        (NaN with a single participant).
    peak_ms, peak : float
        Time and height of the curve's maximum (after smoothing over ``smooth_ms``).
    baseline : float
        The level the rise starts from (see the module's description).
    span_ms : float
        Half-rise time: when gaze typically reaches the region (negative: before the
        onset). ``span_interval`` is its bootstrap interval over events.
    window_ms : tuple of float
        The shortest interval holding ``share`` of the in-region time above baseline.
    suggested_lead_ms, suggested_lag_ms : float
        For ``vista maps``: the lead is ``-window_ms[0]``; the lag is how far the window
        reaches past the median phrase end (``vista maps`` measures it from a segment's
        end), both rounded to 10 ms and at least 0.
    n_events, n_participants : int
    params : dict
        The settings that made the result.
    """

    times_ms: np.ndarray
    curve: np.ndarray
    band_events: np.ndarray
    band_participants: np.ndarray
    peak_ms: float
    peak: float
    baseline: float
    span_ms: float
    span_interval: tuple[float, float]
    peak_interval: tuple[float, float]
    window_ms: tuple[float, float]
    suggested_lead_ms: float
    suggested_lag_ms: float
    n_events: int
    n_participants: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (curves as lists, NaN as None)."""

        def clean(a: Any) -> Any:
            arr = np.asarray(a, dtype=float)
            return [None if math.isnan(v) else float(v) for v in arr.reshape(-1)] if arr.ndim \
                else (None if math.isnan(float(arr)) else float(arr))

        return {
            "times_ms": clean(self.times_ms), "curve": clean(self.curve),
            "band_events": [clean(r) for r in self.band_events],
            "band_participants": [clean(r) for r in self.band_participants],
            "peak_ms": clean(self.peak_ms), "peak": clean(self.peak),
            "baseline": clean(self.baseline), "span_ms": clean(self.span_ms),
            "span_interval": clean(self.span_interval), "peak_interval": clean(self.peak_interval),
            "window_ms": clean(self.window_ms), "suggested_lead_ms": self.suggested_lead_ms,
            "suggested_lag_ms": self.suggested_lag_ms, "n_events": self.n_events,
            "n_participants": self.n_participants, "params": self.params,
        }


def _weighted_curves(weights: np.ndarray, inside: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ inside) / (weights @ total)


def _draw_weights(n_units: int, n_boot: int, gen: np.random.Generator) -> np.ndarray:
    """How many times each unit is drawn in each of ``n_boot`` resamples (B × n)."""
    idx = gen.integers(0, n_units, size=(n_boot, n_units))
    return np.stack([np.bincount(row, minlength=n_units) for row in idx]).astype(float)


def eye_voice_lag(
    events: Sequence[NamingEvent],
    *,
    window_ms: tuple[float, float] = WINDOW_MS,
    step_ms: float = 10.0,
    smooth_ms: float = 50.0,
    share: float = 0.8,
    n_boot: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator | int | None = None,
) -> LagResult:
    """The in-region share of fixation time against time from naming onset.

    Parameters
    ----------
    events : sequence of NamingEvent
        From :func:`naming_events` (at least one).
    window_ms : (float, float), default (-3000, 1000)
        Times relative to the onset, ms.
    step_ms : float, default 10
        Bin width, ms.
    smooth_ms : float, default 50
        Width of the moving average applied before reading peak and span.
    share : float, default 0.8
        Share of the excess in-region time the suggested window must hold.
    n_boot : int, default 1000
        Bootstrap resamples for the bands and intervals.
    confidence : float, default 0.95
    rng : numpy.random.Generator or int or None

    Returns
    -------
    LagResult
    """
    if not events:
        raise ValueError("no naming events: no region label was found spoken in the "
                         "transcripts (check the regions and that the sessions are transcribed)")
    a, b = (float(v) for v in window_ms)
    if not (math.isfinite(a) and math.isfinite(b) and a < b):
        raise ValueError(f"window_ms must be (start, end) with start < end; got {window_ms!r}")
    if not 0 < step_ms <= (b - a) / 2:
        raise ValueError(f"step_ms must be in (0, {(b - a) / 2:g}]; got {step_ms!r}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share!r}")
    n_boot = check_int("n_boot", n_boot, minimum=1)
    edges = np.arange(a, b + step_ms / 2, step_ms)
    times = (edges[:-1] + edges[1:]) / 2
    inside, total = _bin_times(events, edges)
    width = max(1, round(smooth_ms / step_ms))
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = inside.sum(axis=0) / total.sum(axis=0)
    reading = _read_curve(_smooth(curve, width), times, share)
    gen = as_rng(rng)
    alpha = (1 - confidence) / 2
    reps = _weighted_curves(_draw_weights(len(events), n_boot, gen), inside, total)
    band_events = np.nanquantile(reps, [alpha, 1 - alpha], axis=0)
    readings = [_read_curve(_smooth(r, width), times, share) for r in reps]
    spans = np.array([r.span_ms for r in readings])
    peaks = np.array([r.peak_ms for r in readings])
    people = sorted({ev.participant for ev in events})
    band_people = np.full((2, times.size), np.nan)
    if len(people) > 1:
        code = {p: i for i, p in enumerate(people)}
        member = np.zeros((len(people), len(events)))
        for e, ev in enumerate(events):
            member[code[ev.participant], e] = 1.0
        w = _draw_weights(len(people), n_boot, gen) @ member
        band_people = np.nanquantile(_weighted_curves(w, inside, total), [alpha, 1 - alpha], axis=0)
    durations = np.array([ev.end_ms - ev.onset_ms for ev in events])
    lead = max(0.0, round(-reading.window_ms[0] / 10) * 10)
    lag = max(0.0, round((reading.window_ms[1] - float(np.median(durations))) / 10) * 10)
    return LagResult(
        times_ms=times, curve=curve, band_events=band_events, band_participants=band_people,
        peak_ms=reading.peak_ms, peak=reading.peak, baseline=reading.baseline,
        span_ms=reading.span_ms, span_interval=_interval(spans, alpha),
        peak_interval=_interval(peaks, alpha), window_ms=reading.window_ms,
        suggested_lead_ms=float(lead), suggested_lag_ms=float(lag), n_events=len(events),
        n_participants=len(people),
        params={"window_ms": [a, b], "step_ms": float(step_ms), "smooth_ms": float(smooth_ms),
                "share": float(share), "n_boot": n_boot, "confidence": float(confidence)},
    )


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    ok = values[~np.isnan(values)]
    if not ok.size:
        return (math.nan, math.nan)
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def session_events(
    trials: Sequence[Trial], *, participant: str, regions: str | os.PathLike[str] = "scene",
    ias_space: str = "screen", eye: str | None = None, base_dir: Any = None,
) -> list[NamingEvent]:
    """Naming events of a list of trials, with the regions of ``regions``
    (``"scene"``, an ``.ias`` file or folder, or a CSV of ``image, phrase, polygon``)."""
    from .areas import _pick_eye, trial_areas

    space = "image" if str(regions).lower().endswith(".csv") else ias_space
    out: list[NamingEvent] = []
    for trial in trials:
        areas = trial_areas(trial, ias=regions, ias_space=space, base_dir=base_dir)
        if areas:
            out += naming_events(_pick_eye(trial.fixations, eye), trial.transcript, areas,
                                 participant=participant, trial_id=trial.trial_id)
    return out


def session_lag(
    sessions: Sequence[str | os.PathLike[str]], *, regions: str | os.PathLike[str] = "scene",
    ias_space: str = "screen", eye: str | None = None, **options: Any,
) -> LagResult:
    """:func:`eye_voice_lag` over the naming events of session folders.

    Parameters
    ----------
    sessions : sequence of path
        Session folders written by ``vista record`` (transcribed).
    regions : "scene" or path
        Where the named regions come from: the simulator's scene files next to the
        images, an ``.ias`` file or a folder of ``IMAGE_STEM.ias`` files (screen pixels
        unless ``ias_space="image"``), or a CSV of ``image, phrase, polygon`` (image
        pixels).
    ias_space : {"screen", "image"}
    eye : {"L", "R"} or None
        None: the right eye where both were recorded.
    **options
        Passed to :func:`eye_voice_lag`.
    """
    from .session_reader import is_session_dir, read_session

    if not sessions:
        raise ValueError("give at least one session folder")
    events: list[NamingEvent] = []
    for path in sessions:
        if not is_session_dir(path):
            raise FileNotFoundError(f"{path} is not a session folder (no session.json)")
        s = read_session(path)
        events += session_events(s.trials, participant=s.participant, regions=regions,
                                 ias_space=ias_space, eye=eye, base_dir=s.recording.parent)
    result = eye_voice_lag(events, **options)
    return replace(result, params={**result.params, "regions": str(regions),
                                   "sessions": [str(p) for p in sessions]})


def plot_lag(result: LagResult, *, ax: Any = None) -> Any:
    """The in-region share against time from naming onset, with its bands.

    Returns the matplotlib Figure (never shown). The event band is shaded; the
    participant band, where there are several participants, is drawn as dashed lines;
    the span, the peak and the suggested window are marked.
    """
    from ..viz import axes_for

    ax = axes_for(ax, figsize=(6.4, 3.6), layout="constrained")
    fig = ax.figure
    t = result.times_ms / 1000.0
    ax.fill_between(t, result.band_events[0], result.band_events[1], color="C0", alpha=0.25,
                    linewidth=0,
                    label=f"{result.params.get('confidence', 0.95):.0%} band (events)")
    if not np.isnan(result.band_participants).all():
        for row in result.band_participants:
            ax.plot(t, row, color="C0", linestyle="--", linewidth=0.8)
        ax.plot([], [], color="C0", linestyle="--", linewidth=0.8, label="band (participants)")
    ax.plot(t, result.curve, color="C0", linewidth=1.5, label="in named region")
    w0, w1 = result.window_ms
    if math.isfinite(w0) and math.isfinite(w1):
        ax.axvspan(w0 / 1000, w1 / 1000, color="C2", alpha=0.1,
                   label=f"window: lead {result.suggested_lead_ms:g} ms")
    if math.isfinite(result.span_ms):
        ax.axvline(result.span_ms / 1000, color="C3", linewidth=1,
                   label=f"span {result.span_ms:.0f} ms")
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_xlabel("time from naming onset (s)")
    ax.set_ylabel("share of fixation time in region")
    ax.set_ylim(0, 1)
    ax.set_title(f"eye-voice span: {result.n_events} namings, "
                 f"{result.n_participants} participant(s)")
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    return fig
