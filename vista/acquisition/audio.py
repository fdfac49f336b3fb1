"""Speech recording on the tracker clock: a microphone (or a WAV file standing in for
one) streamed to a WAV file written incrementally.

The recording is put on the eye tracker's clock once, here: when the first block of
audio arrives, the tracker time is read, the delay since the first sample was
captured (the *latency*) is subtracted, and an ``AUDIO_START <latency_ms>`` message
is written into the tracker's data file. A word at ``t`` seconds into the WAV is
then at ``audio_start_ms + 1000 t`` on the tracker clock.

The WAV file (:mod:`vista.acquisition.wav`) is valid after every block, so a
process killed at any moment leaves a readable file that lacks at most the last block.

``sounddevice`` (extra ``audio``) is imported only when a microphone is used.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._validation import check_int, check_positive, require
from .wav import WavInfo, WavWriter, read_wav, read_wav_header, resample

__all__ = [
    "AudioRecord",
    "AudioRecorder",
    "AudioSource",
    "FileSource",
    "MicrophoneSource",
    "WavInfo",
    "WavWriter",
    "read_wav",
    "read_wav_header",
    "resample",
]

# A block handed to the recorder: int16 samples (frames × channels), the
# time.perf_counter() at which its first sample was captured, and the number of
# input overflows the source reported with it.
BlockSink = Callable[[np.ndarray, float, int], None]


class AudioSource(Protocol):
    """What feeds an :class:`AudioRecorder`: a microphone, or a file standing in for one.

    ``start`` begins delivering blocks to ``sink`` (from any thread) as
    ``sink(samples_int16_frames_x_channels, first_sample_perf_counter, overflows)``;
    ``stop`` ends delivery and returns only when no more calls will come.
    """

    def start(self, sink: BlockSink, *, samplerate: int, channels: int, blocksize: int) -> None:
        ...

    def stop(self) -> None:
        ...

    @property
    def finished(self) -> bool:
        """True once the source has nothing more to deliver (never for a microphone)."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-able description for provenance."""
        ...

    @property
    def time_scale(self) -> float:
        """Source seconds per wall-clock second: 1 for a microphone, the playback
        speed for a file (whose tracker, if simulated, runs at the same speed)."""
        ...


