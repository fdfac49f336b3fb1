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
  ends, ``\\r`` line ends alone (old Mac text: read as line ends), ``.`` for a missing sample value (read as NaN), extra sample columns
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
  number, sample times going backwards, a file with no recording in it (empty, blank
  or header lines only: no ``START``, event, sample or ``MSG`` line), a line longer than
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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._io import check_regular_file
from ..errors import ParseError
from ..records import Fixations, Message
from .asc_writer import AscWriter, write_asc
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
        cr_only: bool | None = None
        while True:
            data = self.fh.read(_BLOCK_BYTES)
            if not isinstance(data, bytes):
                raise TypeError("file must be a path or a file object opened in binary mode")
            if not data:
                break
            if cr_only is None:  # line ends of old Mac text: CR alone, never LF
                cr_only = b"\r" in data and b"\n" not in data
            if cr_only:
                data = data.replace(b"\r", b"\n")
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
        self.blocks: list[list[float]] = []  # [start, end], NaN where missing
        # sample chunks: (times, {eye: (x, y, p)})
        self.chunks: list[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]]
        self.chunks = []
        self.last_sample_time = -math.inf
        self.saw_samples = False

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
            self.blocks.append([t, math.nan])
            eyes = "".join(sorted(_EYE_WORDS[p.decode()] for p in parts[2:]
                                  if p.decode("ascii", "replace") in _EYE_WORDS))
            if eyes:
                self.block_eyes = eyes
                self.all_eyes.update(eyes)
        elif kw == b"END":
            t = self._time(parts, line, "END")
            self.end_ms = t if self.end_ms is None else max(self.end_ms, t)
            if self.blocks and math.isnan(self.blocks[-1][1]):
                self.blocks[-1][1] = t
            else:
                self.blocks.append([math.nan, t])
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
            self.saw_samples = self.saw_samples or len(others) < int(ends.size)
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
        check_regular_file(path, what="ASC file")
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
    if not (parser.blocks or parser.messages or parser.fix or parser.sacc or parser.blink
            or parser.chunks or parser.saw_samples):
        raise ParseError("no recording in this file: no START, event, sample or MSG line "
                         "(empty, blank or header lines only)", path=name)
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
        fixation_pupils=fix[:, 4], blocks=[(b[0], b[1]) for b in parser.blocks],
    )
