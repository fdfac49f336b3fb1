"""EyeLink ASC files (the text that SR Research's ``edf2asc`` writes): a streaming
reader and a writer.

The reader goes through the file in blocks of lines without loading it whole;
sample lines are collected per block and converted to numbers in one numpy call,
so throughput is tens of MB/s (see ``benchmarks/gaze_io.py``).

What the reader understands (``edf2asc`` format)::

    MSG <time> [<offset>] <text>          offset form: time = time - offset
    START <time> LEFT|RIGHT [RIGHT] SAMPLES EVENTS
    END <time> SAMPLES EVENTS RES <xres> <yres>
    SAMPLES GAZE LEFT [RIGHT] RATE <hz> ...     EVENTS GAZE ... RATE <hz> ...
    SFIX <eye> <start>
    EFIX <eye> <start> <end> <dur> <x> <y> <pupil> [<xres> <yres>]
    SSACC <eye> <start>
    ESACC <eye> <start> <end> <dur> <sx> <sy> <ex> <ey> <ampl> <pvel> [<xres> <yres>]
    SBLINK <eye> <start>
    EBLINK <eye> <start> <end> <dur>
    <time> <x> <y> <pupil> [...] [<flags>]                       monocular sample
    <time> <xl> <yl> <pl> <xr> <yr> <pr> [...] [<flags>]         binocular sample

What is tolerated and what is an error:

- Tolerated: blank lines, ``**`` header lines, unknown keywords (``INPUT``,
  ``BUTTON``, ``PRESCALER``, ``PUPIL``, ...), a missing ``END``, ``\\r\\n`` line
  ends, ``.`` for a missing sample value (read as NaN), extra sample columns
  (velocity, resolution, input, remote-mode flags) and the sample flags (``I``
  interpolated, ``C`` corneal reflection missing, ``R`` recovering), which are not
  kept; ``SFIX``/``SSACC``/``SBLINK`` without their end (recording stopped).
- Errors (:class:`vista.errors.ParseError` naming the file and line): an ``EVENTS``
  line, or (when samples are read) a ``SAMPLES`` line, whose data type is ``HREF`` or
  ``PUPIL`` rather than ``GAZE`` (``edf2asc -sh``/``-sp``: not screen pixels), an event or
  ``MSG``/``START`` line whose fields are missing or not numbers, an eye other than
  ``L``/``R``, an event that ends before it starts, an event that starts before the
  previous event of the same kind and eye (out of order), a sample line whose number
  of columns differs from the block's first sample, a sample value that is not a
  number, sample times going backwards, a line longer than
  :data:`MAX_LINE_BYTES`, control characters or NUL bytes (binary data; an EDF
  given as ASC), text that is not valid in ``encoding``.

A ``MSG`` whose second field is a signed integer followed by more text is read in
the offset form: the integer is how many ms the event came *before* the message was
sent, so ``MSG 1250 750 text`` is ``text`` at 500 ms and ``MSG 1234 -5 text`` at
1239 ms (SR Research's rule, as Data Viewer applies it: event time = message time -
offset). Messages are kept sorted by time.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from ..errors import ParseError
from ..records import Fixations, Message
from .recording import Blinks, Recording, Saccades, Samples, build_recording

__all__ = ["MAX_LINE_BYTES", "AscWriter", "read_asc", "write_asc"]

MAX_LINE_BYTES = 65536
"""Longest line accepted, in bytes; longer is an error (garbage or a wrong file)."""

_BLOCK_BYTES = 1 << 22
_DIGITS = frozenset(b"0123456789"[i:i + 1] for i in range(10))
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_EYE_WORDS = {"LEFT": "L", "RIGHT": "R"}
_LAYOUT = (b"START", b"END", b"SAMPLES")


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


def _check_eyes(eyes: str) -> str:
    if eyes not in ("L", "R", "LR"):
        raise ValueError(f"eyes must be 'L', 'R' or 'LR'; got {eyes!r}")
    return eyes


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
        self._eyes = "R"
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
        self._eyes = _check_eyes(eyes)
        words = " ".join({"L": "LEFT", "R": "RIGHT"}[e] for e in eyes)
        kinds = "\t".join(k for k, on in (("SAMPLES", samples), ("EVENTS", events)) if on)
        self.write_line(f"START\t{_fmt_time(time_ms)} \t{words.replace(' ', chr(9))}\t{kinds}")
        self.write_line("PRESCALER\t1")
        self.write_line("VPRESCALER\t1")
        self.write_line(f"PUPIL\t{pupil}")
        if events:
            self.events_header(eyes=eyes, rate_hz=rate_hz)
        if samples:
            self.samples_header(eyes=eyes, rate_hz=rate_hz)

    def events_header(self, *, eyes: str = "R", rate_hz: float = 1000.0) -> None:
        """The ``EVENTS GAZE ... RATE ...`` line."""
        words = "\t".join({"L": "LEFT", "R": "RIGHT"}[e] for e in _check_eyes(eyes))
        self.write_line(f"EVENTS\tGAZE\t{words}\tRATE\t{rate_hz:.2f}\tTRACKING\tCR\tFILTER\t2")

    def samples_header(self, *, eyes: str = "R", rate_hz: float = 1000.0) -> None:
        """The ``SAMPLES GAZE ... RATE ...`` line (sets the sample layout)."""
        self._eyes = _check_eyes(eyes)
        words = "\t".join({"L": "LEFT", "R": "RIGHT"}[e] for e in eyes)
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
        """``EFIX``: duration is ``end - start + 1`` samples-ms, as the tracker writes it."""
        dur = _fmt_time(end_ms - start_ms + 1)
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
        dur = _fmt_time(end_ms - start_ms + 1)
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
        dur = _fmt_time(end_ms - start_ms + 1)
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


# ======================================================================= reader


class _Block:
    """Complete lines of the file as one bytes object, with their offsets."""

    __slots__ = ("body", "ends", "first_line", "starts")

    def __init__(self, body: bytes, first_line: int) -> None:
        self.body = body
        self.first_line = first_line
        a = np.frombuffer(body, dtype=np.uint8)
        self.ends = np.flatnonzero(a == 10)
        self.starts = np.empty_like(self.ends)
        if self.ends.size:
            self.starts[0] = 0
            self.starts[1:] = self.ends[:-1] + 1

    def line(self, k: int) -> bytes:
        return self.body[self.starts[k]:self.ends[k]]


class _Source:
    """Blocks of complete lines from a path or a binary file object, checked for
    binary data, encoding and line length."""

    def __init__(self, path_name: str, fh: IO[bytes], encoding: str) -> None:
        self.name = path_name
        self.fh = fh
        self.encoding = encoding
        try:
            "".encode(encoding)
        except LookupError:
            raise ValueError(f"encoding: unknown text encoding {encoding!r}") from None

    def error(self, message: str, line: int | None) -> ParseError:
        return ParseError(message, path=self.name, line=line)

    def _check(self, block: _Block) -> None:
        buf = block.body
        if len(buf.translate(None, _CONTROL_BYTES)) != len(buf):
            m = _CONTROL.search(buf)
            assert m is not None
            line = block.first_line + buf.count(b"\n", 0, m.start())
            what = "NUL byte" if buf[m.start()] == 0 else f"control character {buf[m.start()]:#04x}"
            raise self.error(
                f"{what}: binary data, not ASC text (an EDF must be read as .edf)", line
            )
        try:
            buf.decode(self.encoding)
        except UnicodeDecodeError as exc:
            line = block.first_line + buf.count(b"\n", 0, exc.start)
            raise self.error(
                f"text is not valid {self.encoding} (byte {buf[exc.start]:#04x}); "
                "pass encoding= the file's encoding, e.g. encoding='latin-1'",
                line,
            ) from None
        if block.ends.size:
            lengths = block.ends - block.starts
            if lengths.max() > MAX_LINE_BYTES:
                k = int(np.argmax(lengths > MAX_LINE_BYTES))
                raise self.error(f"line longer than {MAX_LINE_BYTES} bytes", block.first_line + k)

    def blocks(self) -> Iterator[_Block]:
        carry = b""
        line_no = 1
        while True:
            data = self.fh.read(_BLOCK_BYTES)
            if not isinstance(data, bytes):
                raise TypeError("file must be a path or a file object opened in binary mode")
            if not data:
                break
            buf = carry + data
            cut = buf.rfind(b"\n") + 1
            if len(buf) - cut > MAX_LINE_BYTES:
                line = line_no + buf.count(b"\n", 0, cut)
                raise self.error(f"line longer than {MAX_LINE_BYTES} bytes", line)
            if cut == 0:
                carry = buf
                continue
            block = _Block(buf[:cut], line_no)
            carry = buf[cut:]
            self._check(block)
            yield block
            line_no += int(block.ends.size)
        if carry:
            block = _Block(carry + b"\n", line_no)
            self._check(block)
            yield block


_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 13, 32]] = True


def _dots_to_nan(buf: bytearray) -> bytes | bytearray:
    """Turn every lone ``.`` field (a missing value) into ``nan`` (in place where it
    can), and return the buffer.

    ``edf2asc`` right-aligns values in fields at least four wide, so a lone dot has
    three blanks before it, which are overwritten; where that is not so, the slower
    byte replacement inserts the text instead.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    # the buffer holds no control characters but tab, CR and LF (checked on reading),
    # so a byte <= 32 is whitespace
    lone = np.flatnonzero((a[1:-1] == 46) & (a[2:] <= 32) & (a[:-2] <= 32)) + 1
    if lone.size == 0:
        return buf
    if lone[0] >= 3 and (_WS[a[lone - 2]] & _WS[a[lone - 3]]).all():
        a[lone - 2] = 110  # n
        a[lone - 1] = 97  # a
        a[lone] = 110  # n
        return buf
    data = bytes(buf)
    for _ in range(2):  # twice: replacements of neighbouring dots overlap
        for before in (b" ", b"\t"):
            for after in (b" ", b"\t", b"\n", b"\r"):
                data = data.replace(before + b"." + after, before + b"nan" + after)
    return data


