"""Writing EyeLink ASC files in the format of SR Research's ``edf2asc``:
:class:`AscWriter` (line by line, for the simulated tracker and the dummy-mode log) and
:func:`write_asc` (a whole :class:`~vista.gaze.recording.Recording`).

:func:`vista.gaze.asc.read_asc` reads what these write.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from .recording import Recording

__all__ = ["AscWriter", "write_asc"]

# ======================================================================= writer


def _fmt_time(t: float) -> str:
    if not math.isfinite(t):
        raise ValueError(f"time must be finite; got {t!r}")
    return str(int(t)) if float(t).is_integer() else f"{t:.1f}"


def _fmt_val(v: float, width: int = 7) -> str:
    if v is None or not math.isfinite(v):
        return " " * (width - 1) + "."
    return f"{v:{width}.1f}"


def _check_eye(eye: str) -> str:
    if eye not in ("L", "R"):
        raise ValueError(f"eye must be 'L' or 'R'; got {eye!r}")
    return eye


def _eye_words(eyes: str) -> str:
    """``LEFT``/``RIGHT`` words, tab-separated, for 'L', 'R' or 'LR'."""
    if eyes not in ("L", "R", "LR"):
        raise ValueError(f"eyes must be 'L', 'R' or 'LR'; got {eyes!r}")
    return "\t".join({"L": "LEFT", "R": "RIGHT"}[e] for e in eyes)


class AscWriter:
    """Write an ASC file in the format of SR Research's ``edf2asc``.

    Lines are written in the order of the calls (``edf2asc`` writes in time order;
    keep to it). Values that are NaN or None are written as ``.``.

    Parameters
    ----------
    file : path or text file object
        Where to write. A path is opened for writing (and must not exist unless
        ``overwrite``); a file object is written to and left open.
    overwrite : bool, default False
        Allow replacing an existing file at ``file``.
    preamble : sequence of str, optional
        Header lines, written first as ``** line``.

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO()
    >>> with AscWriter(buf) as w:
    ...     w.display_coords(100, 0, 0, 1919, 1079)
    ...     w.start(100, eyes="R", rate_hz=1000)
    ...     w.sample(100, 960.0, 540.0, 1000.0)
    ...     w.fixation("R", 101, 350, 961.5, 540.2, 1012)
    ...     w.message(400, "TRIAL_RESULT 0", offset_ms=2)
    ...     w.end(401)
    >>> buf.getvalue().splitlines()[0].split()
    ['MSG', '100', 'DISPLAY_COORDS', '0', '0', '1919', '1079']
    >>> from vista.gaze.asc import read_asc
    >>> rec = read_asc(io.StringIO(buf.getvalue()))
    >>> rec.fixations.xs.tolist(), rec.messages[-1]
    ([961.5], Message(time_ms=398.0, text='TRIAL_RESULT 0'))
    """

    def __init__(
        self,
        file: str | os.PathLike[str] | IO[str],
        *,
        overwrite: bool = False,
        preamble: Sequence[str] = (),
    ) -> None:
        if isinstance(file, (str, os.PathLike)):
            path = Path(file)
            if path.exists() and not overwrite:
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
            self._fh: IO[str] = open(path, "w", encoding="utf-8", newline="\n")
            self._owns = True
            self.path: Path | None = path
        else:
            self._fh = file
            self._owns = False
            self.path = None
        #: One sample interval, ms: from the last ``RATE`` written (1 ms before any).
        self._interval_ms = 1.0
        for line in preamble:
            self.write_line("** " + line)

    # -- plumbing
    def write_line(self, line: str) -> None:
        """Write one raw line (no newline in ``line``)."""
        if "\n" in line or "\r" in line:
            raise ValueError("line must not contain a newline")
        self._fh.write(line + "\n")

    def flush(self) -> None:
        """Flush to the operating system (and fsync for a file the writer opened)."""
        self._fh.flush()
        if self._owns:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush and close (a file object passed in is flushed and left open)."""
        if self._fh.closed:
            return
        if self._owns:
            self.flush()
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> AscWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- recording blocks
    def start(
        self,
        time_ms: float,
        *,
        eyes: str = "R",
        rate_hz: float = 1000.0,
        samples: bool = True,
        events: bool = True,
        pupil: str = "AREA",
    ) -> None:
        """``START`` of a recording block, with the ``PRESCALER``, ``PUPIL``,
        ``EVENTS`` and ``SAMPLES`` lines that ``edf2asc`` writes after it."""
        words = _eye_words(eyes)
        kinds = "\t".join(k for k, on in (("SAMPLES", samples), ("EVENTS", events)) if on)
        self.write_line(f"START\t{_fmt_time(time_ms)} \t{words}\t{kinds}")
        self.write_line("PRESCALER\t1")
        self.write_line("VPRESCALER\t1")
        self.write_line(f"PUPIL\t{pupil}")
        if events:
            self.events_header(eyes=eyes, rate_hz=rate_hz)
        if samples:
            self.samples_header(eyes=eyes, rate_hz=rate_hz)

    def _set_rate(self, rate_hz: float) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be a positive number; got {rate_hz!r}")
        self._interval_ms = 1000.0 / rate_hz

    def _duration(self, start_ms: float, end_ms: float) -> str:
        """An event's duration as the tracker writes it: ``end - start`` plus one
        sample interval (1 ms at 1000 Hz, 0.5 ms at 2000 Hz, 2 ms at 500 Hz), since
        ``start`` and ``end`` are the first and last samples of the event."""
        return _fmt_time(end_ms - start_ms + self._interval_ms)

    def events_header(self, *, eyes: str = "R", rate_hz: float = 1000.0) -> None:
        """The ``EVENTS GAZE ... RATE ...`` line."""
        self._set_rate(rate_hz)
        words = _eye_words(eyes)
        self.write_line(f"EVENTS\tGAZE\t{words}\tRATE\t{rate_hz:.2f}\tTRACKING\tCR\tFILTER\t2")

    def samples_header(self, *, eyes: str = "R", rate_hz: float = 1000.0) -> None:
        """The ``SAMPLES GAZE ... RATE ...`` line."""
        self._set_rate(rate_hz)
        words = _eye_words(eyes)
        self.write_line(f"SAMPLES\tGAZE\t{words}\tRATE\t{rate_hz:.2f}\tTRACKING\tCR\tFILTER\t2")

    def end(self, time_ms: float, *, res: tuple[float, float] = (38.0, 31.0)) -> None:
        """``END`` of a recording block (``res``: pixels per degree, x and y)."""
        self.write_line(
            f"END\t{_fmt_time(time_ms)} \tSAMPLES\tEVENTS\tRES\t{res[0]:7.2f}\t{res[1]:7.2f}"
        )

    # -- messages
    def message(self, time_ms: float, text: str, *, offset_ms: int | None = None) -> None:
        """``MSG time [offset] text``; with ``offset_ms`` the line is in the offset
        form: ``time_ms`` is when the message was sent and the event it marks is at
        ``time_ms - offset_ms`` (how readers, Data Viewer and :func:`read_asc`, take it)."""
        if "\n" in text or "\r" in text:
            raise ValueError("message text must not contain a newline")
        if offset_ms is None:
            self.write_line(f"MSG\t{_fmt_time(time_ms)} {text}")
        else:
            self.write_line(f"MSG\t{_fmt_time(time_ms)} {int(offset_ms)} {text}")

    def display_coords(
        self, time_ms: float, left: float, top: float, right: float, bottom: float
    ) -> None:
        """``MSG time DISPLAY_COORDS left top right bottom`` (inclusive pixels)."""
        vals = " ".join(_fmt_time(v) for v in (left, top, right, bottom))
        self.message(time_ms, f"DISPLAY_COORDS {vals}")

    # -- events
    def start_fixation(self, eye: str, time_ms: float) -> None:
        self.write_line(f"SFIX {_check_eye(eye)}   {_fmt_time(time_ms)}")

    def end_fixation(
        self, eye: str, start_ms: float, end_ms: float, x: float, y: float, pupil: float
    ) -> None:
        """``EFIX``: the duration is ``end - start`` plus one sample interval, as the
        tracker writes it (:meth:`_duration`)."""
        dur = self._duration(start_ms, end_ms)
        p = "      ." if pupil is None or not math.isfinite(pupil) else f"{round(pupil):7d}"
        self.write_line(
            f"EFIX {_check_eye(eye)}   {_fmt_time(start_ms)}\t{_fmt_time(end_ms)}\t{dur}\t"
            f"{_fmt_val(x)}\t{_fmt_val(y)}\t{p}"
        )

    def fixation(
        self, eye: str, start_ms: float, end_ms: float, x: float, y: float, pupil: float
    ) -> None:
        """``SFIX`` then ``EFIX`` (use the two halves to interleave samples)."""
        self.start_fixation(eye, start_ms)
        self.end_fixation(eye, start_ms, end_ms, x, y, pupil)

    def start_saccade(self, eye: str, time_ms: float) -> None:
        self.write_line(f"SSACC {_check_eye(eye)}  {_fmt_time(time_ms)}")

    def end_saccade(
        self,
        eye: str,
        start_ms: float,
        end_ms: float,
        start_x: float,
        start_y: float,
        end_x: float,
        end_y: float,
        amplitude_deg: float,
        peak_velocity_deg_s: float,
    ) -> None:
        dur = self._duration(start_ms, end_ms)
        pv = ("      ." if not math.isfinite(peak_velocity_deg_s)
              else f"{round(peak_velocity_deg_s):7d}")
        amp = "      ." if not math.isfinite(amplitude_deg) else f"{amplitude_deg:7.2f}"
        self.write_line(
            f"ESACC {_check_eye(eye)}  {_fmt_time(start_ms)}\t{_fmt_time(end_ms)}\t{dur}\t"
            f"{_fmt_val(start_x)}\t{_fmt_val(start_y)}\t{_fmt_val(end_x)}\t{_fmt_val(end_y)}\t"
            f"{amp}\t{pv}"
        )

    def saccade(
        self,
        eye: str,
        start_ms: float,
        end_ms: float,
        start_x: float,
        start_y: float,
        end_x: float,
        end_y: float,
        amplitude_deg: float,
        peak_velocity_deg_s: float,
    ) -> None:
        """``SSACC`` then ``ESACC``."""
        self.start_saccade(eye, start_ms)
        self.end_saccade(eye, start_ms, end_ms, start_x, start_y, end_x, end_y,
                         amplitude_deg, peak_velocity_deg_s)

    def start_blink(self, eye: str, time_ms: float) -> None:
        self.write_line(f"SBLINK {_check_eye(eye)} {_fmt_time(time_ms)}")

    def end_blink(self, eye: str, start_ms: float, end_ms: float) -> None:
        dur = self._duration(start_ms, end_ms)
        self.write_line(
            f"EBLINK {_check_eye(eye)} {_fmt_time(start_ms)}\t{_fmt_time(end_ms)}\t{dur}"
        )

    def blink(self, eye: str, start_ms: float, end_ms: float) -> None:
        """``SBLINK`` then ``EBLINK``."""
        self.start_blink(eye, start_ms)
        self.end_blink(eye, start_ms, end_ms)

    # -- samples
    def sample(
        self,
        time_ms: float,
        x: float,
        y: float,
        pupil: float,
        *more: float,
        flags: str | None = None,
    ) -> None:
        """One sample line: ``x y pupil`` for one eye, or ``xl yl pl xr yr pr`` for
        both (``more`` holds the right eye). NaN is written as ``.`` (pupil ``0.0``).
        ``flags`` defaults to ``...`` (monocular) or ``.....`` (binocular)."""
        vals = (x, y, pupil, *more)
        if len(vals) not in (3, 6):
            raise ValueError(f"a sample has 3 or 6 values; got {len(vals)}")
        self.write_line(self._sample_line(time_ms, vals, flags))

    def _sample_line(self, t: float, vals: Sequence[float], flags: str | None) -> str:
        parts = [_fmt_time(t)]
        for i in range(0, len(vals), 3):
            x, y, p = vals[i:i + 3]
            lost = not (math.isfinite(x) and math.isfinite(y))
            parts += [_fmt_val(x), _fmt_val(y), "    0.0" if lost else _fmt_val(p)]
        parts.append(flags if flags is not None else ("..." if len(vals) == 3 else "....."))
        return "\t".join(parts)

    def samples(self, times_ms: Any, xs: Any, ys: Any, pupils: Any) -> None:
        """Many sample lines; ``xs``, ``ys``, ``pupils`` are (n,) or (n, 2) arrays."""
        t = np.asarray(times_ms, dtype=np.float64)
        cols = [np.asarray(a, dtype=np.float64) for a in (xs, ys, pupils)]
        cols = [c[:, None] if c.ndim == 1 else c for c in cols]
        k = cols[0].shape[1]
        if any(c.shape != (t.size, k) for c in cols) or k not in (1, 2):
            raise ValueError("xs, ys, pupils must have shape (n,) or (n, 2) matching times_ms")
        vals = np.stack([cols[j][:, e] for e in range(k) for j in range(3)], axis=1)
        flags = "..." if k == 1 else "....."
        line = self._sample_line
        self._fh.write("".join(line(float(ti), row.tolist(), flags) + "\n"
                               for ti, row in zip(t, vals, strict=True)))


