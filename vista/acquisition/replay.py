"""A recorded EDF or ASC played back through the :class:`~vista.acquisition.tracker.Tracker`
protocol, at 1x or Nx speed, for end-to-end tests of the acquisition layer and of
everything downstream.

The replayed clock is the recording's own tracker clock: it starts at the recording's
first time when :meth:`ReplayTracker.connect` is called and advances with wall time
times ``speed``. With ``speed=math.inf`` it does not run on its own: it moves to each
event as :meth:`ReplayTracker.events` yields it, or by :meth:`ReplayTracker.advance`.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import copy_new
from .._validation import check_option
from ..records import Message
from .tracker import Tracker, check_speed, check_wait_ms

__all__ = ["ReplayEvent", "ReplaySample", "ReplayTracker", "validation_from_messages"]

EVENT_KINDS = ("message", "fixation", "saccade", "blink")

_VALIDATION = re.compile(
    r"!CAL VALIDATION .*?ERROR\s+([-+0-9.eE]+)\s+avg\.\s+([-+0-9.eE]+)\s+max", re.IGNORECASE
)
_DRIFT = re.compile(r"DRIFTCORRECT .*?OFFSET\s+([-+0-9.eE]+)\s+deg", re.IGNORECASE)


def validation_from_messages(messages: tuple[Message, ...] | list[Message]) -> dict[str, float]:
    """The last validation result in a recording's ``!CAL VALIDATION ... ERROR a avg. m
    max`` messages (the worse eye where both were validated), else NaNs.

    Examples
    --------
    >>> validation_from_messages([Message(5, "!CAL VALIDATION HV9 R RIGHT GOOD "
    ...                                      "ERROR 0.47 avg. 1.00 max OFFSET 0.2 deg.")])
    {'avg_error_deg': 0.47, 'max_error_deg': 1.0}
    >>> validation_from_messages([])
    {'avg_error_deg': nan, 'max_error_deg': nan}
    """
    found: list[tuple[float, float, float]] = []
    for m in messages:
        hit = _VALIDATION.search(m.text)
        if hit is not None and "ABORTED" not in m.text.upper():
            found.append((m.time_ms, float(hit.group(1)), float(hit.group(2))))
    if not found:
        return {"avg_error_deg": math.nan, "max_error_deg": math.nan}
    last_t = found[-1][0]
    # both eyes of a binocular validation are written at (nearly) the same time
    same = [f for f in found if abs(f[0] - last_t) <= 50.0]
    return {"avg_error_deg": max(f[1] for f in same), "max_error_deg": max(f[2] for f in same)}


@dataclass
class ReplaySample:
    """A replayed gaze sample (see :class:`vista.acquisition.tracker.Sample`)."""

    time_ms: float
    x: float
    y: float


@dataclass(frozen=True)
class ReplayEvent:
    """One event of the replay, yielded at ``time_ms`` on the tracker clock.

    ``kind`` is ``"message"`` (``text``), ``"fixation"``, ``"saccade"`` or ``"blink"``
    (``start_ms``, ``end_ms``, ``eye``; ``x``, ``y`` the fixation's mean or the
    saccade's end position). Events are yielded when the tracker would report them:
    a message at its time, a fixation, saccade or blink at its end.
    """

    time_ms: float
    kind: str
    text: str | None = None
    start_ms: float | None = None
    end_ms: float | None = None
    x: float | None = None
    y: float | None = None
    eye: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The fields that have a value (JSON-ready: a missing position, NaN in the
        recording, is left out like any other missing field)."""
        return {k: v for k, v in self.__dict__.items()
                if v is not None and not (isinstance(v, float) and not math.isfinite(v))}


class ReplayTracker:
    """Replay a recording as a :class:`~vista.acquisition.tracker.Tracker`.

    Parameters
    ----------
    recording : path or Recording
        An ``.edf``/``.asc`` file, or a :class:`~vista.gaze.recording.Recording`.
    speed : float, default 1.0
        Replay speed: 1 real time, 10 ten times faster (0.001 to 10**6,
        :data:`~vista.acquisition.tracker.SPEED_RANGE`), ``math.inf`` as fast as
        the caller consumes (the clock then moves only with :meth:`events` and
        :meth:`advance`).
    samples : bool, default True
        Read the samples, for :meth:`newest_sample` (without them the newest sample is
        the position of the fixation under way, or None between fixations).
    clock, sleep : callables, optional
        Wall clock in seconds and sleep function (for tests); default
        :func:`time.perf_counter` and :func:`time.sleep`.

    Examples
    --------
    >>> import io, math
    >>> from vista.gaze.asc import AscWriter, read_asc
    >>> buf = io.StringIO()
    >>> with AscWriter(buf) as w:
    ...     w.start(1000, eyes="R")
    ...     w.message(1000, "TRIALID 1")
    ...     w.fixation("R", 1010, 1300, 500.0, 400.0, 900)
    ...     w.message(1400, "TRIAL_RESULT 0")
    ...     w.end(1400)
    >>> tracker = ReplayTracker(read_asc(io.StringIO(buf.getvalue())), speed=math.inf)
    >>> tracker.connect()
    >>> [(e.time_ms, e.kind) for e in tracker.events()]
    [(1000.0, 'message'), (1300.0, 'fixation'), (1400.0, 'message')]
    >>> tracker.tracker_time_ms()
    1400.0
    """

    kind = "replay"
    """What the session log records as the tracker kind."""

    def __init__(
        self,
        recording: object,
        *,
        speed: float = 1.0,
        samples: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from ..gaze.io import read_recording
        from ..gaze.recording import Recording

        self.speed = check_speed(speed, allow_inf=True)
        if isinstance(recording, Recording):
            self.recording = recording
        elif isinstance(recording, (str, os.PathLike)):
            self.recording = read_recording(recording, samples=samples)
        else:
            raise TypeError(f"recording must be a path or a Recording; got {recording!r}")
        self._clock = clock
        self._sleep = sleep
        rec = self.recording
        self.start_ms = float(rec.start_ms) if rec.start_ms is not None else 0.0
        self.end_ms = float(rec.end_ms) if rec.end_ms is not None else self.start_ms
        self.sent_messages: list[Message] = []
        self.data_file: str | None = None
        self._connected = False
        self._recording = False
        self._wall0: float | None = None
        self._manual_ms = self.start_ms
        self._drifts = [float(m.group(1)) for m in
                        (_DRIFT.search(msg.text) for msg in rec.messages) if m is not None]

    # -- clock -----------------------------------------------------------------
    def tracker_time_ms(self) -> float:
        """The replayed tracker clock, ms (the recording's first time at connect)."""
        if self._wall0 is None or math.isinf(self.speed):
            return self._manual_ms
        return self._manual_ms + (self._clock() - self._wall0) * 1000.0 * self.speed

    def advance(self, ms: float) -> None:
        """Move the clock forward by ``ms`` (the way time passes at ``speed=inf``)."""
        self._manual_ms += check_wait_ms(ms)

    def sleep(self, ms: float) -> None:
        """Let ``ms`` of tracker time pass: ``ms / speed`` of wall time, or at
        ``speed=inf`` an :meth:`advance` of the clock (what the session loop calls while
        it waits, so a session runs on a replay without waiting)."""
        ms = check_wait_ms(ms)
        if math.isinf(self.speed):
            self.advance(ms)
        else:
            self._sleep(ms / self.speed / 1000.0)

    def _wait_until(self, t_ms: float) -> None:
        if math.isinf(self.speed):
            self._manual_ms = max(self._manual_ms, t_ms)
            return
        while True:
            ahead = (t_ms - self.tracker_time_ms()) / self.speed / 1000.0
            if ahead <= 1e-6:  # within a microsecond of wall time: on time
                return
            self._sleep(ahead)

    # -- protocol --------------------------------------------------------------
    def connect(self) -> None:
        """Start the replay clock at the recording's first time."""
        if self._connected:
            return
        self._connected = True
        self._manual_ms = self.start_ms
        self._wall0 = self._clock()

    def close(self) -> None:
        """Stop; safe to call twice."""
        self._recording = False
        self._connected = False

    def calibrate(self) -> dict[str, float]:
        """The recording's last validation result (NaNs where it has none)."""
        return validation_from_messages(self.recording.messages)

    def drift_check(self, x: float, y: float) -> float:
        """The next ``DRIFTCORRECT`` offset of the recording in degrees, else NaN."""
        return self._drifts.pop(0) if self._drifts else math.nan

    def open_data_file(self, name: str) -> None:
        self.data_file = str(name)

    def close_data_file(self) -> None:
        self.data_file = None

    def start_recording(self) -> None:
        self._recording = True

    def stop_recording(self) -> None:
        self._recording = False

    def send_message(self, text: str) -> None:
        """Keep the message, stamped with the replay clock, in :attr:`sent_messages`."""
        self.sent_messages.append(Message(self.tracker_time_ms(), str(text)))

    def newest_sample(self) -> ReplaySample | None:
        """The recording's newest sample at the replay clock (None when not recording,
        before the first sample, or where the eye was lost)."""
        if not self._recording:
            return None
        now = self.tracker_time_ms()
        rec = self.recording
        smp = rec.samples
        if smp is not None and len(smp):
            i = int(np.searchsorted(smp.times_ms, now, side="right")) - 1
            if i < 0:
                return None
            for k in range(len(smp.eyes)):
                x, y = float(smp.xs[i, k]), float(smp.ys[i, k])
                if math.isfinite(x) and math.isfinite(y):
                    return ReplaySample(float(smp.times_ms[i]), x, y)
            return None
        f = rec.fixations
        under = np.flatnonzero((f.starts_ms <= now) & (f.ends_ms >= now))
        if under.size == 0:
            return None
        j = int(under[0])
        return ReplaySample(now, float(f.xs[j]), float(f.ys[j]))

    @property
    def data_suffix(self) -> str:
        """The suffix of the replayed recording, ``.edf`` or ``.asc``."""
        return Path(self.recording.path or "recording.asc").suffix.lower()

    def receive_data_file(self, destination: Path, *, name: str | None = None) -> Path:
        """Copy the recording file to ``destination``: a file path (its suffix is
        replaced by the recording's own, ``.edf`` or ``.asc``, so the copy says what it
        holds), or a folder to put it in under its own name. Never overwrites; returns
        the path written. A replay holds one file: asking for another ``name`` raises
        FileNotFoundError."""
        src = self.recording.path
        if src is None:
            raise RuntimeError("ReplayTracker: the recording was not read from a file")
        if name is not None:
            raise FileNotFoundError(f"a replay holds only {src}; it has no data file {name!r}")
        dest = Path(destination)
        if dest.is_dir():
            dest = dest / Path(src).name
        else:
            dest = dest.with_suffix(Path(src).suffix)
        if dest.exists():
            raise FileExistsError(f"{dest} exists; the replay never overwrites a file")
        return copy_new(src, dest)

    # -- replay ----------------------------------------------------------------
    def events(
        self,
        *,
        kinds: tuple[str, ...] = ("message", "fixation"),
        speed: float | None = None,
    ) -> Iterator[ReplayEvent]:
        """Yield the recording's events in time order, keeping pace with the clock.

        Parameters
        ----------
        kinds : tuple of str, default ("message", "fixation")
            Any of ``"message"``, ``"fixation"``, ``"saccade"``, ``"blink"``.
        speed : float, optional
            Change the replay speed from here on (default: keep the tracker's).

        Each event is yielded once the replay clock reaches its time (messages at
        their time; fixations, saccades and blinks at their end); events already past
        when the generator starts are yielded at once. Calls :meth:`connect` if
        needed.
        """
        for k in kinds:
            check_option("kinds", k, EVENT_KINDS)
        if speed is not None:
            new_speed = check_speed(speed, allow_inf=True)
            now = self.tracker_time_ms()
            self.speed = new_speed
            self._manual_ms = now
            self._wall0 = self._clock()
        if not self._connected:
            self.connect()
        for ev in self._timeline(kinds):
            self._wait_until(ev.time_ms)
            yield ev

    def _timeline(self, kinds: tuple[str, ...]) -> list[ReplayEvent]:
        rec = self.recording
        out: list[tuple[float, int, ReplayEvent]] = []
        if "message" in kinds:
            for m in rec.messages:
                out.append((m.time_ms, 0, ReplayEvent(m.time_ms, "message", text=m.text)))
        f, s, b = rec.fixations, rec.saccades, rec.blinks
        spans = [  # kind, starts, ends, xs, ys, eyes (saccades: the landing position)
            ("fixation", f.starts_ms, f.ends_ms, f.xs, f.ys, f.eyes),
            ("saccade", s.starts_ms, s.ends_ms, s.end_xs, s.end_ys, s.eyes),
            ("blink", b.starts_ms, b.ends_ms, None, None, b.eyes),
        ]
        for kind, starts, ends, xs, ys, eyes in spans:
            if kind not in kinds:
                continue
            for i in range(len(starts)):
                end = float(ends[i])
                out.append((end, 1, ReplayEvent(
                    end, kind, start_ms=float(starts[i]), end_ms=end,
                    x=None if xs is None else float(xs[i]),
                    y=None if ys is None else float(ys[i]), eye=str(eyes[i]))))
        out.sort(key=lambda item: (item[0], item[1]))
        return [item[2] for item in out]


def _conforms(tracker: ReplayTracker) -> Tracker:  # pragma: no cover - a type check only
    return tracker