def _num(tok: bytes) -> float:
    if tok == b".":
        return math.nan
    v = float(tok)
    if math.isinf(v):
        raise ValueError(tok)
    return v


class _Parser:
    def __init__(self, source: _Source, *, samples: bool) -> None:
        self.src = source
        self.want_samples = samples
        self.messages: list[Message] = []
        self.fix: list[tuple[float, float, float, float, float, str]] = []
        self.sacc: list[tuple[float, ...]] = []
        self.sacc_eyes: list[str] = []
        self.blink: list[tuple[float, float, str]] = []
        self.last_start: dict[tuple[str, str], float] = {}
        self.block_eyes: str | None = None
        self.all_eyes: set[str] = set()
        self.rate: float | None = None
        self.start_ms: float | None = None
        self.end_ms: float | None = None
        # sample chunks: (times, {eye: (x, y, p)})
        self.chunks: list[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]]
        self.chunks = []
        self.last_sample_time = -math.inf

    def err(self, message: str, line: int) -> ParseError:
        return self.src.error(message, line)

    # -- events
    def _eye(self, tok: bytes, line: int, kind: str) -> str:
        eye = tok.decode("ascii", "replace")
        if eye not in ("L", "R"):
            raise self.err(f"{kind}: eye must be L or R; got {eye!r}", line)
        return eye

    def _fields(
        self, parts: list[bytes], n: int, line: int, kind: str, usage: str
    ) -> tuple[str, list[float]]:
        if len(parts) < n + 2:
            raise self.err(f"malformed {kind}: expected '{usage}'", line)
        eye_b = parts[1]
        if eye_b == b"R":
            eye = "R"
        elif eye_b == b"L":
            eye = "L"
        else:
            eye = self._eye(eye_b, line, kind)  # raises
        try:  # fast path: all numbers, none missing
            vals = [float(t) for t in parts[2:n + 2]]
            if not math.isfinite(math.fsum(vals)):
                raise ValueError
        except ValueError:
            try:
                vals = [_num(t) for t in parts[2:n + 2]]
            except ValueError:
                raise self.err(
                    f"malformed {kind}: expected numbers in '{usage}'", line) from None
        if not (math.isfinite(vals[0]) and (n < 2 or math.isfinite(vals[1]))):
            raise self.err(f"malformed {kind}: times must be numbers", line)
        if n >= 2 and vals[1] < vals[0]:
            raise self.err(f"{kind} ends ({vals[1]:g}) before it starts ({vals[0]:g})", line)
        if kind[0] == "E":
            key = (kind, eye)
            prev = self.last_start.get(key)
            if prev is not None and vals[0] < prev:
                raise self.err(
                    f"{kind} out of order: starts at {vals[0]:g}, before the previous one "
                    f"({prev:g})", line)
            self.last_start[key] = vals[0]
            self.all_eyes.add(eye)
        return eye, vals

    def handle(self, ln: bytes, line: int) -> None:
        parts = ln.split()
        if not parts:
            return
        kw = parts[0]
        if kw == b"EFIX":
            eye, v = self._fields(parts, 6, line, "EFIX", "EFIX eye start end dur x y pupil")
            self.fix.append((v[0], v[1], v[3], v[4], v[5], eye))
        elif kw == b"ESACC":
            eye, v = self._fields(parts, 9, line, "ESACC",
                                  "ESACC eye start end dur sx sy ex ey ampl pvel")
            self.sacc.append((v[0], v[1], v[3], v[4], v[5], v[6], v[7], v[8]))
            self.sacc_eyes.append(eye)
        elif kw == b"EBLINK":
            eye, v = self._fields(parts, 3, line, "EBLINK", "EBLINK eye start end dur")
            self.blink.append((v[0], v[1], eye))
        elif kw in (b"SFIX", b"SSACC", b"SBLINK"):
            self._fields(parts, 1, line, kw.decode(), f"{kw.decode()} eye time")
        elif kw == b"MSG":
            self.message(ln, parts, line)
        elif kw == b"START":
            t = self._time(parts, line, "START")
            self.start_ms = t if self.start_ms is None else min(self.start_ms, t)
            eyes = "".join(sorted(_EYE_WORDS[p.decode()] for p in parts[2:]
                                  if p.decode("ascii", "replace") in _EYE_WORDS))
            if eyes:
                self.block_eyes = eyes
                self.all_eyes.update(eyes)
        elif kw == b"END":
            t = self._time(parts, line, "END")
            self.end_ms = t if self.end_ms is None else max(self.end_ms, t)
        elif kw in (b"SAMPLES", b"EVENTS"):
            words = [p.decode("ascii", "replace") for p in parts]
            eyes = "".join(sorted(_EYE_WORDS[w] for w in words if w in _EYE_WORDS))
            if "RATE" in words:
                i = words.index("RATE")
                try:
                    self.rate = float(words[i + 1])
                except (IndexError, ValueError):
                    raise self.err(f"malformed {words[0]}: RATE needs a number", line) from None
            if (len(words) > 1 and words[1] in ("HREF", "PUPIL")
                    and (kw == b"EVENTS" or self.want_samples)):
                what = "samples" if kw == b"SAMPLES" else "event positions"
                raise self.err(
                    f"the {what} are {words[1]} data, not screen-pixel GAZE; convert the EDF "
                    "with edf2asc's default data type (GAZE, -sg), or read the EDF itself", line)
            if eyes:
                self.all_eyes.update(eyes)
                if kw == b"SAMPLES":
                    self.block_eyes = eyes
        # everything else (headers, INPUT, BUTTON, PRESCALER, ...) is tolerated

    def _time(self, parts: list[bytes], line: int, kind: str) -> float:
        try:
            t = float(parts[1])
        except (IndexError, ValueError):
            raise self.err(f"malformed {kind}: expected '{kind} time ...'", line) from None
        if not math.isfinite(t):
            raise self.err(f"malformed {kind}: time must be finite", line)
        return t

    def message(self, ln: bytes, parts: list[bytes], line: int) -> None:
        t = self._time(parts, line, "MSG")
        rest = ln.split(None, 2)
        text_b = rest[2] if len(rest) > 2 else b""
        sub = text_b.split(None, 1)
        if len(sub) == 2 and _is_int(sub[0]):
            t -= int(sub[0])  # the event came `offset` ms before the message
            text_b = sub[1]
        text = text_b.decode(self.src.encoding).rstrip("\r\n").strip()
        self.messages.append(Message(t, text))

    # -- samples
    def samples(self, runs: list[tuple[bytes, int]]) -> None:
        """Convert runs of consecutive sample lines (bytes, first line number)."""
        if not runs:
            return
        eyes = self.block_eyes or "R"
        need = 1 + 3 * len(eyes)
        buf = _dots_to_nan(bytearray(b"".join(r[0] for r in runs)))
        try:
            vals = np.loadtxt(io.BytesIO(buf), dtype=np.float64, usecols=range(need),
                              comments=None, ndmin=2)
        except ValueError:
            self._find_bad_sample(runs, need, eyes)
            raise  # pragma: no cover - _find_bad_sample raises
        times = vals[:, 0]
        bad = bool((~np.isfinite(times)).any() or np.isinf(vals).any())
        if bad or (times.size and times[0] < self.last_sample_time):
            self._find_bad_sample(runs, need, eyes)
        back = np.flatnonzero(np.diff(times) < 0)
        if back.size:
            self._find_bad_sample(runs, need, eyes)
        self.last_sample_time = float(times[-1]) if times.size else self.last_sample_time
        cols = {e: (vals[:, 1 + 3 * k], vals[:, 2 + 3 * k], vals[:, 3 + 3 * k])
                for k, e in enumerate(eyes)}
        self.all_eyes.update(eyes)
        self.chunks.append((times, cols))

    def _find_bad_sample(self, runs: list[tuple[bytes, int]], need: int, eyes: str) -> None:
        """The slow path, after a block failed: find the first bad line and raise."""
        kind = "binocular" if len(eyes) == 2 else "monocular"
        last = self.last_sample_time
        for run, first in runs:
            for k, ln in enumerate(run.split(b"\n")[:-1]):
                no = first + k
                toks = ln.split()
                if len(toks) < need:
                    raise self.err(
                        f"sample has {len(toks)} columns; a {kind} sample needs at least "
                        f"{need} (truncated or garbled line?)", no)
                for tok in toks[:need]:
                    try:
                        _num(tok)
                    except ValueError:
                        shown = tok[:20].decode("utf-8", "replace")
                        raise self.err(f"sample value {shown!r} is not a number", no) from None
                t = _num(toks[0])
                if not math.isfinite(t):
                    raise self.err("sample time must be a number", no)
                if t < last:
                    raise self.err(f"sample time {t:g} goes back (previous {last:g})", no)
                last = t
        raise self.err("sample lines could not be read as numbers", runs[0][1])

    def run(self) -> None:
        pending: list[tuple[bytes, int]] = []
        want = self.want_samples
        for block in self.src.blocks():
            body, starts, ends, first = block.body, block.starts, block.ends, block.first_line
            a = np.frombuffer(body, dtype=np.uint8)
            heads = a[starts]
            others = np.flatnonzero((heads < 48) | (heads > 57)).tolist()
            prev = -1
            for k in [*others, int(ends.size)]:
                if want and k > prev + 1:
                    pending.append((body[starts[prev + 1]:ends[k - 1] + 1], first + prev + 1))
                if k == ends.size:
                    break
                ln = body[starts[k]:ends[k]]
                if pending and ln.startswith(_LAYOUT):
                    # START/END/SAMPLES may change the sample layout: convert first
                    self.samples(pending)
                    pending = []
                self.handle(ln, first + k)
                prev = k
            if sum(len(r[0]) for r in pending) > _BLOCK_BYTES:
                self.samples(pending)
                pending = []
        self.samples(pending)

    def samples_record(self) -> Samples | None:
        if not self.want_samples:
            return None
        eyes = "".join(e for e in "LR" if e in self.all_eyes) or (self.block_eyes or "R")
        if not self.chunks:
            empty = np.empty((0, len(eyes)))
            return Samples(np.empty(0), empty, empty, empty, eyes)
        times = np.concatenate([c[0] for c in self.chunks])
        out = []
        for j in range(3):
            cols = []
            for e in eyes:
                cols.append(np.concatenate([
                    c[1][e][j] if e in c[1] else np.full(c[0].size, np.nan)
                    for c in self.chunks]))
            out.append(np.stack(cols, axis=1))
        # edf2asc writes a lost eye's pupil as 0.0: missing, as in the EDF reader
        out[2][np.isnan(out[0]) | np.isnan(out[1])] = np.nan
        return Samples(times, out[0], out[1], out[2], eyes)


