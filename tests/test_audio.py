"""Audio recording: the incremental WAV writer, the tracker-clock offset and the sources."""

from __future__ import annotations

import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import types
import wave
from pathlib import Path

import numpy as np
import pytest

from vista.acquisition.audio import (
    AudioRecorder,
    FileSource,
    MicrophoneSource,
    WavWriter,
    read_wav,
)


class FakeTracker:
    """A tracker clock: perf_counter in ms plus a large offset; records messages."""

    OFFSET_MS = 7_000_000.0

    def __init__(self, rate: float = 1.0) -> None:
        self.messages: list[tuple[float, str]] = []
        self.rate = rate

    def tracker_time_ms(self) -> float:
        return time.perf_counter() * 1000.0 * self.rate + self.OFFSET_MS

    def send_message(self, text: str) -> None:
        self.messages.append((self.tracker_time_ms(), text))


def _tone(n: int, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 8000 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 500, n)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _write(path: Path, samples: np.ndarray, rate: int = 16000, channels: int = 1) -> Path:
    with WavWriter(path, samplerate=rate, channels=channels) as w:
        w.write(samples)
    return path


# -- WavWriter --------------------------------------------------------------------------

def test_wav_valid_after_every_block(tmp_path: Path) -> None:
    """After each write (before close) the standard library reads every sample so far."""
    x = _tone(1600 * 4)
    path = tmp_path / "a.wav"
    w = WavWriter(path, samplerate=16000, channels=1)
    try:
        for k in range(4):
            w.write(x[k * 1600:(k + 1) * 1600])
            with wave.open(str(path), "rb") as wf:
                assert wf.getnframes() == (k + 1) * 1600
                assert wf.getframerate() == 16000 and wf.getsampwidth() == 2
            got, _ = read_wav(path)
            np.testing.assert_array_equal(got[:, 0], x[:(k + 1) * 1600])
    finally:
        w.close()
    w.close()  # twice is fine
    assert w.closed and w.frames == 6400
    soundfile = pytest.importorskip("soundfile", reason="soundfile cross-check needs soundfile")
    data, _ = soundfile.read(str(path), dtype="int16")
    np.testing.assert_array_equal(data, x)


def test_wav_two_channels_header(tmp_path: Path) -> None:
    """The header fields follow the RIFF WAVE layout (sizes checked byte by byte)."""
    x = np.arange(20, dtype=np.int16).reshape(10, 2)
    path = _write(tmp_path / "s.wav", x, rate=8000, channels=2)
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8
    assert struct.unpack("<I", raw[40:44])[0] == 40 == len(raw) - 44
    got, rate = read_wav(path)
    assert rate == 8000
    np.testing.assert_array_equal(got, x)


