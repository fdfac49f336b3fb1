"""A simulated eye tracker: plausible fixations and saccades from a scene model.

The scene model says what a participant talks about: the image size and a list of
regions (boxes or points in image pixels), each with the phrase that describes it and,
optionally, when it is spoken. The simulated participant speaks the phrases one after
another and looks at each region shortly *before* naming it (the eye-voice lead,
Griffin & Bock 2000: about 0.5-1 s), with gamma-distributed fixation durations,
main-sequence saccades, Gaussian positional noise and some free-viewing fixations
elsewhere on the image.

:class:`SimulatedTracker` follows the :class:`~vista.acquisition.tracker.Tracker`
protocol. It watches the standard messages the session sends (``!V IMGLOAD`` tells it
which image is on screen and where, ``SYNCTIME`` when it appeared) and writes an
edf2asc-format log (samples, fixation and saccade events, messages) through
:class:`vista.gaze.asc.AscWriter`. Its clock is simulated tracker time: it moves only
when the session waits (:meth:`SimulatedTracker.sleep`) or calls
:meth:`SimulatedTracker.advance`, so a run is reproducible and needs no real time;
``speed`` only paces the waits against real time (1: real time, for a demo on a
display; None: as fast as the computer goes).

References
----------
Griffin, Z. M. & Bock, K. (2000). What the eyes say about speaking. Psychological
Science 11(4), 274-279.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._validation import as_rng, check_positive
from ..errors import ParseError
from ..records import Placement, Screen, Transcript, Word

__all__ = [
    "GazeModel",
    "Region",
    "Scene",
    "SimSample",
    "SimulatedTracker",
    "default_scene",
    "load_scene",
    "plan_speech",
    "scene_path",
    "simulate_gaze",
]

SCENE_SUFFIX = ".scene.json"


# --------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class Region:
    """A part of the image that is talked about.

    Parameters
    ----------
    phrase : str
        The words that describe it (what the simulated participant says).
    box : tuple of float
        ``(x0, y0, x1, y1)`` in image pixels; a point is a box with ``x0 == x1`` and
        ``y0 == y1``.
    start_s, end_s : float, optional
        When the phrase is spoken, seconds after image onset; planned by
        :func:`plan_speech` when absent.

    Examples
    --------
    >>> Region("a red car", (10, 20, 110, 70)).center
    (60.0, 45.0)
    """

    phrase: str
    box: tuple[float, float, float, float]
    start_s: float | None = None
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.phrase, str) or not self.phrase.split():
            raise ValueError(f"Region.phrase must be a non-empty string; got {self.phrase!r}")
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"Region.box must be 4 finite numbers (x0, y0, x1, y1); got {self.box!r}")
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"Region.box must have x0 <= x1 and y0 <= y1; got {self.box!r}")
        object.__setattr__(self, "box", box)
        if (self.start_s is None) != (self.end_s is None):
            raise ValueError(f"Region {self.phrase!r}: give both start_s and end_s or neither")
        if self.start_s is not None and self.end_s is not None:
            check_positive(f"Region {self.phrase!r} start_s", self.start_s, allow_zero=True)
            if self.end_s <= self.start_s:
                raise ValueError(f"Region {self.phrase!r}: end_s must be after start_s")

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the box, image pixels ``(x, y)``."""
        x0, y0, x1, y1 = self.box
        return 0.5 * (x0 + x1), 0.5 * (y0 + y1)

    def to_dict(self) -> dict[str, Any]:
        x0, y0, x1, y1 = self.box
        out: dict[str, Any] = {"phrase": self.phrase}
        if x0 == x1 and y0 == y1:
            out["point"] = [x0, y0]
        else:
            out["box"] = [x0, y0, x1, y1]
        if self.start_s is not None:
            out["start_s"] = self.start_s
            out["end_s"] = self.end_s
        return out