def _is_int(tok: bytes) -> bool:
    s = tok[1:] if tok[:1] in (b"-", b"+") else tok
    return s.isdigit()


def read_asc(
    file: str | os.PathLike[str] | IO[bytes] | IO[str],
    *,
    samples: bool = False,
    encoding: str = "utf-8",
) -> Recording:
    """Read an ASC file into a :class:`~vista.gaze.recording.Recording`, streaming.

    Parameters
    ----------
    file : path or file object
        A path or a binary file object (both read in blocks), or a text file object
        such as ``io.StringIO`` (read whole, then parsed).
    samples : bool, default False
        Also keep the gaze samples (sample lines are skipped otherwise).
    encoding : str, default "utf-8"
        Encoding of message texts.

    Returns
    -------
    Recording

    Raises
    ------
    vista.errors.ParseError
        Malformed input; the message names the file and line (see the module notes
        for what is tolerated).

    Examples
    --------
    >>> text = "START 10 RIGHT SAMPLES EVENTS\\nMSG 12 TRIALID 1\\n" \\
    ...        "EFIX R 20 220 201 500.0 400.0 900\\nMSG 230 3 TRIAL_RESULT 0\\n"
    >>> rec = read_asc(io.StringIO(text))
    >>> rec.fixations.starts_ms.tolist(), rec.messages[-1].time_ms
    ([20.0], 227.0)
    """
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder, not an ASC file")
        with open(path, "rb") as fh:
            if fh.read(11) == b"SR_RESEARCH":
                raise ParseError("this is an EDF file; read it with read_recording or "
                                 "read_edf", path=path, line=1)
            fh.seek(0)
            return _read(str(path), fh, samples, encoding, path)
    name = str(getattr(file, "name", "<stream>"))
    probe = file.read(0)
    if isinstance(probe, str):
        text_fh: Any = file
        data = io.BytesIO(text_fh.read().encode(encoding))
        return _read(name, data, samples, encoding, None)
    return _read(name, file, samples, encoding, None)  # type: ignore[arg-type]