class FileSource:
    """A WAV file played in place of a microphone, for tests and simulated sessions.

    The file is converted to the recorder's sample rate (polyphase resampling) and
    channel count (mixed down, or copied to every channel), then delivered one
    block at a time as a sound card would: block ``k`` arrives once its last sample
    has "been spoken", ``(k + 1) * block / speed`` after :meth:`start`. Delivery
    stops at the end of the file (see :attr:`finished`).

    Parameters
    ----------
    path : str or path-like
        A 16-bit PCM WAV file.
    speed : float, default 1.0
        Playback speed relative to real time; ``math.inf`` delivers as fast as the
        recorder takes it. The WAV written and the word times (which are audio time
        added to the tracker time of the first sample) do not depend on it. The
        measured latency is scaled by ``speed`` (:attr:`time_scale`), i.e. it is in
        the time of a tracker whose clock runs at the same speed, such as a
        :class:`~vista.acquisition.simulate.SimulatedTracker` with that ``speed``.
    """

    def __init__(self, path: str | os.PathLike[str], *, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.speed = check_positive("speed", speed) if speed != math.inf else math.inf
        if not self.path.is_file():
            raise FileNotFoundError(f"audio source {self.path} does not exist")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def time_scale(self) -> float:
        return 1.0 if self.speed == math.inf else float(self.speed)

    def describe(self) -> dict[str, Any]:
        return {"kind": "file", "path": str(self.path), "speed": self.speed}

    def _load(self, samplerate: int, channels: int) -> np.ndarray:
        data, rate = read_wav(self.path)
        data = resample(data, rate=rate, samplerate=samplerate)
        if data.shape[1] != channels:
            if channels == 1:
                data = np.round(data.astype(np.float64).mean(axis=1, keepdims=True))
                data = data.astype(np.int16)
            elif data.shape[1] == 1:
                data = np.repeat(data, channels, axis=1)
            else:
                raise ValueError(
                    f"audio source {self.path} has {data.shape[1]} channels; "
                    f"cannot record it as {channels}"
                )
        return data

    def start(self, sink: BlockSink, *, samplerate: int, channels: int, blocksize: int) -> None:
        data = self._load(samplerate, channels)
        block_s = blocksize / samplerate

        def run() -> None:
            t0 = time.perf_counter()
            try:
                for k, i in enumerate(range(0, len(data), blocksize)):
                    block = data[i:i + blocksize]
                    due = t0 + (k * block_s + len(block) / samplerate) / self.speed
                    while not self._stop.is_set():
                        wait = due - time.perf_counter()
                        if wait <= 0:
                            break
                        self._stop.wait(min(wait, 0.05))
                    if self._stop.is_set():
                        return
                    sink(block, t0 + k * block_s / self.speed, 0)
            except BaseException as exc:  # handed to the recorder at stop()
                self._error = exc
            finally:
                self._done.set()

        self._stop.clear()
        self._done.clear()
        self._thread = threading.Thread(target=run, name="vista-audio-file", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise err


class MicrophoneSource:
    """A microphone through ``sounddevice`` (PortAudio), 16-bit.

    The capture time of each block's first sample comes from PortAudio's
    ``inputBufferAdcTime``; where the host API does not provide it (it reads 0 on
    some ALSA devices) the stream's reported input latency is used instead.

    Parameters
    ----------
    device : int or str, optional
        A sounddevice input device (index or name substring); the default input
        device if None. ``python -m sounddevice`` lists them.
    """

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self._stream: Any = None
        self.input_latency_ms: float | None = None

    @property
    def finished(self) -> bool:
        return False

    @property
    def time_scale(self) -> float:
        return 1.0

    def describe(self) -> dict[str, Any]:
        return {"kind": "microphone", "device": self.device,
                "input_latency_ms": self.input_latency_ms}

    def start(self, sink: BlockSink, *, samplerate: int, channels: int, blocksize: int) -> None:
        sd = require("sounddevice", "audio")
        holder: dict[str, float] = {}

        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            now = time.perf_counter()
            offset_s = float(time_info.currentTime) - float(time_info.inputBufferAdcTime)
            if not (float(time_info.inputBufferAdcTime) > 0 and 0 <= offset_s < 1.0):
                offset_s = holder.get("latency_s", 0.0)
            overflows = 1 if getattr(status, "input_overflow", False) else 0
            sink(np.array(indata, dtype=np.int16, copy=True), now - offset_s, overflows)

        stream = sd.InputStream(
            samplerate=samplerate, channels=channels, dtype="int16", blocksize=blocksize,
            device=self.device, callback=callback,
        )
        latency = stream.latency
        holder["latency_s"] = float(latency[0] if isinstance(latency, (tuple, list)) else latency)
        self.input_latency_ms = 1000.0 * holder["latency_s"]
        self._stream = stream
        stream.start()

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()


@dataclass(frozen=True)
class AudioRecord:
    """What one recording produced, for the session's ``trials.jsonl`` line.

    Attributes
    ----------
    path : Path
        The WAV file.
    audio_start_ms : float or None
        Tracker time at which the first sample was captured; None if no audio came.
    latency_ms : float or None
        The ``AUDIO_START`` message's value: how long before the message the first
        sample was captured (device input latency + buffering + delivery).
    samplerate, channels, frames : int
        The WAV's format and length.
    overflows : int
        Blocks in which the device reported an input overflow (samples were lost
        and later word times may be early by the lost span); should be 0.
    source : dict
        Provenance of the source (microphone device or file).
    """

    path: Path
    audio_start_ms: float | None
    latency_ms: float | None
    samplerate: int
    channels: int
    frames: int
    overflows: int
    source: dict[str, Any]

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frames / self.samplerate

    def trial_fields(self, session_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """The ``audio``, ``audio_start_ms``, ``audio_latency_ms`` and
        ``audio_overflows`` fields of a ``trials.jsonl`` line; ``audio`` relative to
        ``session_dir`` when given. ``audio_overflows`` above 0 says samples were lost
        and word times after the loss may be early."""
        audio = self.path
        if session_dir is not None:
            try:
                audio = self.path.resolve().relative_to(Path(session_dir).resolve())
            except ValueError:
                audio = self.path.resolve()
        return {
            "audio": audio.as_posix(),
            "audio_start_ms": self.audio_start_ms,
            "audio_latency_ms": self.latency_ms,
            "audio_overflows": self.overflows,
        }


class _Clock(Protocol):
    def send_message(self, text: str) -> None: ...

    def tracker_time_ms(self) -> float: ...


_STOP = object()


class AudioRecorder:
    """Record speech to a WAV file, placed on the eye tracker's clock.

    When the first block arrives, the recorder reads the tracker clock, computes
    the latency (wall time since the first sample was captured), sets
    ``audio_start_ms = tracker time - latency`` and sends ``AUDIO_START
    <latency_ms>`` to the tracker. So the message's own time minus its value is the
    tracker time of the first sample, and a word ``t`` seconds into the WAV is at
    ``audio_start_ms + 1000 t``. Blocks are written by a worker thread, never in
    the audio callback.

    Parameters
    ----------
    wav_path : str or path-like
        The WAV file to write; it must not exist (a recording is never overwritten).
    tracker : object
        Anything with ``send_message(text)`` and ``tracker_time_ms()`` (a
        :class:`vista.acquisition.tracker.Tracker`).
    source : AudioSource, str or path-like, optional
        None for the default microphone (:class:`MicrophoneSource`); a path plays
        that WAV file in real time (:class:`FileSource`).
    samplerate : int, default 16000
        Frames per second of the recording (16 kHz is what Whisper uses).
    channels : int, default 1
        Channels recorded.
    block_ms : float, default 100
        Block length in milliseconds: the most a crash can lose, and the delivery
        granularity of the source.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> with WavWriter(d + "/speech.wav", samplerate=16000, channels=1) as w:
    ...     w.write(np.zeros(800, dtype=np.int16))
    >>> class Clock:
    ...     def __init__(self): self.messages = []
    ...     def tracker_time_ms(self): return 1000.0
    ...     def send_message(self, text): self.messages.append(text)
    >>> clock = Clock()
    >>> rec = AudioRecorder(d + "/out.wav", tracker=clock,
    ...                     source=FileSource(d + "/speech.wav", speed=math.inf))
    >>> rec.start()
    >>> rec.wait(timeout=10)
    True
    >>> r = rec.stop()
    >>> r.frames, clock.messages[0].split()[0]
    (800, 'AUDIO_START')
    """

    def __init__(
        self,
        wav_path: str | os.PathLike[str],
        *,
        tracker: _Clock,
        source: AudioSource | str | os.PathLike[str] | None = None,
        samplerate: int = 16000,
        channels: int = 1,
        block_ms: float = 100.0,
    ) -> None:
        for name in ("send_message", "tracker_time_ms"):
            if not callable(getattr(tracker, name, None)):
                raise TypeError(f"tracker must have a {name}() method; got {tracker!r}")
        self.wav_path = Path(wav_path)
        if self.wav_path.exists():
            raise FileExistsError(f"{self.wav_path} exists; vista never overwrites a recording")
        if not self.wav_path.parent.is_dir():
            raise FileNotFoundError(f"folder {self.wav_path.parent} does not exist")
        self.tracker = tracker
        if source is None:
            source = MicrophoneSource()
        elif isinstance(source, (str, os.PathLike)):
            source = FileSource(source)
        self.source: AudioSource = source
        self.samplerate = check_int("samplerate", samplerate, minimum=1000)
        self.channels = check_int("channels", channels, minimum=1)
        self.block_ms = check_positive("block_ms", block_ms)
        self.blocksize = max(1, round(self.samplerate * self.block_ms / 1000.0))
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: WavWriter | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._state = "new"
        self._audio_start_ms: float | None = None
        self._latency_ms: float | None = None
        self._overflows = 0
        self._first = threading.Event()
        self.record: AudioRecord | None = None
        """The :class:`AudioRecord`, once :meth:`stop` has returned."""

    # -- running ---------------------------------------------------------------------
    def start(self) -> None:
        """Create the WAV file and start the source; returns at once."""
        if self._state != "new":
            raise RuntimeError(f"AudioRecorder.start: already {self._state}")
        self._writer = WavWriter(self.wav_path, samplerate=self.samplerate, channels=self.channels)
        self._thread = threading.Thread(target=self._drain, name="vista-audio-writer", daemon=True)
        self._thread.start()
        self._state = "recording"
        try:
            self.source.start(self._sink, samplerate=self.samplerate, channels=self.channels,
                              blocksize=self.blocksize)
        except BaseException:
            self._queue.put(_STOP)
            self._thread.join()
            self._writer.close()
            self._state = "stopped"
            raise

    def _sink(self, samples: np.ndarray, first_sample_perf: float, overflows: int) -> None:
        self._queue.put((samples, first_sample_perf, overflows))

    def _drain(self) -> None:
        assert self._writer is not None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # keep draining so the source never blocks; the error is raised at stop()
            samples, first_perf, overflows = item
            try:
                if self._audio_start_ms is None:
                    now_ms = float(self.tracker.tracker_time_ms())
                    scale = float(getattr(self.source, "time_scale", 1.0))
                    latency = max(0.0, 1000.0 * scale * (time.perf_counter() - first_perf))
                    latency = round(latency, 1)
                    self.tracker.send_message(f"AUDIO_START {latency:.1f}")
                    self._audio_start_ms = now_ms - latency
                    self._latency_ms = latency
                    self._first.set()
                self._overflows += int(overflows)
                self._writer.write(samples)
            except BaseException as exc:
                self._error = exc

    @property
    def started(self) -> bool:
        """True once the first block has arrived and ``AUDIO_START`` was sent."""
        return self._first.is_set()

    @property
    def audio_start_ms(self) -> float | None:
        return self._audio_start_ms

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source has nothing more to deliver (a file source at its
        end) or ``timeout`` seconds pass; return whether it finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.source.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> AudioRecord:
        """Stop the source, write the remaining blocks, close the file durably, and
        return the :class:`AudioRecord`. Errors from the worker thread or the source
        (a full disk, a device error) are raised here."""
        if self._state != "recording":
            raise RuntimeError(f"AudioRecorder.stop: not recording ({self._state})")
        self._state = "stopped"
        errors: list[BaseException] = []
        try:
            self.source.stop()
        except BaseException as exc:
            errors.append(exc)
        self._queue.put(_STOP)
        assert self._thread is not None and self._writer is not None
        self._thread.join()
        try:
            self._writer.close()
        except BaseException as exc:
            errors.append(exc)
        if self._error is not None:
            errors.insert(0, self._error)
        if errors:
            raise errors[0]
        self.record = AudioRecord(
            path=self.wav_path,
            audio_start_ms=self._audio_start_ms,
            latency_ms=self._latency_ms,
            samplerate=self.samplerate,
            channels=self.channels,
            frames=self._writer.frames,
            overflows=self._overflows,
            source=dict(self.source.describe()),
        )
        return self.record

    def __enter__(self) -> AudioRecorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state == "recording":
            self.stop()
