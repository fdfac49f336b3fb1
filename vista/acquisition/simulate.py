"""A simulated eye tracker: plausible fixations and saccades from a scene model.

The scene model (:mod:`vista.acquisition.scene`) says what a participant talks about:
the image size and a list of regions, each with the phrase that describes it. The
simulated participant (:mod:`vista.acquisition.participant`) speaks the phrases one
after another and looks at each region shortly *before* naming it (the eye-voice span,
Griffin & Bock 2000: about 0.5-1 s).

:class:`SimulatedTracker` follows the :class:`~vista.acquisition.tracker.Tracker`
protocol. It watches the standard messages the session sends (``!V IMGLOAD`` tells it
which image is on screen and where, ``SYNCTIME`` when it appeared) and writes an
edf2asc-format log (samples, fixation and saccade events, messages) through
:class:`vista.acquisition.asclog.AscLog`. Its clock is simulated tracker time: it moves only
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
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._io import copy_new, inside
from .._validation import as_rng, check_positive
from ..gaze.messages import check_message_text, parse_imgload, placement_from_imgload
from ..records import Placement, Screen, Transcript
from .asclog import AscLog
from .participant import (
    GazeModel,
    _GazeProcess,
    _make_trial,
    _position,
    _Segment,
    _Trial,
    plan_speech,
    saccade_duration_ms,
    saccade_peak_velocity,
    simulate_gaze,
)
from .scene import SCENE_SUFFIX, Region, Scene, default_scene, load_scene, scene_path
from .tracker import MAX_SCREEN_PX, check_speed, check_wait_ms

__all__ = [
    "SCENE_SUFFIX",
    "GazeModel",
    "Region",
    "Scene",
    "SimSample",
    "SimulatedTracker",
    "default_scene",
    "load_scene",
    "plan_speech",
    "saccade_duration_ms",
    "scene_path",
    "simulate_gaze",
]


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
        trial takes 0.2 s), in :data:`~vista.acquisition.tracker.SPEED_RANGE`
        (0.001 to 10**6). ``None``: no real waiting at all. The simulated clock
        never depends on real time, so the same seed gives the same recording at any
        speed.
    model : GazeModel, optional
        Viewer parameters, the planted eye-voice span among them
        (``GazeModel(span_ms=(500, 1000))`` by default); :meth:`describe` records them
        in the session's provenance.
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
            speed = check_speed(speed)
        for side in ("width_px", "height_px"):
            if getattr(screen, side) > MAX_SCREEN_PX:
                raise ValueError(f"screen.{side} must be at most {MAX_SCREEN_PX}; got "
                                 f"{getattr(screen, side)!r}")
        start_ms = check_positive("start_ms", start_ms, allow_zero=True)
        if start_ms >= 2.0 ** 32:
            raise ValueError(f"start_ms must be below 2**32 (the tracker clock's range); "
                             f"got {start_ms!r}")
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
        self._log: AscLog | None = None
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
        ms = check_wait_ms(ms)
        self._manual_ms += ms
        self._catch_up()

    def sleep(self, ms: float) -> None:
        """Let ``ms`` of tracker time pass: wait ``ms / speed`` real ms (not at all
        when ``speed`` is None), then advance the clock by ``ms``."""
        ms = check_wait_ms(ms)
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
        if self._log is not None:
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
        if self._log is not None:
            self.close_data_file()
        path = self._dir() / (name + ".asc")
        self._log = AscLog(path, header=self._header())
        self._file = path

    def _header(self) -> list[str]:
        return [
            "CONVERTED FROM vista SimulatedTracker",
            f"DATE: {time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())}",
            "TYPE: EDF_FILE BINARY EVENT SAMPLE TAGGED",
            "SOURCE: vista.acquisition.simulate.SimulatedTracker",
        ]

    @_locked
    def close_data_file(self) -> None:
        if self._log is None:
            return
        if self._recording:
            self.stop_recording()
        self._log.close()
        self._log = None

    @_locked
    def receive_data_file(self, destination: Path, *, name: str | None = None) -> Path:
        """Copy the data file to ``destination`` with suffix ``.asc``; return the path.

        ``name`` selects an earlier data file of this tracker's ``data_dir`` (what a
        resumed session uses to recover the part of a crashed run).
        """
        if name is not None:  # a name read from session.json: it stays in data_dir
            src = inside(self._dir(), name + ".asc", what="tracker data file")
        elif self._file is not None:
            src = self._file
        else:
            raise RuntimeError("SimulatedTracker: no data file was opened")
        if not src.is_file():
            raise FileNotFoundError(f"tracker data file not found: {src}")
        if self._log is not None and src == self._file:
            self._log.flush()
        dest = Path(destination).with_suffix(".asc")
        if not _same_file(dest, src):
            if dest.exists():
                raise FileExistsError(f"{dest} exists; a received data file is never "
                                      "overwritten")
            copy_new(src, dest)
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
        if self._log is not None:
            self._log.start(now, self.eye, self.sampling_rate_hz)

    @_locked
    def stop_recording(self) -> None:
        if not self._recording:
            return
        now = self.tracker_time_ms()
        self._emit_until(now)
        self._close_open_event(now)
        if self._log is not None:
            self._log.end(now)
            self._log.flush()
        self._recording = False
        self._proc = self._segments = self._current = None

    @_locked
    def send_message(self, text: str) -> None:
        self._need("send_message()")
        check_message_text(text)
        now = self.tracker_time_ms()
        if self._recording:
            self._emit_until(now)
        self._observe(text, now)
        if self._log is not None:
            self._log.message(now, text)

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

    @_locked
    def planted_spans(self) -> list[dict[str, Any]]:
        """The eye-voice span planted for each phrase of the current (or last) trial:
        ``{"phrase", "onset_ms", "span_ms", "region"}`` (onset on the tracker clock;
        the region's index in the scene). The ground truth an estimator should recover."""
        trial = self._trial or self._last_trial
        if trial is None:
            return []
        return [{"phrase": text, "onset_ms": start, "span_ms": span, "region": window[2]}
                for (start, _, text), span, window in zip(trial.phrases, trial.spans,
                                                          trial.windows, strict=True)]

    def describe(self) -> dict[str, Any]:
        """What session.json records about the tracker: kind, rate, eye, and the
        simulated viewer's parameters (``gaze_model``, the planted span among them)."""
        return {"kind": self.kind, "sampling_rate_hz": self.sampling_rate_hz, "eye": self.eye,
                "gaze_model": self.model.to_dict()}

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
            self._write_ias(path, scene, placement)
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

    def _write_ias(self, image: str, scene: Scene, placement: Placement) -> None:
        """The image's scene as Data Viewer interest areas in screen pixels,
        ``DATA_DIR/ias/IMAGE_STEM.ias`` (what ``vista areas --ias`` reads)."""
        from .._io import write_atomic
        from ..gaze.areas import scene_to_ias

        folder = self._dir() / "ias"
        folder.mkdir(exist_ok=True)
        text = scene_to_ias(scene, placement=placement)
        write_atomic(folder / f"{Path(image).stem}.ias", text.encode("utf-8"))

    def _parse_imgload(self, text: str) -> tuple[str, Placement] | None:
        """The image and its placement from a ``!V IMGLOAD`` message (the rule of
        :mod:`vista.gaze.messages`; ``FILL`` covers the screen)."""
        parsed = parse_imgload(text)
        if parsed is None:
            return None
        mode, path, nums = parsed
        W, H = self.screen.width_px, self.screen.height_px
        placement = placement_from_imgload(mode, nums, path, (0.0, 0.0, W - 1.0, H - 1.0))
        if placement is None:
            raise ValueError(f"the simulated participant cannot place the image of {text!r}: "
                             "it is not a readable image file")
        return path, placement

    def _next_segment(self) -> _Segment:
        assert self._segments is not None
        return next(self._segments)

    def _emit_until(self, now: float) -> None:
        """Write every sample and event up to and including tracker time ``now``."""
        if self._log is None or not self._recording:
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
        assert self._log is not None
        if seg.kind == "fix":
            self._log.start_fixation(self.eye, seg.start_ms)
            self._fix_open = True
        else:
            self._log.start_saccade(self.eye, seg.start_ms)
            self._sacc_open = True

    def _end_event(self, seg: _Segment, end: float) -> None:
        log = self._log
        if seg.kind == "fix":
            if log is not None:
                log.end_fixation(self.eye, seg.start_ms, end, seg.x1, seg.y1)
            self._fix_open = False
        else:
            amp = math.hypot(seg.x1 - seg.x0, seg.y1 - seg.y0) / self.screen.px_per_degree
            if log is not None:
                log.end_saccade(self.eye, seg.start_ms, end, seg.x0, seg.y0, seg.x1, seg.y1,
                                amp, saccade_peak_velocity(amp))
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
            if self._log is not None:
                self._log.sample(float(t), x, y, 1000.0)
        self._emitted_to = last


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
