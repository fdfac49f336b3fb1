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
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import require
from ..errors import MissingExtraError, ParseError
from ..records import Fixations, Message
from .recording import Blinks, Recording, Saccades, Samples, build_recording, offset_message

__all__ = ["read_edf"]

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


def read_edf(path: str | os.PathLike[str], *, samples: bool = False) -> Recording:
    """Read an EyeLink EDF file into a :class:`~vista.gaze.recording.Recording`.

    Parameters
    ----------
    path : path
        The ``.edf`` file.
    samples : bool, default False
        Also read the gaze samples (much slower: every sample crosses into Python).

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
        If the EDF API cannot open the file.

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
        raise FileNotFoundError(f"no such EDF file: {p}")
    api = _api()
    with open(p, "rb") as fh:
        magic = fh.read(11)
    if magic != b"SR_RESEARCH":
        raise ParseError("not an EDF file (it does not start with 'SR_RESEARCH')",
                         path=p, line=None)
    err = ctypes.c_int(0)
    with _quiet_stdout():
        fid = api.edf_open_file(os.fsencode(p.resolve()), 2, 1, int(bool(samples)),
                                ctypes.byref(err))
    if not fid or err.value != 0:
        raise ParseError(f"the EDF API could not open the file (error {err.value})", path=p)
    try:
        return _walk(api, fid, p, samples)
    finally:
        with _quiet_stdout():
            api.edf_close_file(fid)


def _walk(api: Any, fid: Any, path: Path, want_samples: bool) -> Recording:
    next_data = api.edf_get_next_data
    float_data = api.edf_get_float_data
    fsize = ctypes.sizeof(api.FSAMPLE)
    string_at = ctypes.string_at
    fix: list[tuple[float, ...]] = []
    sac: list[tuple[float, ...]] = []
    blinks: list[tuple[float, float, float]] = []
    messages: list[Message] = []
    raw_samples: list[bytes] = []
    eyes_seen: set[str] = set()
    rate: float | None = None
    start_ms: float | None = None
    end_ms: float | None = None
    with _quiet_stdout():
        while True:
            kind = next_data(fid)
            if kind == _NO_PENDING:
                break
            if kind == _SAMPLE:
                if want_samples:
                    raw_samples.append(string_at(float_data(fid), fsize))
                continue
            if kind == _ENDFIX:
                e = float_data(fid).contents.fe
                fix.append((e.sttime, e.entime, e.gavx, e.gavy, e.ava, e.eye))
            elif kind == _ENDSACC:
                e = float_data(fid).contents.fe
                sac.append((e.sttime, e.entime, e.gstx, e.gsty, e.genx, e.geny, e.pvel,
                            e.supd_x, e.eupd_x, e.supd_y, e.eupd_y, e.eye))
            elif kind == _ENDBLINK:
                e = float_data(fid).contents.fe
                blinks.append((e.sttime, e.entime, e.eye))
            elif kind == _MESSAGE:
                e = float_data(fid).contents.fe
                messages.append(offset_message(float(e.sttime), _text(e)))
            elif kind == _RECORDING_INFO:
                r = float_data(fid).contents.rec
                t = float(r.time)
                if r.state:
                    start_ms = t if start_ms is None else min(start_ms, t)
                    rate = float(r.sample_rate)
                    eyes_seen.update({1: "L", 2: "R", 3: "LR"}.get(int(r.eye), ""))
                else:
                    end_ms = t if end_ms is None else max(end_ms, t)
    eyes = "".join(e for e in "LR" if e in eyes_seen)
    for rows in (fix, sac, blinks):
        eyes_seen.update("LR"[int(r[-1])] for r in rows if int(r[-1]) in (0, 1))
    eyes = "".join(e for e in "LR" if e in eyes_seen) or eyes or "R"

    f = np.array(fix, dtype=np.float64).reshape(-1, 6)
    fo = np.argsort(f[:, 0], kind="stable")
    f = f[fo]
    fix_eyes = np.array(["L", "R"])[f[:, 5].astype(int).clip(0, 1)]
    fixations = Fixations(f[:, 0], f[:, 1], _missing(f[:, 2]), _missing(f[:, 3]), fix_eyes)

    s = np.array(sac, dtype=np.float64).reshape(-1, 12)
    s = s[np.argsort(s[:, 0], kind="stable")]
    sx, sy, ex, ey = (_missing(s[:, j]) for j in (2, 3, 4, 5))
    with np.errstate(divide="ignore", invalid="ignore"):
        res_x = 0.5 * (s[:, 7] + s[:, 8])
        res_y = 0.5 * (s[:, 9] + s[:, 10])
        ampl = np.hypot((ex - sx) / res_x, (ey - sy) / res_y)
    ampl[~np.isfinite(ampl)] = np.nan
    saccades = Saccades(
        starts_ms=s[:, 0], ends_ms=s[:, 1], start_xs=sx, start_ys=sy, end_xs=ex, end_ys=ey,
        amplitudes_deg=ampl, peak_velocities_deg_s=_missing(s[:, 6]),
        eyes=np.array(["L", "R"])[s[:, 11].astype(int).clip(0, 1)],
    )
    b = np.array(blinks, dtype=np.float64).reshape(-1, 3)
    b = b[np.argsort(b[:, 0], kind="stable")]
    blink_rec = Blinks(b[:, 0], b[:, 1], np.array(["L", "R"])[b[:, 2].astype(int).clip(0, 1)])

    smp = _samples(api, raw_samples, eyes) if want_samples else None
    return build_recording(
        path=path, fixations=fixations, saccades=saccades, blinks=blink_rec,
        messages=messages, samples=smp, sampling_rate_hz=rate, eyes=eyes,
        start_ms=start_ms, end_ms=end_ms, fixation_pupils=_missing(f[:, 4]),
    )


def _samples(api: Any, raw: list[bytes], eyes: str) -> Samples:
    dtype = np.dtype(api.FSAMPLE)
    arr = np.frombuffer(b"".join(raw), dtype=dtype)
    times = arr["time"].astype(np.float64)
    times[(arr["flags"] & _SAMPLE_ADD_OFFSET) != 0] += 0.5
    cols = [{"L": 0, "R": 1}[e] for e in eyes]
    xs = _missing(arr["gx"][:, cols])
    ys = _missing(arr["gy"][:, cols])
    pupils = _missing(arr["pa"][:, cols])
    lost = np.isnan(xs) | np.isnan(ys)
    pupils[lost] = np.nan
    order = np.argsort(times, kind="stable")
    return Samples(times[order], xs[order], ys[order], pupils[order], eyes)
