"""16-bit PCM WAV files: a writer that leaves a valid file after every block, a
reader that checks the header before it trusts it, and a resampler.

The WAV file is valid after every block: the samples are appended with one
``write`` and then the RIFF and data sizes in the header are rewritten, so a process
killed at any moment leaves a readable file that lacks at most the last block.
"""

from __future__ import annotations

import math
import os
import struct
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_regular_file
from .._validation import check_int, check_positive
from ..errors import ParseError

__all__ = ["WavInfo", "WavWriter", "read_wav", "read_wav_header", "resample"]

_HEADER_BYTES = 44
_RIFF_SIZE_AT = 4
_DATA_SIZE_AT = 40
_MAX_DATA_BYTES = 0xFFFFFFFF - 36

class WavWriter:
    """A 16-bit PCM WAV file that is valid after every :meth:`write`.

    Each block is appended with a single ``os.write``; then the RIFF size and the
    data size in the header are rewritten (RIFF first, so a kill between the two
    leaves a header that describes the earlier, complete data). A process killed
    at any moment therefore leaves a file that standard readers open, holding
    every block whose :meth:`write` returned. :meth:`close` fsyncs; ``fsync_every_s``
    bounds what a power cut (rather than a process crash) can lose.

    Parameters
    ----------
    path : str or path-like
        The file to create; an existing file raises FileExistsError.
    samplerate : int
        Frames per second.
    channels : int
        Samples per frame.
    fsync_every_s : float, default 1.0
        Flush the file to disk at least this often (seconds of wall time).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> p = tempfile.mkdtemp() + "/a.wav"
    >>> w = WavWriter(p, samplerate=16000, channels=1)
    >>> w.write(np.zeros(160, dtype=np.int16))
    >>> read_wav(p)[0].shape     # readable before close
    (160, 1)
    >>> w.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        samplerate: int,
        channels: int,
        fsync_every_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.samplerate = check_int("samplerate", samplerate, minimum=1)
        self.channels = check_int("channels", channels, minimum=1)
        self._fsync_every_s = check_positive("fsync_every_s", fsync_every_s, allow_zero=True)
        self._frame_bytes = 2 * self.channels
        self._data_bytes = 0
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._last_sync = time.monotonic()
        os.write(self._fd, self._header(0))

    @property
    def frames(self) -> int:
        """Frames written so far."""
        return self._data_bytes // self._frame_bytes

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _header(self, data_bytes: int) -> bytes:
        byte_rate = self.samplerate * self._frame_bytes
        return (
            b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, self.channels, self.samplerate,
                                    byte_rate, self._frame_bytes, 16)
            + b"data" + struct.pack("<I", data_bytes)
        )

    def write(self, samples: np.ndarray) -> None:
        """Append ``samples`` (int16, frames × channels, or 1-D for one channel)."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        arr = np.asarray(samples)
        if arr.dtype != np.int16:
            raise TypeError(f"samples must be int16; got {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != self.channels:
            raise ValueError(
                f"samples must be frames × {self.channels}; got shape {np.shape(samples)}"
            )
        data = np.ascontiguousarray(arr, dtype="<i2").tobytes()
        if not data:
            return
        if self._data_bytes + len(data) > _MAX_DATA_BYTES:
            raise OSError(f"{self.path}: a WAV file cannot hold more than 4 GiB of samples")
        view = memoryview(data)
        while view:  # os.write on a regular file writes everything unless the disk is full
            n = os.write(self._fd, view)
            view = view[n:]
        self._data_bytes += len(data)
        os.pwrite(self._fd, struct.pack("<I", 36 + self._data_bytes), _RIFF_SIZE_AT)
        os.pwrite(self._fd, struct.pack("<I", self._data_bytes), _DATA_SIZE_AT)
        now = time.monotonic()
        if now - self._last_sync >= self._fsync_every_s:
            os.fsync(self._fd)
            self._last_sync = now

    def close(self) -> None:
        """Flush to disk and close; safe to call twice."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class WavInfo:
    """The format of a WAV file, from its header: what :func:`read_wav_header` returns."""

    channels: int
    sample_width: int
    samplerate: int
    frames: int


def _open_wav(path: Path) -> Any:
    try:
        return wave.open(str(path), "rb")
    except (wave.Error, EOFError, struct.error, ValueError, OverflowError,
            RuntimeError) as exc:  # RuntimeError: wave's seek past a chunk's end
        why = str(exc) or "the file ends inside its header"
        raise ParseError(f"not a readable WAV file ({why})", path=path) from None


def read_wav_header(path: str | os.PathLike[str]) -> WavInfo:
    """The format of a 16-bit PCM WAV file, read from its header.

    ``frames`` is what the file holds, which may be fewer than the header says (a
    recording cut short by a crash).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ParseError
        If it is not a regular file, not a WAV file, or not 16-bit PCM (names the file).
    """
    path = check_regular_file(path, what="WAV file")
    with _open_wav(path) as wf:
        width, channels, rate = wf.getsampwidth(), wf.getnchannels(), wf.getframerate()
        declared = wf.getnframes()
    if width != 2:
        raise ParseError(f"expected 16-bit PCM samples; got {8 * width}-bit", path=path)
    if rate < 1:
        raise ParseError(f"invalid sample rate {rate} Hz", path=path)
    held = max(0, path.stat().st_size - _HEADER_BYTES) // (width * channels)
    return WavInfo(channels, width, rate, min(declared, held))


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV file as int16 frames × channels and its sample rate.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ParseError
        If it is not a regular file or not a 16-bit PCM WAV file (the message names
        the file). ParseError is a ValueError.
    """
    info = read_wav_header(path)
    with _open_wav(Path(path)) as wf:
        try:  # at most what the file holds, whatever the header claims
            raw = wf.readframes(info.frames)
        except (wave.Error, EOFError, struct.error, ValueError, RuntimeError) as exc:
            raise ParseError(f"not a readable WAV file ({exc})", path=path) from None
    usable = len(raw) - len(raw) % (2 * info.channels)
    arr = np.frombuffer(raw[:usable], dtype="<i2").astype(np.int16).reshape(-1, info.channels)
    return arr, info.samplerate


def resample(samples: np.ndarray, *, rate: int, samplerate: int) -> np.ndarray:
    """Resample along the first axis from ``rate`` to ``samplerate`` Hz by a polyphase
    filter (:func:`scipy.signal.resample_poly`); int16 stays int16 (rounded, clipped),
    other input becomes float64. The input is returned as is when the rates agree.

    Examples
    --------
    >>> resample(np.zeros(441, dtype=np.int16), rate=22050, samplerate=16000).shape
    (320,)
    """
    if rate == samplerate:
        return samples
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(samplerate))
    out = resample_poly(np.asarray(samples, dtype=np.float64), samplerate // g, rate // g, axis=0)
    if np.asarray(samples).dtype == np.int16:
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)
    return out
