"""ReplayTracker (a recording through the Tracker protocol) and ``vista replay``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from vista.acquisition.replay import ReplayTracker, validation_from_messages
from vista.acquisition.tracker import Tracker
from vista.cli import cli
from vista.gaze.asc import AscWriter
from vista.records import Message


class FakeClock:
    """Wall time that moves only when the replay sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "run.asc"
    with AscWriter(path) as w:
        w.display_coords(900, 0, 0, 1919, 1079)
        w.message(950, "!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.52 avg. 1.10 max "
                       "OFFSET 0.3 deg. 5.1,2.0 pix.")
        w.message(960, "DRIFTCORRECT R RIGHT at 960,540 OFFSET 0.31 deg. 12.0,3.1 pix.")
        w.start(1000, eyes="R", rate_hz=1000)
        w.message(1000, "TRIALID 1")
        for t in range(1000, 2000):
            w.sample(t, 500.0 + (t >= 1500) * 300, 400.0, 1000.0)
            if t == 1400:
                w.fixation("R", 1010, 1400, 500.0, 400.0, 1000)
            if t == 1450:
                w.blink("R", 1420, 1450)
        w.fixation("R", 1500, 1990, 800.0, 400.0, 1000)
        w.message(1995, "TRIAL_RESULT 0")
        w.end(1999)
    return path


def test_is_a_tracker(recording: Path) -> None:
    assert isinstance(ReplayTracker(recording), Tracker)


def test_paced_events_at_ten_times_speed(recording: Path) -> None:
    clock = FakeClock()
    tracker = ReplayTracker(recording, speed=10, clock=clock, sleep=clock.sleep)
    tracker.connect()
    assert tracker.tracker_time_ms() == 900.0
    seen = []
    for ev in tracker.events(kinds=("message", "fixation", "blink")):
        seen.append((ev.kind, ev.time_ms, tracker.tracker_time_ms()))
    kinds = [k for k, _, _ in seen]
    assert kinds == ["message"] * 4 + ["fixation", "blink", "fixation", "message"]
    for _, t_event, t_clock in seen:
        assert t_clock == pytest.approx(t_event)  # yielded when the clock reaches it
    # 1095 ms of recording at 10x: 109.5 ms of wall time slept in all
    assert sum(clock.slept) == pytest.approx(0.1095)
    fix = [ev for ev in ReplayTracker(recording, speed=math.inf).events()
           if ev.kind == "fixation"]
    assert [(f.start_ms, f.end_ms, f.x, f.eye) for f in fix] == [
        (1010, 1400, 500.0, "R"), (1500, 1990, 800.0, "R")]


def test_infinite_speed_never_sleeps(recording: Path) -> None:
    def no_sleep(_: float) -> None:
        raise AssertionError("slept")

    tracker = ReplayTracker(recording, speed=math.inf, sleep=no_sleep)
    events = list(tracker.events(kinds=("message", "fixation", "saccade", "blink")))
    assert len(events) == 8 and tracker.tracker_time_ms() == 1995.0
    tracker.advance(5)
    assert tracker.tracker_time_ms() == 2000.0


def test_real_time_pace(recording: Path) -> None:
    """At 1x the clock follows wall time (checked with the fake clock, no waiting)."""
    clock = FakeClock()
    tracker = ReplayTracker(recording, clock=clock, sleep=clock.sleep)
    tracker.connect()
    clock.now += 0.25
    assert tracker.tracker_time_ms() == pytest.approx(1150.0)
    first_fix = next(e for e in tracker.events(kinds=("fixation",)))
    assert first_fix.end_ms == 1400 and clock.now == pytest.approx(100.5)


