"""vista.gaze.segments: transcripts split into text segments."""

from __future__ import annotations

import pytest

from vista.gaze import segments as S
from vista.records import Segment, Transcript, Word


def transcript(*words: tuple[str, float, float]) -> Transcript:
    return Transcript(tuple(Word(t, a, b) for t, a, b in words), source="manual")


SPEECH = transcript(
    ("There's", 0, 300), ("a", 300, 400), ("red", 400, 600), ("bus,", 600, 900),
    ("and", 1200, 1300), ("a", 1300, 1400), ("man", 1400, 1700), ("with", 1700, 1900),
    ("an", 1900, 2000), ("umbrella.", 2000, 2600), ("It", 3500, 3600), ("is", 3600, 3700),
    ("raining!", 3700, 4200), ("—", 4300, 4350), ("Maybe", 4400, 4700), ("evening", 4700, 5100),
)


def texts(segs: list[Segment]) -> list[str]:
    return [s.text for s in segs]


def test_word() -> None:
    got = S.segment(SPEECH, "word")
    assert texts(got)[:4] == ["There's", "a", "red", "bus"]
    assert "—" not in texts(got) and len(got) == len(SPEECH.words) - 1
    assert (got[3].start_ms, got[3].end_ms) == (600, 900)


def test_sentence() -> None:
    got = S.segment(SPEECH, "sentence")
    assert texts(got) == ["There's a red bus, and a man with an umbrella", "It is raining",
                          "Maybe evening"]
    assert [(s.start_ms, s.end_ms) for s in got] == [(0, 2600), (3500, 4200), (4300, 5100)]


def test_phrase_default_breaks() -> None:
    got = S.segment(SPEECH)  # phrase is the default
    assert texts(got) == ["There's a red bus", "a man", "an umbrella", "It is raining",
                          "Maybe evening"]
    assert (got[1].start_ms, got[1].end_ms) == (1300, 1700)  # "and" is not part of it


def test_phrase_custom_breaks_and_case() -> None:
    t = transcript(("A", 0, 1), ("cat", 1, 2), ("AND", 2, 3), ("a", 3, 4), ("dog", 4, 5))
    assert texts(S.phrase_segments(t)) == ["A cat", "a dog"]
    assert texts(S.phrase_segments(t, breaks=())) == ["A cat AND a dog"]


def test_window() -> None:
    got = S.segment(SPEECH, "window", window_ms=2000)
    assert [(s.start_ms, s.end_ms) for s in got] == [(0, 2000), (2000, 4000), (4000, 6000)]
    # words go to the window holding their midpoint: "an" (1900-2000) is in the first
    assert texts(got)[0] == "There's a red bus, and a man with an"
    assert texts(got)[1] == "umbrella. It is raining"


def test_window_skips_empty_windows() -> None:
    t = transcript(("one", 0, 100), ("two", 9000, 9100))
    got = S.window_segments(t, window_ms=1000)
    assert [(s.text, s.start_ms) for s in got] == [("one", 0), ("two", 9000)]


@pytest.mark.parametrize("name", sorted(S.SEGMENTERS))
def test_empty_and_punctuation_only(name: str) -> None:
    assert S.segment(Transcript(()), name) == []
    assert S.segment(transcript((",", 0, 10), ("...", 10, 20)), name) == []


def test_whisper_style_leading_spaces() -> None:
    t = transcript((" A", 0, 1), (" dog.", 1, 2))
    assert texts(S.segment(t, "sentence")) == ["A dog"]


def test_registry() -> None:
    assert {"word", "phrase", "sentence", "window"} <= set(S.SEGMENTERS)
    with pytest.raises(ValueError, match=r"unknown segmenter 'clause'; known segmenters: word"):
        S.segment(SPEECH, "clause")
    with pytest.raises(ValueError, match="already registered"):
        S.register("word")(S.word_segments)
    with pytest.raises(TypeError, match="Transcript"):
        S.segment("a dog", "word")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_ms"):
        S.segment(SPEECH, "window", window_ms=0)