def test_wav_never_overwrites(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.wav", _tone(100))
    with pytest.raises(FileExistsError):
        WavWriter(path, samplerate=16000, channels=1)


@pytest.mark.parametrize(
    "samples, match",
    [
        pytest.param(np.zeros(10, dtype=np.float32), "int16", id="float"),
        pytest.param(np.zeros((10, 2), dtype=np.int16), "frames × 1", id="channels"),
        pytest.param(np.zeros((2, 2, 2), dtype=np.int16), "frames × 1", id="3-D"),
    ],
)
def test_wav_write_errors(tmp_path: Path, samples: np.ndarray, match: str) -> None:
    with WavWriter(tmp_path / "a.wav", samplerate=16000, channels=1) as w:
        with pytest.raises((TypeError, ValueError), match=match):
            w.write(samples)


def test_read_wav_rejects_non_wav(tmp_path: Path) -> None:
    p = tmp_path / "x.wav"
    p.write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match=r"x\.wav"):
        read_wav(p)


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from vista.acquisition.audio import AudioRecorder, FileSource

    class Clock:
        def tracker_time_ms(self): return time.perf_counter() * 1000.0
        def send_message(self, text): pass

    rec = AudioRecorder(sys.argv[2], tracker=Clock(), source=FileSource(sys.argv[1], speed=4.0),
                        block_ms=50)
    rec.start()
    time.sleep(60)
    """
)


def test_recording_survives_sigkill(tmp_path: Path) -> None:
    """A recorder process killed with SIGKILL leaves a readable WAV holding a prefix
    of the source made of whole blocks: at most the block in flight is lost."""
    source = _write(tmp_path / "source.wav", _tone(16000 * 20))
    out = tmp_path / "out.wav"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(source), str(out)])
    try:
        deadline = time.monotonic() + 30
        frames = 0
        while time.monotonic() < deadline and frames < 16000:
            time.sleep(0.05)
            if out.exists() and out.stat().st_size > 44:
                frames = (out.stat().st_size - 44) // 2
        assert frames >= 16000, "the recorder subprocess wrote too little in 30 s"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    got, rate = read_wav(out)
    expected, _ = read_wav(source)
    assert rate == 16000 and 16000 <= len(got) < len(expected)
    assert len(got) % 800 == 0  # whole 50 ms blocks only
    np.testing.assert_array_equal(got, expected[: len(got)])
    assert os.path.getsize(out) - 44 - 2 * len(got) <= 2 * 800  # at most one block unaccounted


# -- AudioRecorder ------------------------------------------------------------------------

def test_file_source_sends_audio_start_with_latency(tmp_path: Path) -> None:
    """AUDIO_START carries the latency; message time minus latency is audio_start_ms.
    At speed 2 the tracker clock runs at twice real time too, like a simulated one."""
    x = _tone(8000)
    src = _write(tmp_path / "speech.wav", x)
    tracker = FakeTracker(rate=2.0)
    before = tracker.tracker_time_ms()
    rec = AudioRecorder(tmp_path / "rec.wav", tracker=tracker, source=FileSource(src, speed=2.0),
                        block_ms=40)
    rec.start()
    assert rec.wait(timeout=10)
    record = rec.stop()
    assert rec.record is record
    starts = [(t, m) for t, m in tracker.messages if m.startswith("AUDIO_START")]
    assert len(starts) == 1
    msg_time, text = starts[0]
    latency = float(text.split()[1])
    assert latency == record.latency_ms
    # the first 40 ms block "is spoken" over 20 ms of wall time = 40 ms of tracker time
    assert 40.0 <= latency < 500.0
    assert record.audio_start_ms is not None
    assert abs((msg_time - latency) - record.audio_start_ms) < 2.0
    assert before - 1.0 <= record.audio_start_ms <= before + 500.0
    assert abs(record.audio_start_ms - before) < 0.5 * latency + 30.0  # clock start ~ first sample
    got, _ = read_wav(record.path)
    np.testing.assert_array_equal(got[:, 0], x)
    assert record.frames == 8000 and record.duration_ms == 500.0 and record.overflows == 0
    fields = record.trial_fields(tmp_path)
    assert fields == {"audio": "rec.wav", "audio_start_ms": record.audio_start_ms,
                      "audio_latency_ms": latency, "audio_overflows": 0}
    assert record.source == {"kind": "file", "path": str(src), "speed": 2.0}


def test_file_source_resamples_and_mixes(tmp_path: Path) -> None:
    """A 22.05 kHz stereo file is recorded as 16 kHz mono of the same duration."""
    n = 22050
    stereo = np.stack([_tone(n, 22050), _tone(n, 22050, seed=1)], axis=1)
    src = _write(tmp_path / "s.wav", stereo, rate=22050, channels=2)
    with AudioRecorder(tmp_path / "r.wav", tracker=FakeTracker(),
                       source=FileSource(src, speed=math.inf)) as rec:
        assert rec.wait(timeout=10)
    assert rec.record is not None
    got, rate = read_wav(tmp_path / "r.wav")
    assert rate == 16000 and got.shape == (16000, 1)
    assert rec.record.frames == 16000


class _FakeStream:
    """Stands in for sounddevice.InputStream: delivers blocks from a thread with
    PortAudio-like time info (the first sample captured 100 ms before the callback)."""

    def __init__(self, *, samplerate, channels, dtype, blocksize, device, callback):
        assert dtype == "int16"
        self.callback, self.blocksize, self.channels = callback, blocksize, channels
        self.latency = 0.03
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.closed = False

    def _run(self) -> None:
        for k in range(3):
            if self._stop.is_set():
                return
            block = np.full((self.blocksize, self.channels), k + 1, dtype=np.int16)
            t = types.SimpleNamespace(currentTime=50.0, inputBufferAdcTime=49.9)
            status = types.SimpleNamespace(input_overflow=(k == 2))
            self.callback(block, self.blocksize, t, status)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def close(self) -> None:
        self.closed = True


def test_microphone_latency_from_adc_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a stand-in sounddevice, the latency includes PortAudio's ADC-to-callback
    offset (100 ms here) and overflows are counted."""
    fake = types.ModuleType("sounddevice")
    fake.InputStream = _FakeStream  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    tracker = FakeTracker()
    before = tracker.tracker_time_ms()
    rec = AudioRecorder(tmp_path / "mic.wav", tracker=tracker, source=MicrophoneSource(),
                        block_ms=10)
    rec.start()
    deadline = time.monotonic() + 5
    while rec.started is False and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    record = rec.stop()
    assert record.latency_ms is not None and record.audio_start_ms is not None
    assert 100.0 <= record.latency_ms < 300.0
    assert before - 150.0 < record.audio_start_ms < before + 200.0
    assert record.overflows == 1 and record.frames == 480
    # the session's trial line keeps it: word times after a loss may be early
    assert record.trial_fields(tmp_path)["audio_overflows"] == 1
    assert record.source["input_latency_ms"] == pytest.approx(30.0)
    got, _ = read_wav(record.path)
    assert got[:160, 0].tolist() == [1] * 160 and got[-1, 0] == 3