def _read(
    name: str, fh: IO[bytes], samples: bool, encoding: str, path: Path | None
) -> Recording:
    parser = _Parser(_Source(name, fh, encoding), samples=samples)
    parser.run()
    fix = np.array([f[:5] for f in parser.fix], dtype=np.float64).reshape(-1, 5)
    f_eyes = np.array([f[5] for f in parser.fix], dtype="<U1")
    order = np.argsort(fix[:, 0], kind="stable")
    fix, f_eyes = fix[order], f_eyes[order]
    fixations = Fixations(fix[:, 0], fix[:, 1], fix[:, 2], fix[:, 3], f_eyes)
    sac = np.array(parser.sacc, dtype=np.float64).reshape(-1, 8)
    s_order = np.argsort(sac[:, 0], kind="stable")
    sac = sac[s_order]
    saccades = Saccades(
        starts_ms=sac[:, 0], ends_ms=sac[:, 1], start_xs=sac[:, 2], start_ys=sac[:, 3],
        end_xs=sac[:, 4], end_ys=sac[:, 5], amplitudes_deg=sac[:, 6],
        peak_velocities_deg_s=sac[:, 7],
        eyes=np.array(parser.sacc_eyes, dtype="<U1")[s_order],
    )
    bl = sorted(parser.blink, key=lambda b: b[0])
    blinks = Blinks(np.array([b[0] for b in bl], dtype=np.float64),
                    np.array([b[1] for b in bl], dtype=np.float64),
                    np.array([b[2] for b in bl], dtype="<U1"))
    smp = parser.samples_record()
    eyes = "".join(e for e in "LR" if e in parser.all_eyes) or "R"
    return build_recording(
        path=path, fixations=fixations, saccades=saccades, blinks=blinks,
        messages=parser.messages, samples=smp, sampling_rate_hz=parser.rate, eyes=eyes,
        start_ms=parser.start_ms, end_ms=parser.end_ms,
        fixation_pupils=fix[:, 4],
    )