def write_asc(
    recording: Recording,
    file: str | os.PathLike[str] | IO[str],
    *,
    overwrite: bool = False,
    samples: bool = True,
) -> None:
    """Write a :class:`Recording` as one ASC block: events, messages and (where the
    recording has them and ``samples``) samples, merged in time order.

    Reading the file back with :func:`read_asc` gives the same events and messages
    (positions rounded to 0.1 px as ASC keeps them; newlines inside a message, as in
    EDF ``!CAL`` messages, become spaces).
    """
    rate = recording.sampling_rate_hz or 1000.0
    items: list[tuple[float, int, Any]] = []
    for m in recording.messages:
        items.append((m.time_ms, 0, ("msg", m)))
    f = recording.fixations
    for i in range(len(f)):
        items.append((f.starts_ms[i], 1, ("sfix", i)))
        items.append((f.ends_ms[i], 2, ("efix", i)))
    s = recording.saccades
    for i in range(len(s)):
        items.append((s.starts_ms[i], 1, ("ssacc", i)))
        items.append((s.ends_ms[i], 2, ("esacc", i)))
    b = recording.blinks
    for i in range(len(b)):
        items.append((b.starts_ms[i], 1, ("sblink", i)))
        items.append((b.ends_ms[i], 2, ("eblink", i)))
    smp = recording.samples if samples else None
    if smp is not None:
        for i in range(len(smp)):
            items.append((smp.times_ms[i], 3, ("sample", i)))
    items.sort(key=lambda it: (it[0], it[1]))
    start = recording.start_ms if recording.start_ms is not None else (
        items[0][0] if items else 0.0)
    end = recording.end_ms if recording.end_ms is not None else start
    with AscWriter(file, overwrite=overwrite) as w:
        w.start(start, eyes=recording.eyes, rate_hz=rate, samples=smp is not None)
        for _, _, (kind, obj) in items:
            if kind == "msg":  # EDF messages may hold newlines (!CAL): one line each
                w.message(obj.time_ms, " ".join(obj.text.splitlines()))
            elif kind == "sfix":
                w.start_fixation(f.eyes[obj], f.starts_ms[obj])
            elif kind == "efix":
                w.end_fixation(f.eyes[obj], f.starts_ms[obj], f.ends_ms[obj], f.xs[obj],
                               f.ys[obj], _pupil_of(recording, obj))
            elif kind == "ssacc":
                w.start_saccade(s.eyes[obj], s.starts_ms[obj])
            elif kind == "esacc":
                w.end_saccade(s.eyes[obj], s.starts_ms[obj], s.ends_ms[obj], s.start_xs[obj],
                              s.start_ys[obj], s.end_xs[obj], s.end_ys[obj],
                              s.amplitudes_deg[obj], s.peak_velocities_deg_s[obj])
            elif kind == "sblink":
                w.start_blink(b.eyes[obj], b.starts_ms[obj])
            elif kind == "eblink":
                w.end_blink(b.eyes[obj], b.starts_ms[obj], b.ends_ms[obj])
            else:
                assert smp is not None
                vals: list[float] = []
                for e in range(len(recording.eyes)):
                    vals += [smp.xs[obj, e], smp.ys[obj, e], smp.pupils[obj, e]]
                w.sample(smp.times_ms[obj], *vals)
        w.end(end)


def _pupil_of(recording: Recording, i: int) -> float:
    pupils = recording.fixation_pupils
    return float(pupils[i]) if pupils is not None else float("nan")
