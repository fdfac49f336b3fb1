"""The simulated participant: when each phrase is spoken and where the eyes go.

:func:`plan_speech` times the phrases of a :class:`~vista.acquisition.scene.Scene`;
:class:`GazeModel` holds the viewer's parameters; the participant looks at each region
shortly *before* naming it (the eye-voice span, Griffin & Bock 2000: about 0.5-1 s),
with gamma-distributed fixation durations, main-sequence saccades, Gaussian positional
noise and some free-viewing fixations elsewhere on the image. :func:`simulate_gaze` is
one trial without a tracker around it; :class:`~vista.acquisition.simulate.SimulatedTracker`
runs the same process on its clock.

References
----------
Griffin, Z. M. & Bock, K. (2000). What the eyes say about speaking. Psychological
Science 11(4), 274-279.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_rng, check_option, check_positive
from ..records import Placement, Screen, Word
from .scene import Region, Scene

__all__ = [
    "MAX_SPAN_MS",
    "SPAN_ONSETS",
    "GazeModel",
    "plan_speech",
    "saccade_duration_ms",
    "saccade_peak_velocity",
    "simulate_gaze",
]

def plan_speech(
    scene: Scene,
    *,
    rng: np.random.Generator | int | None = None,
    onset_s: tuple[float, float] = (0.8, 1.6),
    word_s: tuple[float, float] = (0.22, 0.42),
    pause_s: tuple[float, float] = (0.5, 1.2),
    punctuate: bool = True,
) -> list[tuple[int, list[Word]]]:
    """When each region's phrase is spoken: words with times in ms after image onset.

    Regions with ``start_s``/``end_s`` keep them (their words share the span evenly);
    the others follow the previous phrase after a pause. Durations are uniform in the
    given ranges (seconds). With ``punctuate``, each phrase ends with a comma (the
    last with a full stop), as a recogniser would write it, so that
    ``vista maps --segmenter phrase`` gives one segment per region.

    Returns
    -------
    list of (region index, words)
        In speaking order.

    Examples
    --------
    >>> from vista.acquisition.scene import Region
    >>> s = Scene((10, 10), (Region("a cat", (1, 1, 2, 2), 1.0, 2.0),))
    >>> [(w.text, w.start_ms, w.end_ms) for w in plan_speech(s)[0][1]]
    [('a', 1000.0, 1500.0), ('cat.', 1500.0, 2000.0)]
    """
    gen = as_rng(rng)
    out: list[tuple[int, list[Word]]] = []
    t = gen.uniform(*onset_s)
    for i, region in enumerate(scene.regions):
        tokens = region.phrase.split()
        if region.start_s is not None and region.end_s is not None:
            edges = np.linspace(region.start_s, region.end_s, len(tokens) + 1)
            t = region.end_s + gen.uniform(*pause_s)
        else:
            durations = gen.uniform(*word_s, size=len(tokens))
            edges = t + np.concatenate([[0.0], np.cumsum(durations)])
            t = float(edges[-1]) + gen.uniform(*pause_s)
        if punctuate and tokens[-1][-1] not in ".,;:!?":
            tokens[-1] += "." if i == len(scene.regions) - 1 else ","
        words = [
            Word(tok, round(float(edges[k]) * 1000.0, 3), round(float(edges[k + 1]) * 1000.0, 3))
            for k, tok in enumerate(tokens)
        ]
        out.append((i, words))
    return out


# --------------------------------------------------------------------------- gaze

MAX_SPAN_MS = 10_000.0
"""Longest planted eye-voice span accepted, ms."""
SPAN_ONSETS = ("window", "arrival")
_LATE_MS = 100.0  # a window opened this recently (during a saccade) is still landed on
"""What a planted span times: when the region becomes the target, or when the eyes land."""


@dataclass(frozen=True)
class GazeModel:
    """The parameters of the simulated viewer (all have defaults from the literature).

    Parameters
    ----------
    span_ms : tuple of float
        The planted eye-voice span, ms: for each phrase a value drawn uniformly from
        ``[low, high]`` (Griffin & Bock 2000 report ~0.5-1 s; 0 to 10 000 ms accepted).
        The phrase's region becomes the gaze target that long before the phrase starts,
        and stops being it the same span before the phrase ends.
    span_onset : {"window", "arrival"}
        What the span times. ``"window"`` (the default, and 0.1.0's behaviour): the
        region becomes the target, and the eyes move there when the fixation under way
        ends (on average about half a fixation and a saccade later). ``"arrival"``: the
        fixation under way is cut short (or drawn out by at most 100 ms) so that the
        saccade *lands* on the region the span before the phrase starts (to within a
        few ms), for estimators that need the planted value itself (``vista lag``).
    fixation_ms : float
        Mean fixation duration, ms (scene viewing: ~250-300 ms).
    fixation_shape : float
        Shape of the gamma distribution of fixation durations (larger: less spread).
    min_fixation_ms : float
        Shortest fixation, ms.
    noise_deg : float
        Standard deviation of the Gaussian landing error, degrees of visual angle.
    free_viewing : float
        Probability that a fixation during a phrase's gaze window lands elsewhere
        (another region or anywhere on the image).
    tremor_deg : float
        Standard deviation of sample-to-sample jitter within a fixation, degrees.
    """

    span_ms: tuple[float, float] = (500.0, 1000.0)
    span_onset: str = "window"
    fixation_ms: float = 250.0
    fixation_shape: float = 4.0
    min_fixation_ms: float = 80.0
    noise_deg: float = 0.5
    free_viewing: float = 0.2
    tremor_deg: float = 0.03

    def __post_init__(self) -> None:
        try:
            lo, hi = (float(v) for v in self.span_ms)
        except (TypeError, ValueError):
            raise ValueError(f"GazeModel.span_ms must be two numbers (low, high); got "
                             f"{self.span_ms!r}") from None
        if not (0 <= lo <= hi <= MAX_SPAN_MS):
            raise ValueError(f"GazeModel.span_ms must be (low, high) with 0 <= low <= high <= "
                             f"{MAX_SPAN_MS:g}; got {self.span_ms!r}")
        object.__setattr__(self, "span_ms", (lo, hi))
        check_option("GazeModel.span_onset", self.span_onset, SPAN_ONSETS)
        check_positive("GazeModel.fixation_ms", self.fixation_ms)
        check_positive("GazeModel.fixation_shape", self.fixation_shape)
        check_positive("GazeModel.min_fixation_ms", self.min_fixation_ms, allow_zero=True)
        check_positive("GazeModel.noise_deg", self.noise_deg, allow_zero=True)
        check_positive("GazeModel.tremor_deg", self.tremor_deg, allow_zero=True)
        if not 0 <= self.free_viewing <= 1:
            raise ValueError(f"GazeModel.free_viewing must be in [0, 1]; got {self.free_viewing!r}")

    def to_dict(self) -> dict[str, Any]:
        """The parameters, JSON-ready (what a session records as its provenance)."""
        return {"span_ms": list(self.span_ms), "span_onset": self.span_onset,
                "fixation_ms": self.fixation_ms, "fixation_shape": self.fixation_shape,
                "min_fixation_ms": self.min_fixation_ms, "noise_deg": self.noise_deg,
                "free_viewing": self.free_viewing, "tremor_deg": self.tremor_deg}

    def draw_span_ms(self, gen: np.random.Generator) -> float:
        """One planted span, ms (uniform in ``span_ms``)."""
        lo, hi = self.span_ms
        # drawn in seconds, as 0.1.0 did, so the same seed gives the same recording
        return float(gen.uniform(lo / 1000.0, hi / 1000.0) * 1000.0)

    def fixation_duration(self, gen: np.random.Generator) -> float:
        d = gen.gamma(self.fixation_shape, self.fixation_ms / self.fixation_shape)
        return float(max(round(d), self.min_fixation_ms))


def saccade_duration_ms(amplitude_deg: float) -> float:
    """Main-sequence saccade duration, ms: ``21 + 2.2 * amplitude`` (Carpenter 1988)."""
    return float(round(21.0 + 2.2 * amplitude_deg))


def saccade_peak_velocity(amplitude_deg: float) -> float:
    """Main-sequence peak velocity, deg/s: ``500 * (1 - exp(-A / 15))``."""
    return 500.0 * (1.0 - math.exp(-amplitude_deg / 15.0))


@dataclass
class _Trial:
    """What the simulated participant does during one image: gaze windows in tracker ms."""

    onset_ms: float
    placement: Placement
    scene: Scene
    windows: list[tuple[float, float, int]]  # (start, end, region index)
    words: list[Word]
    phrases: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, text
    spans: list[float] = field(default_factory=list)  # planted span of each window, ms


def _image_to_screen(p: Placement, scene: Scene, x: float, y: float) -> tuple[float, float]:
    h, w = scene.image_size
    return p.left + (x + 0.5) * p.width / w - 0.5, p.top + (y + 0.5) * p.height / h - 0.5


def _pick_target(
    trial: _Trial | None, t: float, model: GazeModel, gen: np.random.Generator,
    idle: tuple[float, float],
) -> tuple[float, float]:
    """Where the next fixation aims (screen px, before noise)."""
    if trial is None:
        return idle
    scene, p = trial.scene, trial.placement
    active = [r for (s, e, r) in trial.windows if s <= t < e]
    if active and gen.random() >= model.free_viewing:
        region = scene.regions[active[0]]
    elif scene.regions and gen.random() < 0.5:
        region = scene.regions[int(gen.integers(len(scene.regions)))]
    else:
        h, w = scene.image_size
        x = float(np.clip(gen.normal(w / 2, w / 4), 0, w - 1))
        y = float(np.clip(gen.normal(h / 2, h / 4), 0, h - 1))
        return _image_to_screen(p, scene, x, y)
    return _region_target(trial, region, gen)


def _region_target(trial: _Trial, region: Region, gen: np.random.Generator,
                   ) -> tuple[float, float]:
    """A point of ``region`` (screen px): uniform over the central 60% of its box (a
    point stays a point)."""
    x0, y0, x1, y1 = region.box
    cx, cy = region.center
    x = cx + gen.uniform(-0.3, 0.3) * (x1 - x0)
    y = cy + gen.uniform(-0.3, 0.3) * (y1 - y0)
    return _image_to_screen(trial.placement, trial.scene, x, y)


def simulate_gaze(
    scene: Scene,
    placement: Placement,
    screen: Screen,
    *,
    duration_ms: float,
    speech: Sequence[tuple[int, Sequence[Word]]] | None = None,
    model: GazeModel | None = None,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, list[Word]]:
    """Fixations of one simulated trial, without the tracker around it.

    Parameters
    ----------
    scene, placement, screen
        The image's scene, where it was shown and the display.
    duration_ms : float
        Trial length after image onset, ms.
    speech : list of (region index, words), optional
        From :func:`plan_speech` (times in ms after onset); planned here if absent.
    model : GazeModel, optional
        Viewer parameters.
    rng : Generator, int or None
        Seed.

    Returns
    -------
    fixations : ndarray
        N×4 float: start ms, end ms (after onset), x, y (screen px).
    words : list of Word
        The spoken words, ms after onset.

    Examples
    --------
    >>> from vista.acquisition.scene import Region
    >>> scr = Screen(800, 600, 400.0, 300.0, 600.0)
    >>> sc = Scene((100, 100), (Region("a ball", (40, 40, 60, 60)),))
    >>> fix, words = simulate_gaze(sc, Placement(350, 250, 100, 100), scr,
    ...                            duration_ms=3000, rng=0)
    >>> fix.shape[1], [w.text for w in words]
    (4, ['a', 'ball.'])
    """
    gen = as_rng(rng)
    model = model or GazeModel()
    speech = plan_speech(scene, rng=gen) if speech is None else speech
    trial = _make_trial(0.0, placement, scene, speech, model, gen)
    proc = _GazeProcess(screen, model, gen, start_ms=0.0,
                        start_xy=(screen.width_px / 2, screen.height_px / 2))
    proc.trial = trial
    rows = []
    for seg in proc.segments():
        if seg.start_ms >= duration_ms:
            break
        if seg.kind == "fix":
            rows.append([seg.start_ms, min(seg.end_ms, duration_ms), seg.x1, seg.y1])
    return np.array(rows, dtype=np.float64).reshape(-1, 4), trial.words


def _make_trial(
    onset_ms: float, placement: Placement, scene: Scene,
    speech: Sequence[tuple[int, Sequence[Word]]], model: GazeModel, gen: np.random.Generator,
) -> _Trial:
    windows: list[tuple[float, float, int]] = []
    words: list[Word] = []
    phrases: list[tuple[float, float, str]] = []
    spans: list[float] = []
    for region_index, ws in speech:
        if not ws:
            continue
        lead = model.draw_span_ms(gen)
        spans.append(lead)
        windows.append((onset_ms + ws[0].start_ms - lead, onset_ms + ws[-1].end_ms - lead, region_index))
        words.extend(Word(w.text, onset_ms + w.start_ms, onset_ms + w.end_ms) for w in ws)
        phrases.append((onset_ms + ws[0].start_ms, onset_ms + ws[-1].end_ms,
                        " ".join(w.text for w in ws)))
    return _Trial(onset_ms, placement, scene, windows, words, phrases, spans)


@dataclass
class _Segment:
    kind: str  # "fix" or "sacc"
    start_ms: float
    end_ms: float  # exclusive: the last sample is end_ms - 1 (edf2asc convention)
    x0: float
    y0: float
    x1: float
    y1: float


class _GazeProcess:
    """An endless alternation of fixations and saccades from ``start_ms`` on."""

    def __init__(
        self, screen: Screen, model: GazeModel, gen: np.random.Generator, *,
        start_ms: float, start_xy: tuple[float, float],
    ) -> None:
        self.screen, self.model, self.gen = screen, model, gen
        self.t = float(round(start_ms))
        self.x, self.y = start_xy
        self.trial: _Trial | None = None
        self.idle = start_xy
        self._first = True
        self._forced: int | None = None  # window whose region the next saccade lands on
        self._landed: tuple[int, set[int]] = (0, set())  # (id of trial, windows landed)

    def _arrival_cut(self, d: float) -> float:
        """With ``span_onset="arrival"``: shorten the fixation under way so that the
        next saccade lands on a window's region when the window opens."""
        trial = self.trial
        if trial is None or self.model.span_onset != "arrival":
            return d
        if self._landed[0] != id(trial):
            self._landed = (id(trial), set())
        ppd = self.screen.px_per_degree
        for k, (s, _e, r) in enumerate(trial.windows):
            if k in self._landed[1] or s < self.t - _LATE_MS:
                continue  # landed already, or opened too long ago (before the trial)
            cx, cy = _image_to_screen(trial.placement, trial.scene, *trial.scene.regions[r].center)
            launch = s - saccade_duration_ms(math.hypot(cx - self.x, cy - self.y) / ppd)
            # a launch due just after this fixation would come after the next saccade:
            # the fixation is drawn out to it instead (by at most _LATE_MS)
            if launch < self.t + d + _LATE_MS:
                self._landed[1].add(k)
                self._forced = k
                return float(max(round(launch - self.t), 1))
            break
        return d

    def _target(self) -> tuple[float, float]:
        if self._forced is not None and self.trial is not None:
            region = self.trial.scene.regions[self.trial.windows[self._forced][2]]
            self._forced = None
            return _region_target(self.trial, region, self.gen)
        return _pick_target(self.trial, self.t, self.model, self.gen, self.idle)

    def segments(self) -> Iterator[_Segment]:
        ppd = self.screen.px_per_degree
        W, H = self.screen.width_px, self.screen.height_px
        while True:
            if self._first:  # keep looking where the eyes were
                self._first = False
            else:
                tx, ty = self._target()
                nx = float(np.clip(tx + self.gen.normal(0, self.model.noise_deg * ppd), 0, W - 1))
                ny = float(np.clip(ty + self.gen.normal(0, self.model.noise_deg * ppd), 0, H - 1))
                amp = math.hypot(nx - self.x, ny - self.y) / ppd
                if amp > 0.5:
                    d = saccade_duration_ms(amp)
                    yield _Segment("sacc", self.t, self.t + d, self.x, self.y, nx, ny)
                    self.t += d
                self.x, self.y = nx, ny
            d = self._arrival_cut(self.model.fixation_duration(self.gen))
            yield _Segment("fix", self.t, self.t + d, self.x, self.y, self.x, self.y)
            self.t += d


def _position(seg: _Segment, t: float) -> tuple[float, float]:
    if seg.kind == "fix" or seg.end_ms <= seg.start_ms:
        return seg.x1, seg.y1
    u = min(max((t - seg.start_ms) / (seg.end_ms - seg.start_ms), 0.0), 1.0)
    u = u * u * (3 - 2 * u)  # smooth acceleration and deceleration
    return seg.x0 + u * (seg.x1 - seg.x0), seg.y0 + u * (seg.y1 - seg.y0)
