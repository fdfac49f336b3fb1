"""EyeLink EDF files, read through ``eyelinkio`` (extra ``eyelink``).

``eyelinkio.read_edf`` returns times in seconds counted from the first sample, with
sample times rebuilt as ``index / rate`` and event times interpolated onto that
axis: the tracker clock, gaps between recording blocks and messages sent before
recording are not recoverable from its result. :func:`read_edf` therefore walks
the file with the SR Research EDF API that ``eyelinkio`` ships and binds
(``eyelinkio.edf._edf2py``), one pass, and keeps every time as the tracker wrote
it: integer milliseconds (plus 0.5 ms for samples flagged with the half-millisecond
offset at 2000 Hz). The relation to ``eyelinkio``'s frames is exact::

    eyelinkio_seconds = numpy.interp(vista_ms, sample_times_ms, arange(n) / rate)

which the tests check event by event on the recordings shipped in the
``eyelinkio`` wheel.

Values: gaze positions in screen pixels (``gavx``/``gavy`` for fixations,
``gstx``... for saccades), NaN where the EDF API reports missing data (1e8 or
-32768); saccade amplitudes in degrees are computed as ``edf2asc`` does, from the
start and end positions and the mean angular resolution (``supd_x``, ``eupd_x``...);
fixation pupil is ``ava``. Messages keep their text (a trailing newline and NULs
removed; embedded newlines, as in ``!CAL`` messages, kept); a message in SR
Research's offset form (text ``"750 imageOnsetTime"``) is read at its time minus the
offset, as the ASC reader and Data Viewer read it.

The EDF API is C code that can crash the process (SIGSEGV) on an EDF cut inside its
header or holding some corrupted bytes. :func:`read_edf` therefore checks the header
first (``SR_RESEARCH`` magic, a text preamble closed by ``ENDP:``) and then reads the
file in a forked child process (a plain ``os.fork``, so it also works inside daemonic
worker processes): a crash, or a read that does not finish within
:data:`READ_TIMEOUT_S` (plus two seconds per MB), becomes a
:class:`~vista.errors.ParseError` naming the file, and vista goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import require
from ..errors import MissingExtraError, ParseError
from ..records import Fixations
from .messages import offset_message
from .recording import Blinks, Recording, Saccades, Samples, build_recording

__all__ = ["HEADER_LIMIT_BYTES", "READ_TIMEOUT_S", "read_edf"]

# EDF API element types (eyelinkio.edf._defines.event_constants)
_NO_PENDING = 0
_ENDBLINK = 4
_ENDSACC = 6
_ENDFIX = 8
_MESSAGE = 24
_RECORDING_INFO = 30
_SAMPLE = 200
_SAMPLE_ADD_OFFSET = 0x0002
_MISSING_FLOAT = 1e8 - 1

HEADER_LIMIT_BYTES = 65536
"""The text preamble of an EDF must end (``ENDP:``) within this many bytes."""
READ_TIMEOUT_S = 60.0
"""Seconds a read may take before it is abandoned (plus two per MB of file: samples of a
binocular 1000 Hz file read at about 0.5 s per MB)."""


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence the EDF API's C-level prints to file descriptor 1 (``loadEvents = 1``),
    which would otherwise end up in a command's ``--json`` output."""
    fd = 1  # C's stdout, whatever Python's sys.stdout is at the moment
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        _c_flush()  # C stdio buffers the prints: flush them into /dev/null first
        os.dup2(saved, fd)
        os.close(saved)


def _c_flush() -> None:
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no C library handle (Windows)
        pass


def _api() -> Any:
    require("eyelinkio", "eyelink")
    try:
        from eyelinkio.edf import _edf2py
    except (ImportError, OSError) as exc:
        raise MissingExtraError("eyelink", "eyelinkio (with its EDF API library)") from exc
    return _edf2py