def test_microphone_needs_sounddevice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    rec = AudioRecorder(tmp_path / "m.wav", tracker=FakeTracker())
    with pytest.raises(ImportError, match=r"vista-gaze\[audio\]"):
        rec.start()


def test_recorder_with_no_audio_yet(tmp_path: Path) -> None:
    """Stopped before any block: a valid empty WAV, no AUDIO_START, start time None."""
    src = _write(tmp_path / "s.wav", _tone(16000))
    tracker = FakeTracker()
    rec = AudioRecorder(tmp_path / "r.wav", tracker=tracker, source=FileSource(src, speed=0.01))
    rec.start()
    record = rec.stop()
    assert record.audio_start_ms is None and record.frames == 0 and tracker.messages == []
    assert read_wav(record.path)[0].shape == (0, 1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"tracker": object()}, TypeError, "send_message", id="tracker"),
        pytest.param({"samplerate": 100}, ValueError, "samplerate", id="samplerate"),
        pytest.param({"channels": 0}, ValueError, "channels", id="channels"),
        pytest.param({"block_ms": 0}, ValueError, "block_ms", id="block_ms"),
        pytest.param({"source": "missing.wav"}, FileNotFoundError, "missing.wav", id="source"),
    ],
)
def test_recorder_errors(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    args = {"tracker": FakeTracker(), "source": None, **kwargs}
    if isinstance(args["source"], str):
        args["source"] = str(tmp_path / args["source"])
    with pytest.raises(error, match=match):
        AudioRecorder(tmp_path / "r.wav", **args)


def test_recorder_refuses_existing_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.wav", _tone(10))
    with pytest.raises(FileExistsError, match="never overwrites"):
        AudioRecorder(p, tracker=FakeTracker())


def test_file_source_rejects_channel_mismatch(tmp_path: Path) -> None:
    src = _write(tmp_path / "s.wav", np.zeros((10, 3), dtype=np.int16), channels=3)
    rec = AudioRecorder(tmp_path / "r.wav", tracker=FakeTracker(), source=src, channels=2)
    with pytest.raises(ValueError, match="3 channels"):
        rec.start()