def test_protocol_methods(recording: Path, tmp_path: Path) -> None:
    clock = FakeClock()
    tracker = ReplayTracker(recording, speed=1, clock=clock, sleep=clock.sleep)
    tracker.connect()
    assert tracker.calibrate() == {"avg_error_deg": 0.52, "max_error_deg": 1.1}
    assert tracker.drift_check(960, 540) == 0.31
    assert math.isnan(tracker.drift_check(960, 540))
    tracker.open_data_file("vista1")
    assert tracker.newest_sample() is None  # not recording
    tracker.start_recording()
    clock.now += 0.6105  # tracker time 1510.5
    s = tracker.newest_sample()
    assert s is not None and (s.time_ms, s.x, s.y) == (1510.0, 800.0, 400.0)
    tracker.send_message("TRIALID 2")
    (sent,) = tracker.sent_messages
    assert sent.text == "TRIALID 2" and sent.time_ms == pytest.approx(1510.5)
    tracker.stop_recording()
    tracker.close_data_file()
    out = tracker.receive_data_file(tmp_path / "copy.edf")
    assert out == tmp_path / "copy.asc"  # the copy keeps the recording's own suffix
    assert out.read_bytes() == recording.read_bytes()
    (tmp_path / "dest").mkdir()
    assert tracker.receive_data_file(tmp_path / "dest") == tmp_path / "dest" / "run.asc"
    with pytest.raises(FileExistsError, match="never overwrites"):
        tracker.receive_data_file(tmp_path / "copy.asc")
    tracker.close()
    tracker.close()


def test_sleep(recording: Path) -> None:
    clock = FakeClock()
    paced = ReplayTracker(recording, speed=4, clock=clock, sleep=clock.sleep)
    paced.sleep(100)
    assert clock.slept == [0.025]
    fast = ReplayTracker(recording, speed=math.inf)
    fast.connect()
    fast.sleep(250)
    assert fast.tracker_time_ms() == 1150.0
    with pytest.raises(ValueError, match="ms must be between 0 and"):
        fast.sleep(-1)


def test_session_runs_on_a_replay(recording: Path, tmp_path: Path) -> None:
    """The acquisition layer's session loop, end to end, with the replay as its tracker."""
    from PIL import Image

    from vista.acquisition.session import run_session
    from vista.records import Screen

    images = tmp_path / "stim"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 48), (80 * i, 0, 0)).save(images / f"{i}.png")
    tracker = ReplayTracker(recording, speed=math.inf)
    summary = run_session(images, participant="P01", screen=Screen(1920, 1080, 531, 299, 700),
                          tracker=tracker, out=tmp_path / "session", time_limit_s=0.3,
                          display=False)
    assert summary.status == "complete" and summary.completed == 2
    sent = [m.text.split()[0] for m in tracker.sent_messages]
    assert sent.count("TRIALID") == 2 and sent.count("TRIAL_RESULT") == 2
    starts = [m.time_ms for m in tracker.sent_messages if m.text == "SYNCTIME"]
    ends = [m.time_ms for m in tracker.sent_messages if m.text.startswith("TRIAL_RESULT")]
    assert [e - s for s, e in zip(starts, ends, strict=True)] == [300.0, 300.0]
    assert (tmp_path / "session" / "recording.asc").read_bytes() == recording.read_bytes()
    meta = json.loads((tmp_path / "session" / "session.json").read_text())
    assert meta["tracker"]["kind"] == "replay"
    assert meta["calibration"] == {"avg_error_deg": 0.52, "max_error_deg": 1.1}


def test_newest_sample_from_fixations_without_samples(recording: Path) -> None:
    tracker = ReplayTracker(recording, speed=math.inf, samples=False)
    tracker.connect()
    tracker.start_recording()
    tracker.advance(200)  # 1100: inside the first fixation
    s = tracker.newest_sample()
    assert s is not None and (s.x, s.y) == (500.0, 400.0)
    tracker.advance(350)  # 1450: between fixations
    assert tracker.newest_sample() is None