@dataclass(frozen=True)
class Scene:
    """What is on an image and what is said about it.

    Parameters
    ----------
    image_size : tuple of int
        ``(height, width)`` of the image file, pixels.
    regions : sequence of Region
        In the order they are spoken about.

    Examples
    --------
    >>> s = Scene.from_dict({"regions": [{"phrase": "a dog", "point": [5, 6]}]},
    ...                     image_size=(20, 30))
    >>> s.regions[0].box, s.to_dict()["regions"][0]["point"]
    ((5.0, 6.0, 5.0, 6.0), [5.0, 6.0])
    """

    image_size: tuple[int, int]
    regions: tuple[Region, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.image_size)
        if h <= 0 or w <= 0:
            raise ValueError(f"Scene.image_size must be positive (height, width); got {self.image_size!r}")
        object.__setattr__(self, "image_size", (h, w))
        object.__setattr__(self, "regions", tuple(self.regions))
        for r in self.regions:
            if not isinstance(r, Region):
                raise TypeError(f"Scene.regions must hold Region records; got {r!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), "regions": [r.to_dict() for r in self.regions]}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, image_size: tuple[int, int] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Scene:
        """Build a scene from its JSON form (see :func:`load_scene` for the format).

        ``image_size`` (height, width) overrides the file's ``image_size``.
        """
        try:
            size = image_size if image_size is not None else tuple(data["image_size"])
            regions = []
            for i, r in enumerate(data.get("regions", [])):
                if "box" in r:
                    box = tuple(r["box"])
                elif "point" in r:
                    x, y = r["point"]
                    box = (x, y, x, y)
                else:
                    raise ValueError(f"region {i} needs a 'box' [x0, y0, x1, y1] or a 'point' [x, y]")
                regions.append(Region(str(r["phrase"]), box, r.get("start_s"), r.get("end_s")))
            return cls(size, tuple(regions))
        except (KeyError, TypeError, ValueError) as exc:
            if path is None:
                raise
            msg = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ParseError(f"invalid scene: {msg}", path=path) from exc


def scene_path(image_path: str | os.PathLike[str]) -> Path:
    """The scene file that goes with an image: ``photo.png`` -> ``photo.scene.json``.

    Examples
    --------
    >>> scene_path("/data/photo.png").name
    'photo.scene.json'
    """
    p = Path(image_path)
    return p.with_name(p.stem + SCENE_SUFFIX)


def load_scene(
    image_path: str | os.PathLike[str], *, image_size: tuple[int, int] | None = None,
    n_regions: int = 3,
) -> Scene:
    """The scene of an image: its scene file if there is one, else :func:`default_scene`.

    The scene file is ``IMAGE_STEM.scene.json`` next to the image::

        {"regions": [
            {"phrase": "a red car", "box": [x0, y0, x1, y1]},
            {"phrase": "the old tree", "point": [x, y], "start_s": 4.0, "end_s": 5.2}
        ]}

    Coordinates are image pixels (x right, y down); ``start_s``/``end_s`` (optional,
    both or neither) fix when the phrase is spoken, in seconds after image onset.

    Parameters
    ----------
    image_path : path
        The image file.
    image_size : tuple of int, optional
        ``(height, width)``; read from the image when not given.
    n_regions : int
        Regions in the default scene when there is no scene file.
    """
    image_path = Path(image_path)
    sp = scene_path(image_path)
    if image_size is None:
        from PIL import Image

        with Image.open(image_path) as im:
            image_size = (im.height, im.width)
    if sp.is_file():
        try:
            data = json.loads(sp.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON: {exc.msg}", path=sp, line=exc.lineno) from exc
        return Scene.from_dict(data, image_size=image_size, path=sp)
    from ..dataset import load_image

    return default_scene(load_image(image_path), n_regions=n_regions)


_ROWS = ("upper", "middle", "lower")
_COLS = ("left", "centre", "right")


def default_scene(image: np.ndarray, *, n_regions: int = 3) -> Scene:
    """A scene for an image without a scene file: its most salient regions.

    Saliency here is the blurred gradient magnitude of the grey image (edges and
    texture attract the eye); the ``n_regions`` strongest peaks, at least a fifth of
    the image apart, become boxes a fifth of the image wide and high, named by
    position ("the thing at the upper left"). Deterministic.

    Parameters
    ----------
    image : ndarray
        H×W or H×W×C image.
    n_regions : int
        How many regions (fewer if the image has fewer distinct peaks).

    Examples
    --------
    >>> img = np.zeros((60, 90)); img[5:15, 70:85] = 255
    >>> s = default_scene(img, n_regions=1)
    >>> s.image_size, s.regions[0].phrase
    ((60, 90), 'the thing at the upper right')
    """
    from scipy import ndimage

    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2)
    if arr.ndim != 2:
        raise ValueError(f"image must be H×W or H×W×C; got shape {np.shape(image)}")
    h, w = arr.shape
    small = min(h, w)
    g = ndimage.gaussian_filter(arr, sigma=max(small * 0.01, 0.5))
    mag = np.hypot(ndimage.sobel(g, axis=0), ndimage.sobel(g, axis=1))
    sal = ndimage.gaussian_filter(mag, sigma=max(small * 0.05, 1.0))
    sal = sal + 1e-9 * _centre_bias(h, w)  # flat images: prefer the centre
    yy, xx = np.mgrid[0:h, 0:w]
    bw, bh = w / 5.0, h / 5.0
    regions: list[Region] = []
    for _ in range(n_regions):
        if not np.isfinite(sal).any() or sal.max() <= 0:
            break
        y, x = np.unravel_index(int(np.argmax(sal)), sal.shape)
        row = _ROWS[min(int(3 * y / h), 2)]
        col = _COLS[min(int(3 * x / w), 2)]
        where = "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"
        box = (max(x - bw / 2, 0.0), max(y - bh / 2, 0.0), min(x + bw / 2, w - 1.0), min(y + bh / 2, h - 1.0))
        phrase = f"the thing at the {where}"
        if any(r.phrase == phrase for r in regions):
            phrase = f"another thing at the {where}"
        regions.append(Region(phrase, box))
        sal = np.where(np.hypot((xx - x) / w, (yy - y) / h) < 0.2, -np.inf, sal)
    return Scene((h, w), tuple(regions))


def _centre_bias(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-(((xx - (w - 1) / 2) / w) ** 2 + ((yy - (h - 1) / 2) / h) ** 2) * 8)


# --------------------------------------------------------------------------- speech


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


@dataclass(frozen=True)
class GazeModel:
    """The parameters of the simulated viewer (all have defaults from the literature).

    Parameters
    ----------
    lead_s : tuple of float
        Eye-voice lead, uniform in this range, seconds: gaze reaches a region this long
        before its phrase starts (Griffin & Bock 2000 report ~0.5-1 s) and leaves it
        the same lead before the phrase ends.
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

    lead_s: tuple[float, float] = (0.5, 1.0)
    fixation_ms: float = 250.0
    fixation_shape: float = 4.0
    min_fixation_ms: float = 80.0
    noise_deg: float = 0.5
    free_viewing: float = 0.2
    tremor_deg: float = 0.03

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.lead_s)
        if not (0 <= lo <= hi):
            raise ValueError(f"GazeModel.lead_s must be (low, high) with 0 <= low <= high; got {self.lead_s!r}")
        object.__setattr__(self, "lead_s", (lo, hi))
        check_positive("GazeModel.fixation_ms", self.fixation_ms)
        check_positive("GazeModel.fixation_shape", self.fixation_shape)
        check_positive("GazeModel.min_fixation_ms", self.min_fixation_ms, allow_zero=True)
        check_positive("GazeModel.noise_deg", self.noise_deg, allow_zero=True)
        check_positive("GazeModel.tremor_deg", self.tremor_deg, allow_zero=True)
        if not 0 <= self.free_viewing <= 1:
            raise ValueError(f"GazeModel.free_viewing must be in [0, 1]; got {self.free_viewing!r}")

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
    x0, y0, x1, y1 = region.box
    cx, cy = region.center
    # uniform over the central 60% of the box (a point stays a point)
    x = cx + gen.uniform(-0.3, 0.3) * (x1 - x0)
    y = cy + gen.uniform(-0.3, 0.3) * (y1 - y0)
    return _image_to_screen(p, scene, x, y)


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
    for region_index, ws in speech:
        if not ws:
            continue
        lead = gen.uniform(*model.lead_s) * 1000.0
        windows.append((onset_ms + ws[0].start_ms - lead, onset_ms + ws[-1].end_ms - lead, region_index))
        words.extend(Word(w.text, onset_ms + w.start_ms, onset_ms + w.end_ms) for w in ws)
        phrases.append((onset_ms + ws[0].start_ms, onset_ms + ws[-1].end_ms,
                        " ".join(w.text for w in ws)))
    return _Trial(onset_ms, placement, scene, windows, words, phrases)


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

    def segments(self) -> Iterator[_Segment]:
        ppd = self.screen.px_per_degree
        W, H = self.screen.width_px, self.screen.height_px
        while True:
            if self._first:  # keep looking where the eyes were
                self._first = False
            else:
                tx, ty = _pick_target(self.trial, self.t, self.model, self.gen, self.idle)
                nx = float(np.clip(tx + self.gen.normal(0, self.model.noise_deg * ppd), 0, W - 1))
                ny = float(np.clip(ty + self.gen.normal(0, self.model.noise_deg * ppd), 0, H - 1))
                amp = math.hypot(nx - self.x, ny - self.y) / ppd
                if amp > 0.5:
                    d = saccade_duration_ms(amp)
                    yield _Segment("sacc", self.t, self.t + d, self.x, self.y, nx, ny)
                    self.t += d
                self.x, self.y = nx, ny
            d = self.model.fixation_duration(self.gen)
            yield _Segment("fix", self.t, self.t + d, self.x, self.y, self.x, self.y)
            self.t += d


# --------------------------------------------------------------------------- tracker


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Serialise calls: the audio recorder sends ``AUDIO_START`` from its own thread."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class SimSample:
    """A gaze sample of the simulated tracker (see :class:`vista.acquisition.tracker.Sample`)."""

    time_ms: float
    x: float
    y: float


class SimulatedTracker:
    """A :class:`~vista.acquisition.tracker.Tracker` that simulates a participant.

    Parameters
    ----------
    screen : Screen
        The display (for degrees to pixels).
    speed : float or None
        Pacing of :meth:`sleep`: simulated ms per real ms (1: real time; 50: a 10 s
        trial takes 0.2 s). ``None``: no real waiting at all. The simulated clock
        never depends on real time, so the same seed gives the same recording at any
        speed.
    model : GazeModel, optional
        Viewer parameters.
    rng : Generator, int or None
        Seed; the same seed and the same calls give the same recording.
    data_dir : path, optional
        Where the tracker keeps its data files (the Host PC's disk of a real tracker),
        ``data_dir/NAME.asc``, written incrementally; a temporary folder when absent.
        Files there survive a crash, so an interrupted session can still receive them.
    start_ms : float
        Tracker clock at :meth:`connect`.
    sampling_rate_hz : int
        Samples per second written to the log (500 or 1000 like an EyeLink; 0: no
        samples, events and messages only).
    eye : str
        ``"L"`` or ``"R"``.
    calibration : mapping, optional
        The validation result :meth:`calibrate` reports (default 0.35 / 0.8 degrees).
    scenes : mapping, optional
        Scene per image path (as sent in ``!V IMGLOAD``); other images get
        :func:`load_scene`.

    Notes
    -----
    The tracker learns what is on screen from the session's standard messages:
    ``!V IMGLOAD CENTER path x y [width height]`` (image and placement) and
    ``SYNCTIME`` (onset: the simulated participant starts planning speech and gaze
    from there). ``TRIAL_RESULT`` ends the trial: gaze goes back to idle.

    Examples
    --------
    >>> scr = Screen(800, 600, 400.0, 300.0, 600.0)
    >>> t = SimulatedTracker(scr, speed=None, rng=0)
    >>> t.connect(); t.open_data_file("demo"); t.start_recording()
    >>> t.advance(500); t.send_message("hello")
    >>> t.tracker_time_ms()
    500.0
    >>> t.stop_recording(); t.close_data_file(); t.close()
    """

    kind = "simulated"
    data_suffix = ".asc"
    """The suffix of the received data file (edf2asc text)."""

    def __init__(
        self,
        screen: Screen,
        *,
        speed: float | None = None,
        model: GazeModel | None = None,
        rng: np.random.Generator | int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        start_ms: float = 0.0,
        sampling_rate_hz: int = 1000,
        eye: str = "R",
        calibration: Mapping[str, float] | None = None,
        scenes: Mapping[str, Scene] | None = None,
    ) -> None:
        if not isinstance(screen, Screen):
            raise TypeError(f"screen must be a Screen record; got {screen!r}")
        if speed is not None:
            check_positive("speed", speed)
        if sampling_rate_hz not in (0, 250, 500, 1000, 2000):
            raise ValueError(f"sampling_rate_hz must be one of 0, 250, 500, 1000, 2000; got {sampling_rate_hz!r}")
        if eye not in ("L", "R"):
            raise ValueError(f"eye must be 'L' or 'R'; got {eye!r}")
        self.screen = screen
        self.speed = speed
        self.model = model or GazeModel()
        self.gen = as_rng(rng)
        self.sampling_rate_hz = sampling_rate_hz
        self.eye = eye
        self.calibration = dict(calibration or {"avg_error_deg": 0.35, "max_error_deg": 0.8})
        self.scenes = dict(scenes or {})
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._data_dir = None if data_dir is None else Path(data_dir)
        self._start_ms = float(start_ms)
        self._manual_ms = float(start_ms)
        self._connected = False
        self._writer: Any = None
        self._fh: Any = None
        self._file: Path | None = None
        self._recording = False
        self._proc: _GazeProcess | None = None
        self._segments: Iterator[_Segment] | None = None
        self._current: _Segment | None = None
        self._emitted_to = -1.0  # last sample time written
        self._fix_open = False
        self._sacc_open = False
        self._pending_image: tuple[str, Placement] | None = None
        self._trial: _Trial | None = None
        self._last_trial: _Trial | None = None
        self._idle = (screen.width_px / 2, screen.height_px / 2)
        self._lock = threading.RLock()

    # -- clock ------------------------------------------------------------------
    def tracker_time_ms(self) -> float:
        return float(math.floor(self._manual_ms))

    @_locked
    def advance(self, ms: float) -> None:
        """Move the simulated clock forward by ``ms`` at once (no real waiting)."""
        check_positive("ms", ms, allow_zero=True)
        self._manual_ms += float(ms)
        self._catch_up()

    def sleep(self, ms: float) -> None:
        """Let ``ms`` of tracker time pass: wait ``ms / speed`` real ms (not at all
        when ``speed`` is None), then advance the clock by ``ms``."""
        check_positive("ms", ms, allow_zero=True)
        if self.speed is not None:
            time.sleep(ms / self.speed / 1000.0)
        self.advance(ms)

    # -- link -------------------------------------------------------------------
    @_locked
    def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        self._manual_ms = self._start_ms

    @_locked
    def close(self) -> None:
        if self._recording:
            self.stop_recording()
        if self._writer is not None:
            self.close_data_file()
        self._connected = False
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _need(self, what: str) -> None:
        if not self._connected:
            raise RuntimeError(f"SimulatedTracker: connect() before {what}")

    @_locked
    def calibrate(self) -> dict[str, float]:
        self._need("calibrate()")
        self.advance(30_000.0)  # camera setup, 9-point calibration and validation
        return dict(self.calibration)

    @_locked
    def drift_check(self, x: float, y: float) -> float:
        self._need("drift_check()")
        self.advance(float(round(self.gen.uniform(500.0, 1000.0))))  # fixate, operator accepts
        self._idle = (float(x), float(y))
        if self._proc is not None:
            self._proc.idle = self._idle
        return round(abs(self.gen.normal(0.0, self.model.noise_deg * 0.6)), 3)

    # -- data file --------------------------------------------------------------
    def _dir(self) -> Path:
        if self._data_dir is None:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="vista-simtracker-")
            return Path(self._tmp.name)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return self._data_dir

    @_locked
    def open_data_file(self, name: str) -> None:
        self._need("open_data_file()")
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise ValueError(f"name must be a plain file name without folders; got {name!r}")
        if self._writer is not None:
            self.close_data_file()
        path = self._dir() / (name + ".asc")
        self._fh = open(path, "x", encoding="utf-8", newline="\n")
        self._writer = _asc_writer(self._fh)
        self._file = path
        self._write("header", self.tracker_time_ms(), self._header())

    def _header(self) -> list[str]:
        return [
            "CONVERTED FROM vista SimulatedTracker",
            f"DATE: {time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())}",
            "TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED",
            "SOURCE: vista.acquisition.simulate.SimulatedTracker",
        ]

    @_locked
    def close_data_file(self) -> None:
        if self._writer is None:
            return
        if self._recording:
            self.stop_recording()
        self._writer.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._writer = self._fh = None

    @_locked
    def receive_data_file(self, destination: Path, *, name: str | None = None) -> Path:
        """Copy the data file to ``destination`` with suffix ``.asc``; return the path.

        ``name`` selects an earlier data file of this tracker's ``data_dir`` (what a
        resumed session uses to recover the part of a crashed run).
        """
        if name is not None:
            src = self._dir() / (name + ".asc")
        elif self._file is not None:
            src = self._file
        else:
            raise RuntimeError("SimulatedTracker: no data file was opened")
        if not src.is_file():
            raise FileNotFoundError(f"tracker data file not found: {src}")
        if self._writer is not None and src == self._file:
            self._fh.flush()
        dest = Path(destination).with_suffix(".asc")
        if dest.exists() and not _same_file(dest, src):
            raise FileExistsError(f"{dest} exists; a received data file is never overwritten")
        if not _same_file(dest, src):
            tmp = dest.with_name(f".{dest.name}.part")
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        return dest

    # -- recording --------------------------------------------------------------
    @_locked
    def start_recording(self) -> None:
        self._need("start_recording()")
        if self._recording:
            return
        now = self.tracker_time_ms()
        self._recording = True
        self._proc = _GazeProcess(self.screen, self.model, self.gen, start_ms=now, start_xy=self._idle)
        self._proc.idle = self._idle
        self._proc.trial = self._trial
        self._segments = self._proc.segments()
        self._current = None
        self._emitted_to = now - 1
        self._write("start", now, self.eye, self.sampling_rate_hz)

    @_locked
    def stop_recording(self) -> None:
        if not self._recording:
            return
        now = self.tracker_time_ms()
        self._emit_until(now)
        self._close_open_event(now)
        self._write("end", now, self.eye, self.sampling_rate_hz)
        self._recording = False
        self._proc = self._segments = self._current = None
        self._flush()

    @_locked
    def send_message(self, text: str) -> None:
        self._need("send_message()")
        now = self.tracker_time_ms()
        if self._recording:
            self._emit_until(now)
        self._observe(text, now)
        if self._writer is not None:
            self._write("msg", now, text)

    @_locked
    def newest_sample(self) -> SimSample | None:
        if not self._recording:
            return None
        now = self.tracker_time_ms()
        self._emit_until(now)
        seg = self._current
        if seg is None:
            return None
        x, y = _position(seg, now)
        return SimSample(now, x, y)

    @_locked
    def spoken_transcript(self) -> Transcript | None:
        """What the simulated participant said in the current (or last) trial: its
        words on the tracker clock, up to the end of the trial, source ``"simulated"``."""
        trial = self._trial or self._last_trial
        if trial is None:
            return None
        return Transcript(tuple(trial.words), source="simulated")

    @_locked
    def current_scene(self) -> tuple[Scene, Placement] | None:
        """The scene of the current (or last) trial and where its image was shown."""
        trial = self._trial or self._last_trial
        return None if trial is None else (trial.scene, trial.placement)

    @_locked
    def spoken_phrases(self) -> list[tuple[float, str]]:
        """The current (or last) trial's phrases: ``(start on the tracker clock, text)``."""
        trial = self._trial or self._last_trial
        return [] if trial is None else [(s, text) for s, _, text in trial.phrases]

    def participant_pressed_key(self, *, after_ms: float = 1000.0) -> bool:
        """Whether the simulated participant has ended the trial: ``after_ms`` after
        their last word (never when they have nothing to say)."""
        trial = self._trial
        if trial is None or not trial.phrases:
            return False
        return self.tracker_time_ms() >= trial.phrases[-1][1] + after_ms

    # -- internals --------------------------------------------------------------
    def _catch_up(self) -> None:
        if self._recording:
            self._emit_until(self.tracker_time_ms())

    def _observe(self, text: str, now: float) -> None:
        """Follow the session's standard messages: what image is shown, where, when."""
        parts = text.split(maxsplit=2)
        if text.startswith("!V IMGLOAD"):
            self._pending_image = self._parse_imgload(text)
        elif parts and parts[0] == "SYNCTIME" and self._pending_image is not None:
            path, placement = self._pending_image
            scene = self.scenes.get(path)
            if scene is None:
                scene = load_scene(path)
            speech = plan_speech(scene, rng=self.gen)
            self._trial = _make_trial(now, placement, scene, speech, self.model, self.gen)
            if self._proc is not None:
                self._proc.trial = self._trial
        elif parts and parts[0] == "TRIAL_RESULT":
            if self._trial is not None:
                end = now
                self._trial.words = [w for w in self._trial.words if w.end_ms <= end]
            self._last_trial, self._trial = self._trial, None
            self._pending_image = None
            if self._proc is not None:
                self._proc.trial = None

    def _parse_imgload(self, text: str) -> tuple[str, Placement] | None:
        from ..gaze.recording import parse_imgload

        parsed = parse_imgload(text)
        if parsed is None:
            return None
        mode, path, nums = parsed
        if mode == "FILL":
            return path, Placement(0.0, 0.0, float(self.screen.width_px), float(self.screen.height_px))
        if len(nums) == 4:
            w, h = nums[2], nums[3]
        else:
            from PIL import Image

            with Image.open(path) as im:
                w, h = float(im.width), float(im.height)
        x, y = nums[0], nums[1]
        if mode == "CENTER":  # Data Viewer's rule, as vista.gaze.recording reads it
            return path, Placement(x - w / 2.0, y - h / 2.0, w, h)
        return path, Placement(x, y, w, h)

    def _next_segment(self) -> _Segment:
        assert self._segments is not None
        return next(self._segments)

    def _emit_until(self, now: float) -> None:
        """Write every sample and event up to and including tracker time ``now``."""
        if self._writer is None or not self._recording:
            if self._recording and self._segments is not None:  # keep the model moving
                while self._current is None or self._current.end_ms <= now:
                    self._current = self._next_segment()
            return
        while True:
            seg = self._current
            if seg is None:
                seg = self._current = self._next_segment()
                self._open_event(seg)
            last = min(now, seg.end_ms - 1)
            self._write_samples(seg, last)
            if seg.end_ms - 1 <= now:
                self._end_event(seg, seg.end_ms - 1)
                self._current = None
                if seg.end_ms > now:
                    break
            else:
                break

    def _open_event(self, seg: _Segment) -> None:
        if seg.kind == "fix":
            self._write("sfix", seg.start_ms, self.eye)
            self._fix_open = True
        else:
            self._write("ssacc", seg.start_ms, self.eye)
            self._sacc_open = True

    def _end_event(self, seg: _Segment, end: float) -> None:
        dur = end - seg.start_ms + 1
        if seg.kind == "fix":
            self._write("efix", seg.start_ms, end, dur, seg.x1, seg.y1, self.eye)
            self._fix_open = False
        else:
            amp = math.hypot(seg.x1 - seg.x0, seg.y1 - seg.y0) / self.screen.px_per_degree
            self._write("esacc", seg.start_ms, end, dur, seg.x0, seg.y0, seg.x1, seg.y1,
                        amp, saccade_peak_velocity(amp), self.eye)
            self._sacc_open = False

    def _close_open_event(self, now: float) -> None:
        seg = self._current
        if seg is not None and seg.start_ms <= now:
            self._end_event(seg, max(now, seg.start_ms))
        self._current = None

    def _write_samples(self, seg: _Segment, last: float) -> None:
        if self.sampling_rate_hz == 0:
            self._emitted_to = last
            return
        step = 1000.0 / self.sampling_rate_hz
        t0 = max(seg.start_ms, self._emitted_to + 1)
        t0 = math.ceil(t0 / step) * step
        if t0 > last:
            return
        times = np.arange(t0, last + 0.5, step)
        jitter = self.model.tremor_deg * self.screen.px_per_degree
        for t in times:
            x, y = _position(seg, float(t))
            if seg.kind == "fix" and jitter > 0:
                x += self.gen.normal(0, jitter)
                y += self.gen.normal(0, jitter)
            self._write("sample", float(t), x, y, 1000.0)
        self._emitted_to = last

    def _write(self, kind: str, *args: Any) -> None:
        if self._writer is None:
            return
        _ASC_CALLS[kind](self._writer, *args)

    def _flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())


