"""Synthetic speech with espeak-ng (skipped where espeak-ng is not installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vista.acquisition import tts
from vista.acquisition.audio import read_wav
from vista.acquisition.tts import (
    EspeakNotFoundError,
    compose_speech,
    speak,
    speak_to_wav,
    voiced_span,
)

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@needs_espeak
def test_speak_gives_16k_speech() -> None:
    x = speak("a red bus", rate_wpm=150)
    assert x.dtype == np.int16 and x.ndim == 1
    # "a red bus" at 150 wpm lasts roughly 0.5 to 2 s
    assert 0.5 * 16000 < len(x) < 2.0 * 16000
    assert np.abs(x).max() > 0.1 * 32768


@needs_espeak
def test_speak_to_wav_and_never_overwrite(tmp_path: Path) -> None:
    p = speak_to_wav("the tree", tmp_path / "t.wav", samplerate=22050)
    data, rate = read_wav(p)
    assert rate == 22050 and data.shape[1] == 1 and len(data) > 2205
    with pytest.raises(FileExistsError):
        speak_to_wav("the tree", p)


@needs_espeak
def test_text_is_not_read_as_an_option() -> None:
    """Text starting with a dash goes to espeak-ng on stdin, not as a command-line flag."""
    assert len(speak("-v fr hello")) > 1600


@needs_espeak
def test_compose_speech_lays_phrases_at_their_times(tmp_path: Path) -> None:
    phrases = [(300.0, "a red bus"), (2500.0, "next to the tree")]
    spans = compose_speech(phrases, tmp_path / "c.wav", duration_ms=5000)
    data, rate = read_wav(tmp_path / "c.wav")
    assert rate == 16000 and len(data) == 5 * 16000
    assert [s.text for s in spans] == ["a red bus", "next to the tree"]
    for (start, _), span in zip(phrases, spans, strict=True):
        assert start <= span.start_ms < start + 200  # espeak's own lead-in is short
        assert span.end_ms > span.start_ms + 300
    assert spans[0].end_ms < 2500
    # silence outside the phrases
    assert np.abs(data[: int(0.3 * 16000)]).max() == 0
    assert np.abs(data[int(spans[1].end_ms * 16 + 160):]).max() < 0.02 * 32768


@needs_espeak
@pytest.mark.parametrize(
    "phrases, duration_ms, match",
    [
        pytest.param([(0.0, "a long phrase about a bus"), (100.0, "tree")], None,
                     r"phrases\[1\].*before the previous", id="overlap"),
        pytest.param([(0.0, "a bus")], 100.0, "too short", id="duration"),
        pytest.param([(-5.0, "a bus")], None, r"phrases\[0\] start_ms", id="negative"),
        pytest.param([("a bus",)], None, r"phrases\[0\] must be", id="not-pair"),
        pytest.param([], None, "at least one", id="empty"),
    ],
)
def test_compose_speech_errors(tmp_path: Path, phrases: list, duration_ms: float | None,
                               match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compose_speech(phrases, tmp_path / "c.wav", duration_ms=duration_ms)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"text": ""}, ValueError, "non-empty", id="empty-text"),
        pytest.param({"text": "hi", "rate_wpm": 20}, ValueError, "rate_wpm", id="slow"),
        pytest.param({"text": "hi", "rate_wpm": 900}, ValueError, "rate_wpm", id="fast"),
        pytest.param({"text": "hi", "rate_wpm": 1.5}, TypeError, "rate_wpm", id="float-rate"),
    ],
)
def test_speak_argument_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        speak(**kwargs)


@needs_espeak
def test_unknown_voice() -> None:
    with pytest.raises(ValueError, match="no-such-voice"):
        speak("hello", voice="no-such-voice")


def test_missing_espeak_names_apt_get(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(EspeakNotFoundError, match="apt-get install espeak-ng"):
        speak("hello")
    assert issubclass(EspeakNotFoundError, FileNotFoundError)


def test_voiced_span() -> None:
    x = np.zeros(8000, dtype=np.int16)
    assert voiced_span(x, samplerate=16000) == (0.0, 0.0)
    x[1600:3200] = 20000
    assert voiced_span(x, samplerate=16000) == (100.0, 200.0)
    assert voiced_span(np.zeros(0, dtype=np.int16), samplerate=16000) == (0.0, 0.0)