def test_validation_without_messages() -> None:
    v = validation_from_messages([Message(1, "hello")])
    assert math.isnan(v["avg_error_deg"]) and math.isnan(v["max_error_deg"])
    both = validation_from_messages([
        Message(10, "!CAL VALIDATION HV9 L LEFT GOOD ERROR 0.40 avg. 0.90 max"),
        Message(10, "!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.60 avg. 0.80 max"),
    ])
    assert both == {"avg_error_deg": 0.6, "max_error_deg": 0.9}


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    pytest.param({"speed": 0}, ValueError, r"speed must be between 0.001 and 1e\+06 or inf", id="speed-zero"),
    pytest.param({"speed": "fast"}, TypeError, "speed must be a number", id="speed-text"),
])
def test_errors(recording: Path, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        ReplayTracker(recording, **kwargs)
    with pytest.raises(TypeError, match="path or a Recording"):
        ReplayTracker(42)
    with pytest.raises(ValueError, match="kinds must be one of"):
        list(ReplayTracker(recording).events(kinds=("sample",)))


# ---------------------------------------------------------------- CLI


def test_cli_summary(recording: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(recording)])
    assert result.exit_code == 0, result.output
    assert "eyes R, 1000 Hz, display 0 0 1919 1079" in result.output
    assert "2 fixations" in result.output and "1 trials" in result.output
    result = CliRunner().invoke(cli, ["replay", str(recording), "--json"])
    info = json.loads(result.output)
    assert info["trials"][0]["trial_id"] == "1" and info["trials"][0]["fixations"] == 2


def test_cli_emit(recording: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(recording), "--emit", "--speed", "inf",
                                      "--json", "--kinds", "fixation"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.output.splitlines()]
    assert [x["end_ms"] for x in lines] == [1400, 1990]
    result = CliRunner().invoke(cli, ["replay", str(recording), "--emit", "--speed", "inf"])
    assert "message   TRIALID 1" in result.output
    assert "fixation  R 1010-1400 at (500.0, 400.0)" in result.output


def test_cli_emit_json_is_strict_json(tmp_path: Path) -> None:
    """A fixation without a position (``.`` in the ASC) gives a JSON line without x
    and y, not the ``NaN`` token that strict JSON readers (jq, JavaScript) reject."""
    path = tmp_path / "r.asc"
    path.write_text("START 1000 RIGHT SAMPLES EVENTS\nSFIX R 1010\n"
                    "EFIX R 1010 1400 391 . . 0\nEFIX R 1500 1600 101 500.0 400.0 900\n"
                    "END 1700 SAMPLES EVENTS RES 38.00 31.00\n")
    result = CliRunner().invoke(cli, ["replay", str(path), "--emit", "--speed", "inf",
                                      "--json", "--kinds", "fixation"])
    assert result.exit_code == 0, result.output

    def strict(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    lines = [json.loads(x, parse_constant=strict) for x in result.output.splitlines()]
    assert [("x" in x, x["end_ms"]) for x in lines] == [(False, 1400), (True, 1600)]


def test_cli_errors(recording: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(recording), "--emit", "--kinds", "x"])
    assert result.exit_code == 2 and "--kinds" in result.output
    result = CliRunner().invoke(cli, ["replay", str(recording), "--emit", "--speed", "0"])
    assert result.exit_code == 2 and "--speed" in result.output
    bad = tmp_path / "bad.asc"
    bad.write_text("EFIX R 1 2\n")
    result = CliRunner().invoke(cli, ["replay", str(bad)])
    assert result.exit_code == 1 and f"{bad}:1: malformed EFIX" in result.output


def test_cli_on_shipped_edf() -> None:
    eyelinkio = pytest.importorskip("eyelinkio", reason="needs the eyelink extra")
    path = Path(eyelinkio.__file__).parent / "tests" / "data" / "test_raw.edf"
    result = CliRunner().invoke(cli, ["replay", str(path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["eyes"] == "L" and info["fixations"] == 21 and len(info["trials"]) == 20
    result = CliRunner().invoke(cli, ["replay", str(path), "--emit", "--speed", "inf",
                                      "--kinds", "fixation", "--json"])
    assert len(result.output.splitlines()) == 21