def _position(seg: _Segment, t: float) -> tuple[float, float]:
    if seg.kind == "fix" or seg.end_ms <= seg.start_ms:
        return seg.x1, seg.y1
    u = min(max((t - seg.start_ms) / (seg.end_ms - seg.start_ms), 0.0), 1.0)
    u = u * u * (3 - 2 * u)  # smooth acceleration and deceleration
    return seg.x0 + u * (seg.x1 - seg.x0), seg.y0 + u * (seg.y1 - seg.y0)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _asc_writer(fh: Any) -> Any:
    """An :class:`vista.gaze.asc.AscWriter` on an open text file (left open)."""
    from ..gaze.asc import AscWriter

    return AscWriter(fh)


def _asc_header(w: Any, time_ms: float, lines: Sequence[str]) -> None:
    for line in lines:
        w.write_line("** " + line)


def _asc_start(w: Any, time_ms: float, eye: str, rate_hz: int) -> None:
    w.start(time_ms, eyes=eye, rate_hz=float(rate_hz or 1000), samples=rate_hz > 0)


def _asc_end(w: Any, time_ms: float, eye: str, rate_hz: int) -> None:
    w.end(time_ms)


def _asc_efix(w: Any, start: float, end: float, dur: float, x: float, y: float, eye: str) -> None:
    w.end_fixation(eye, start, end, x, y, 1000.0)


def _asc_esacc(
    w: Any, start: float, end: float, dur: float, x0: float, y0: float, x1: float, y1: float,
    amp: float, pv: float, eye: str,
) -> None:
    w.end_saccade(eye, start, end, x0, y0, x1, y1, amp, pv)


# How each kind of line is written: one place that knows the AscWriter's methods.
_ASC_CALLS: dict[str, Any] = {
    "header": _asc_header,
    "start": _asc_start,
    "end": _asc_end,
    "msg": lambda w, t, text: w.message(t, text),
    "sfix": lambda w, t, eye: w.start_fixation(eye, t),
    "efix": _asc_efix,
    "ssacc": lambda w, t, eye: w.start_saccade(eye, t),
    "esacc": _asc_esacc,
    "sample": lambda w, t, x, y, pupil: w.sample(t, x, y, pupil),
}