def _missing(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[(out >= _MISSING_FLOAT) | (out <= -32768.0)] = np.nan
    return out


def _text(event: Any) -> str:
    lstr = event.message
    if not lstr:
        return ""
    n = int(lstr.contents.len)
    raw = ctypes.string_at(ctypes.addressof(lstr.contents) + ctypes.sizeof(ctypes.c_short),
                           max(n, 0))
    raw = raw.split(b"\x00", 1)[0]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.rstrip("\r\n").strip()


def _check_header(path: Path) -> None:
    """Refuse an EDF whose header is cut short or is not the text preamble the EDF API
    expects (the API crashes on those instead of failing)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(HEADER_LIMIT_BYTES)
    if not head.startswith(b"SR_RESEARCH"):
        raise ParseError("not an EDF file (it does not start with 'SR_RESEARCH')", path=path)
    end = head.find(b"\nENDP:")
    if end < 0:
        raise ParseError(f"the EDF header is cut short or corrupt (no 'ENDP:' line in its "
                         f"first {min(size, HEADER_LIMIT_BYTES)} bytes)", path=path)
    text = head[:end]
    if len(text.translate(None, bytes([*range(0, 9), 11, 12, *range(14, 32), 127]))) \
            != len(text):
        raise ParseError("the EDF header holds binary data: the file is corrupt", path=path)
    if size <= end + len(b"\nENDP:\n"):
        raise ParseError("the EDF file ends after its header: no data", path=path)


def read_edf(path: str | os.PathLike[str], *, samples: bool = False,
             isolate: bool = True) -> Recording:
    """Read an EyeLink EDF file into a :class:`~vista.gaze.recording.Recording`.

    Parameters
    ----------
    path : path
        The ``.edf`` file.
    samples : bool, default False
        Also read the gaze samples (much slower: every sample crosses into Python).
    isolate : bool, default True
        Run the EDF API in a child process, so that a crash of the C library on a
        corrupt file is an error naming the file rather than the end of vista. Only
        turn it off for files known to be sound (it saves a fork per file).

    Returns
    -------
    Recording
        Times in milliseconds on the tracker clock (see the module notes).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    vista.errors.MissingExtraError
        If ``eyelinkio`` is not installed (``pip install 'vista-gaze[eyelink]'``).
    vista.errors.ParseError
        If the header is cut short or corrupt, the EDF API cannot open the file, or
        it crashes or hangs reading it; the message names the file.

    Examples
    --------
    >>> from pathlib import Path
    >>> import eyelinkio  # doctest: +SKIP
    >>> data = Path(eyelinkio.__file__).parent / "tests" / "data"  # doctest: +SKIP
    >>> rec = read_edf(data / "test_raw.edf")  # doctest: +SKIP
    >>> rec.eyes, rec.sampling_rate_hz, len(rec.fixations)  # doctest: +SKIP
    ('L', 1000.0, 21)
    """
    p = Path(path)
    if not p.is_file():
        if p.is_dir():
            raise IsADirectoryError(f"{p} is a folder, not an EDF file")
        if p.exists():
            raise ParseError("not a regular file", path=p)
        raise FileNotFoundError(f"no such EDF file: {p}")
    _api()
    _check_header(p)
    parts = _read_isolated(p, samples) if isolate else _read_parts(p, samples)
    return build_recording(path=p, **parts)


def _read_parts(p: Path, samples: bool) -> dict[str, Any]:
    """The parts of the recording, read through the EDF API in this process."""
    api = _api()
    err = ctypes.c_int(0)
    with _quiet_stdout():
        fid = api.edf_open_file(os.fsencode(p.resolve()), 2, 1, int(bool(samples)),
                                ctypes.byref(err))
    if not fid or err.value != 0:
        raise ParseError(f"the EDF API could not open the file (error {err.value})", path=p)
    try:
        return _assemble(api, _walk(api, fid, samples), samples)
    finally:
        with _quiet_stdout():
            api.edf_close_file(fid)


def _child_result(path: str, samples: bool) -> bytes:
    """What the child sends back: the pickled ``("ok", parts)`` or ``("error", text)``."""
    import pickle

    try:
        result: tuple[str, Any] = ("ok", _read_parts(Path(path), samples))
    except ParseError as exc:
        result = ("error", exc.message)
    except BaseException as exc:  # reported by the parent, which names the file
        result = ("error", f"{type(exc).__name__}: {exc}")
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def _fork_read(path: str, samples: bool, timeout: float) -> tuple[bytes | None, int | None]:
    """Run :func:`_child_result` in a forked child (a plain fork, so it works inside
    daemonic worker processes too). Returns what the child wrote, or None when it
    wrote nothing whole, and its exit status (negative: killed by that signal)."""
    import faulthandler
    import selectors
    import time

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read, write the result, leave without any cleanup
        code = 0
        try:
            os.close(r)
            faulthandler.disable()  # a crash is reported by the parent, in one line
            data = _child_result(path, samples)
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    done = False
    with selectors.DefaultSelector() as sel:
        sel.register(r, selectors.EVENT_READ)
        while not done and time.monotonic() < deadline:
            if sel.select(max(deadline - time.monotonic(), 0.0)):
                chunk = os.read(r, 1 << 20)
                chunks.append(chunk)
                done = not chunk
    os.close(r)
    if not done:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return (b"".join(chunks) if done and code == 0 else None), code


def _read_isolated(p: Path, samples: bool) -> dict[str, Any]:
    """:func:`_read_parts` in a child process; a crash or a hang is a ParseError. Where
    the platform cannot fork, the file is read in this process."""
    import pickle

    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return _read_parts(p, samples)
    timeout = READ_TIMEOUT_S + 2.0 * p.stat().st_size / 1e6
    sys.stdout.flush()
    sys.stderr.flush()
    data, code = _fork_read(str(p), samples, timeout)
    if data is None:
        if code is not None and code < 0 and code != -signal.SIGKILL:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            raise ParseError(f"the EDF library crashed ({name}) reading this file: it is "
                             "corrupt or cut short", path=p)
        raise ParseError(f"the EDF library did not finish reading this file within "
                         f"{timeout:.0f} s (exit status {code}): it is corrupt", path=p)
    kind, payload = pickle.loads(data)
    if kind != "ok":
        raise ParseError(str(payload), path=p)
    return dict(payload)


class _Order:
    """Times that go back in file order, per stream (a sign of corrupted data)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.backs: dict[str, list[float]] = {}

    def see(self, kind: str, t: float) -> None:
        prev = self.last.get(kind)
        if prev is not None and t < prev:
            self.backs.setdefault(kind, [0, t, prev])[0] += 1
        self.last[kind] = t

    def issues(self) -> list[str]:
        return [f"{int(n)} {kind} times go back in file order (the first: {t:g} ms after "
                f"{prev:g} ms)" for kind, (n, t, prev) in self.backs.items()]


def _walk(api: Any, fid: Any, want_samples: bool) -> dict[str, Any]:
    """One pass over the file's data items; raw lists, in file order."""
    next_data = api.edf_get_next_data
    float_data = api.edf_get_float_data
    fsize = ctypes.sizeof(api.FSAMPLE)
    string_at = ctypes.string_at
    raw: dict[str, Any] = {"fix": [], "sac": [], "blinks": [], "messages": [],
                           "samples": [], "eyes": set(), "rate": None, "blocks": []}
    order = _Order()
    with _quiet_stdout():
        while True:
            kind = next_data(fid)
            if kind == _NO_PENDING:
                break
            if kind == _SAMPLE:
                if want_samples:
                    raw["samples"].append(string_at(float_data(fid), fsize))
                continue
            if kind in (_ENDFIX, _ENDSACC, _ENDBLINK, _MESSAGE):
                _event(raw, order, kind, float_data(fid).contents.fe)
            elif kind == _RECORDING_INFO:
                _block(raw, order, float_data(fid).contents.rec)
    raw["order"] = order.issues()
    return raw


def _event(raw: dict[str, Any], order: _Order, kind: int, e: Any) -> None:
    if kind == _ENDFIX:
        raw["fix"].append((e.sttime, e.entime, e.gavx, e.gavy, e.ava, e.eye))
        order.see("fixation end", float(e.entime))
    elif kind == _ENDSACC:
        raw["sac"].append((e.sttime, e.entime, e.gstx, e.gsty, e.genx, e.geny, e.pvel,
                           e.supd_x, e.eupd_x, e.supd_y, e.eupd_y, e.eye))
        order.see("saccade end", float(e.entime))
    elif kind == _ENDBLINK:
        raw["blinks"].append((e.sttime, e.entime, e.eye))
        order.see("blink end", float(e.entime))
    else:
        raw["messages"].append(offset_message(float(e.sttime), _text(e)))
        order.see("message", float(e.sttime))


def _block(raw: dict[str, Any], order: _Order, r: Any) -> None:
    t = float(r.time)
    order.see("recording start/end", t)
    blocks = raw["blocks"]
    if r.state:
        raw["rate"] = float(r.sample_rate)
        raw["eyes"].update({1: "L", 2: "R", 3: "LR"}.get(int(r.eye), ""))
        blocks.append([t, float("nan")])
    elif blocks and blocks[-1][1] != blocks[-1][1]:  # NaN: the open block
        blocks[-1][1] = t
    else:
        blocks.append([float("nan"), t])


def _eye_names(codes: np.ndarray) -> np.ndarray:
    return np.array(["L", "R"])[codes.astype(int).clip(0, 1)]


def _assemble(api: Any, raw: dict[str, Any], want_samples: bool) -> dict[str, Any]:
    """The keyword arguments of :func:`build_recording` (but ``path``) from raw lists."""
    eyes_seen: set[str] = set(raw["eyes"])
    block_eyes = "".join(e for e in "LR" if e in eyes_seen)
    for rows in (raw["fix"], raw["sac"], raw["blinks"]):
        eyes_seen.update("LR"[int(r[-1])] for r in rows if int(r[-1]) in (0, 1))
    eyes = "".join(e for e in "LR" if e in eyes_seen) or block_eyes or "R"

    f = np.array(raw["fix"], dtype=np.float64).reshape(-1, 6)
    f = f[np.argsort(f[:, 0], kind="stable")]
    fixations = Fixations(f[:, 0], f[:, 1], _missing(f[:, 2]), _missing(f[:, 3]),
                          _eye_names(f[:, 5]))
    s = np.array(raw["sac"], dtype=np.float64).reshape(-1, 12)
    s = s[np.argsort(s[:, 0], kind="stable")]
    sx, sy, ex, ey = (_missing(s[:, j]) for j in (2, 3, 4, 5))
    with np.errstate(divide="ignore", invalid="ignore"):
        res_x = 0.5 * (s[:, 7] + s[:, 8])
        res_y = 0.5 * (s[:, 9] + s[:, 10])
        ampl = np.hypot((ex - sx) / res_x, (ey - sy) / res_y)
    ampl[~np.isfinite(ampl)] = np.nan
    saccades = Saccades(
        starts_ms=s[:, 0], ends_ms=s[:, 1], start_xs=sx, start_ys=sy, end_xs=ex, end_ys=ey,
        amplitudes_deg=ampl, peak_velocities_deg_s=_missing(s[:, 6]), eyes=_eye_names(s[:, 11]),
    )
    b = np.array(raw["blinks"], dtype=np.float64).reshape(-1, 3)
    b = b[np.argsort(b[:, 0], kind="stable")]
    issues = list(raw["order"])
    smp = _samples(api, raw["samples"], eyes, issues) if want_samples else None
    starts = [blk[0] for blk in raw["blocks"] if blk[0] == blk[0]]
    ends = [blk[1] for blk in raw["blocks"] if blk[1] == blk[1]]
    return {
        "fixations": fixations, "saccades": saccades,
        "blinks": Blinks(b[:, 0], b[:, 1], _eye_names(b[:, 2])),
        "messages": raw["messages"], "samples": smp, "sampling_rate_hz": raw["rate"],
        "eyes": eyes, "start_ms": min(starts) if starts else None,
        "end_ms": max(ends) if ends else None, "fixation_pupils": _missing(f[:, 4]),
        "blocks": [tuple(blk) for blk in raw["blocks"]], "order_issues": issues,
    }


def _samples(api: Any, raw: list[bytes], eyes: str, issues: list[str]) -> Samples:
    dtype = np.dtype(api.FSAMPLE)
    arr = np.frombuffer(b"".join(raw), dtype=dtype)
    times = arr["time"].astype(np.float64)
    times[(arr["flags"] & _SAMPLE_ADD_OFFSET) != 0] += 0.5
    back = np.flatnonzero(np.diff(times) < 0)
    if back.size:
        issues.append(f"{back.size} sample times go back in file order (the first: "
                      f"{times[back[0] + 1]:g} ms after {times[back[0]]:g} ms)")
    cols = [{"L": 0, "R": 1}[e] for e in eyes]
    xs = _missing(arr["gx"][:, cols])
    ys = _missing(arr["gy"][:, cols])
    pupils = _missing(arr["pa"][:, cols])
    lost = np.isnan(xs) | np.isnan(ys)
    pupils[lost] = np.nan
    order = np.argsort(times, kind="stable")
    return Samples(times[order], xs[order], ys[order], pupils[order], eyes)
