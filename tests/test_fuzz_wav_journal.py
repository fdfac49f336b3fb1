"""Fuzzing the WAV reader and the session readers (journal, session.json) with
hypothesis: whatever the bytes, a reader returns what its documentation says or
raises a vista error that names the file; it never crashes with another exception.

A few hundred cases per reader run in CI; set VISTA_FUZZ_EXAMPLES (cases per test)
for a longer run, e.g. ``VISTA_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_wav_journal.py``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vista.acquisition.wav import read_wav, read_wav_header
from vista.errors import ParseError, VistaError
from vista.gaze.session_reader import read_journal

EXAMPLES = int(os.environ.get("VISTA_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize="VISTA_FUZZ_EXAMPLES" not in os.environ,  # CI: the same cases
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _wav_bytes(frames: int = 400, channels: int = 1, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.arange(frames * channels) % 2000).astype("<i2").tobytes())
    return buf.getvalue()


GOOD_WAV = _wav_bytes()


@st.composite
def mutated(draw: Any, seed: bytes) -> bytes:
    """``seed`` with some bytes changed, cut short, extended, or a header field set
    to an extreme value."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "field"]))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:draw(st.integers(0, len(data)))]
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(max_size=16))
        elif len(data) >= 44:  # a RIFF/fmt/data field of 2 or 4 bytes
            at = draw(st.sampled_from([4, 16, 20, 22, 24, 28, 32, 34, 40]))
            width = 2 if at in (20, 22, 32, 34) else 4
            value = draw(st.sampled_from([0, 1, 3, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF]))
            data[at:at + width] = struct.pack("<I" if width == 4 else "<H",
                                              value & (0xFFFF if width == 2 else 0xFFFFFFFF))
    return bytes(data)


def _check_wav(path: Path) -> None:
    try:
        info = read_wav_header(path)
        samples, rate = read_wav(path)
    except ParseError as exc:
        assert str(path) in str(exc)
        return
    assert samples.dtype == np.int16 and samples.ndim == 2
    assert samples.shape[1] == info.channels >= 1 and rate == info.samplerate >= 1
    assert samples.shape[0] <= info.frames


@FUZZ
@given(data=st.one_of(mutated(GOOD_WAV), mutated(_wav_bytes(7, channels=2, rate=8000)),
                      st.binary(max_size=200)))
def test_wav_reader_fuzz(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.wav"
    path.write_bytes(data)
    _check_wav(path)


def test_wav_that_claims_4_gib_reads_what_it_holds(tmp_path: Path) -> None:
    """A header whose data size says 4 GiB over 800 bytes of samples: the reader reads
    the 800 bytes, it does not try to allocate 4 GiB."""
    data = bytearray(GOOD_WAV)
    data[40:44] = struct.pack("<I", 0xFFFFFFF0)
    (tmp_path / "big.wav").write_bytes(bytes(data))
    samples, rate = read_wav(tmp_path / "big.wav")
    assert samples.shape == (400, 1) and rate == 16000


# -------------------------------------------------------------------------- journals

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=6), kids, max_size=3)),
    max_leaves=6)
TRIAL_IDS = st.one_of(st.sampled_from(["1", "2", "3"]), JSON_VALUES)
PATHS = st.sampled_from(["audio/1.wav", "recording.asc", "transcripts/1.json", "../../x.wav",
                         "/etc/passwd", "audio/../session.json", "", "a\nb.png"])


@st.composite
def journal_line(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["row", "row", "json", "bytes", "blank"]))
    if kind == "row":
        row: dict[str, Any] = {"trial_id": draw(TRIAL_IDS)}
        for key in draw(st.lists(st.sampled_from(
                ["start_ms", "end_ms", "placement", "image", "transcript", "recording",
                 "audio", "audio_start_ms"]), max_size=4, unique=True)):
            paths = key in ("image", "transcript", "recording", "audio")
            row[key] = draw(st.one_of(JSON_VALUES, PATHS) if paths else JSON_VALUES)
        return json.dumps(row).encode()
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=30)).replace(b"\n", b" ")
    return b""


@st.composite
def journal(draw: Any) -> bytes:
    lines = draw(st.lists(journal_line(), max_size=5))
    text = b"\n".join(lines)
    return text + (b"\n" if draw(st.booleans()) else b"")


@FUZZ
@given(data=journal(), with_plan=st.booleans())
def test_journal_reader_fuzz(tmp_path: Path, data: bytes, with_plan: bool) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_bytes(data)
    plan = {"1": {}, "2": {}} if with_plan else None
    try:
        rows = read_journal(path, plan=plan)
    except ParseError as exc:
        assert str(path) in str(exc) and exc.line is not None
        return
    for row in rows:
        assert isinstance(row, dict) and isinstance(row["trial_id"], str)
        assert plan is None or row["trial_id"] in plan


# -------------------------------------------------------------------- a whole session

def _recording(path: Path) -> None:
    from vista.gaze.asc import AscWriter

    with AscWriter(path) as w:
        w.start(0, eyes="R", rate_hz=1000)
        w.message(10, "TRIALID 1")
        w.fixation("R", 20, 300, 512.0, 384.0, 900)
        w.message(900, "TRIAL_RESULT 0")
        w.end(1000)


@st.composite
def session_json(draw: Any) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.binary(max_size=40), st.just(b"[1, 2]")))
    info: dict[str, Any] = {"format": "vista-session", "participant": "P1",
                            "screen": {"width_px": 1024, "height_px": 768, "width_mm": 400,
                                       "height_mm": 300, "distance_mm": 700},
                            "recording": "recording.asc",
                            "plan": [{"trial_id": "1", "image": "a.png"},
                                     {"trial_id": "2", "image": "b.png"}]}
    for key in draw(st.lists(st.sampled_from([*info, "images_dir"]), max_size=3,
                             unique=True)):
        info[key] = draw(st.one_of(JSON_VALUES, st.just("../outside.asc")))
    return json.dumps(info).encode()


@FUZZ
@given(meta=session_json(), lines=journal())
def test_session_reader_fuzz(tmp_path: Path, meta: bytes, lines: bytes) -> None:
    from vista.gaze.session_reader import read_session

    root = Path(tempfile.mkdtemp(dir=tmp_path))
    (root / "session.json").write_bytes(meta)
    (root / "trials.jsonl").write_bytes(lines)
    _recording(root / "recording.asc")
    try:
        session = read_session(root)
    except (VistaError, FileNotFoundError) as exc:
        assert str(root) in str(exc), exc
        return
    for trial in session.trials:
        assert isinstance(trial.trial_id, str)
        assert trial.image_path is None or isinstance(trial.image_path, str)


@FUZZ
@given(meta=session_json(), lines=journal())
def test_transcribe_session_reader_fuzz(tmp_path: Path, meta: bytes, lines: bytes) -> None:
    """`vista transcribe`'s reading of a session: the journal (audio paths, audio
    start times, trial ids against the plan) and session.json. No audio file exists,
    so no recogniser is ever loaded: each trial is refused naming its file, or found
    to have no audio."""
    from vista.acquisition.transcripts import transcribe_session

    root = Path(tempfile.mkdtemp(dir=tmp_path))
    (root / "session.json").write_bytes(meta)
    (root / "trials.jsonl").write_bytes(lines)
    try:
        results = transcribe_session(root)
    except (VistaError, FileNotFoundError) as exc:
        assert str(root) in str(exc), exc
        return
    assert all(r.status == "no-audio" for r in results)
    assert sorted(p.name for p in root.iterdir()) == ["session.json", "trials.jsonl"]
