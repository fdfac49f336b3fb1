"""vista lag: the eye-voice span estimated from fixations around naming onsets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vista.gaze.areas import InterestArea
from vista.gaze.lag import NamingEvent, eye_voice_lag, naming_events
from vista.records import Fixations, Screen, Transcript, Word

DEMO = Path(__file__).resolve().parents[1] / "vista" / "data" / "demo" / "images"
BOX = InterestArea("a red car", "rectangle", ((100, 100), (200, 200)))


def _event(onset: float, arrive: float, leave: float, participant: str = "P1") -> NamingEvent:
    """Fixations of 100 ms covering onset-3 s .. onset+1 s; inside the region from
    ``arrive`` to ``leave`` (relative to the onset)."""
    starts = np.arange(onset - 3000, onset + 1000, 100.0)
    rel = starts - onset
    inside = (rel >= arrive) & (rel < leave)
    return NamingEvent(onset, onset + 600, starts, starts + 100, inside, "a red car", participant)


def test_a_step_curve_by_hand() -> None:
    """Gaze inside from -800 to +200 ms around every onset: the curve is 0 then 1 then
    0; the half-rise (span) is at -800 ms. Any 800 ms inside [-800, 200] holds 80% of
    the in-region time, and the first such window is taken; all of it needs share=1."""
    events = [_event(10_000.0 * k, -800, 200) for k in range(5)]
    r = eye_voice_lag(events, smooth_ms=10, n_boot=50, rng=0)
    t = r.times_ms
    assert np.all(r.curve[(t > -790) & (t < 190)] == 1.0)
    assert np.all(r.curve[(t < -810) | (t > 210)] == 0.0)
    assert r.baseline == 0.0 and r.peak == 1.0
    assert r.span_ms == pytest.approx(-800, abs=10)
    assert r.window_ms == pytest.approx((-800, 0), abs=10)
    whole = eye_voice_lag(events, smooth_ms=10, share=1.0, n_boot=5, rng=0)
    assert whole.window_ms == pytest.approx((-800, 200), abs=10)
    assert r.suggested_lead_ms == 800
    # the lag is measured from the phrase end (onset + 600): 200 - 600 < 0 -> 0
    assert r.suggested_lag_ms == 0
    assert r.span_interval == pytest.approx((-800, -800), abs=10)


def test_the_span_follows_the_arrival_and_bands_cover_the_curve() -> None:
    rng = np.random.default_rng(1)
    events = [_event(10_000.0 * k, a, a + 900, participant=f"P{k % 3}")
              for k, a in enumerate(rng.uniform(-1200, -800, 40).round(-2))]
    r = eye_voice_lag(events, n_boot=200, rng=0)
    assert -1100 <= r.span_ms <= -900
    assert r.span_interval[0] <= r.span_ms <= r.span_interval[1]
    ok = ~np.isnan(r.curve)
    assert np.all(r.band_events[0][ok] <= r.curve[ok] + 1e-9)
    assert np.all(r.band_events[1][ok] >= r.curve[ok] - 1e-9)
    assert r.n_participants == 3 and not np.isnan(r.band_participants).all()
    assert json.loads(json.dumps(r.to_dict()))["n_events"] == 40


def test_naming_events_match_the_label_word_for_word() -> None:
    words = tuple(Word(t, s, s + 200) for t, s in [("Here", 0), ("A", 300), ("red", 500),
                                                     ("car,", 700), ("red", 900)])
    fix = Fixations(np.array([0.0, 400]), np.array([300.0, 800]), np.array([150.0, 10]),
                    np.array([150.0, 10]), np.array(["R", "R"]))
    events = naming_events(fix, Transcript(words), [BOX, InterestArea(
        "blue sky", "rectangle", ((0, 0), (5, 5)))], participant="P7", trial_id="3")
    assert len(events) == 1
    ev = events[0]
    assert (ev.onset_ms, ev.end_ms, ev.participant, ev.trial_id) == (300, 900, "P7", "3")
    assert ev.inside.tolist() == [True, False]
    assert naming_events(fix, None, [BOX]) == []


@pytest.mark.parametrize(
    "kwargs,message",
    [
        pytest.param({"window_ms": (100, -100)}, "window_ms", id="window"),
        pytest.param({"step_ms": 0}, "step_ms", id="step"),
        pytest.param({"share": 1.5}, "share", id="share"),
    ],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        eye_voice_lag([_event(0.0, -500, 0)], **kwargs)


def test_no_events_says_why() -> None:
    with pytest.raises(ValueError, match="no region label was found spoken"):
        eye_voice_lag([])


def _sessions(tmp_path: Path) -> list[Path]:
    from vista.acquisition.session import run_session

    images = tmp_path / "img"
    images.mkdir()
    for name in ("astronaut", "coins"):
        for suffix in (".jpg", ".scene.json"):
            shutil.copy(DEMO / f"{name}{suffix}", images)
    out = []
    for seed, who in ((3, "P01"), (4, "P02")):
        run_session(images, participant=who, screen=Screen(1920, 1080, 531, 299, 700),
                    out=tmp_path / who, rng=seed, speed=None, time_limit_s=12, display=False,
                    tracker="simulated")
        out.append(tmp_path / who)
    return out


def test_cli_on_simulated_sessions(tmp_path: Path) -> None:
    """Two simulated participants with the simulator's default lead (0.5-1 s): the span
    lies before the onset, and the report and figure are written."""
    from click.testing import CliRunner

    from vista.cli import cli

    sessions = _sessions(tmp_path)
    out = tmp_path / "lag"
    res = CliRunner().invoke(cli, ["lag", *map(str, sessions), "--n-boot", "100",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2 participant(s)" in res.output and "suggested: vista maps --lead-ms" in res.output
    report = json.loads((out / "lag.json").read_text())
    assert report["n_participants"] == 2 and report["n_events"] >= 6
    assert -1500 < report["span_ms"] < 0
    assert (out / "lag.png").stat().st_size > 0
    again = CliRunner().invoke(cli, ["lag", str(sessions[0]), "--out", str(out)])
    assert again.exit_code != 0 and "not an empty folder" in again.output
    missing = CliRunner().invoke(cli, ["lag", str(sessions[0]), "--regions", "nope.csv"])
    assert missing.exit_code != 0 and "nope.csv does not exist" in missing.output


@pytest.mark.slow
@pytest.mark.parametrize("median_ms", [600.0, 1200.0])
def test_recovers_the_planted_span_of_simulated_sessions(tmp_path: Path, median_ms: float) -> None:
    """Three simulated participants describe the eight demo images with a planted
    eye-voice span uniform in median ± 150 ms, timed to the eyes' arrival
    (``GazeModel(span_onset="arrival")``): the estimate is within ±100 ms of the
    planted median, for two different planted values."""
    from vista.acquisition.participant import GazeModel
    from vista.acquisition.session import run_session
    from vista.acquisition.simulate import SimulatedTracker
    from vista.gaze.lag import session_lag

    screen = Screen(1920, 1080, 531, 299, 700)
    sessions = []
    for p in range(3):
        model = GazeModel(span_ms=(median_ms - 150, median_ms + 150), span_onset="arrival")
        tracker = SimulatedTracker(screen, model=model, rng=p, data_dir=tmp_path / f".t{p}")
        run_session(DEMO, participant=f"P{p}", screen=screen, out=tmp_path / f"P{p}", rng=p,
                    speed=None, time_limit_s=12, display=False, tracker=tracker)
        sessions.append(tmp_path / f"P{p}")
    r = session_lag(sessions, n_boot=200, rng=0)
    assert r.n_participants == 3 and r.n_events >= 60
    assert abs(r.span_ms + median_ms) <= 100, (r.span_ms, median_ms)
    assert r.suggested_lead_ms > 0


def test_regions_from_a_csv_match_the_scene_files(tmp_path: Path) -> None:
    """The scene boxes written as a CSV of image, phrase, polygon (image pixels) give the
    same namings and the same curve as the scene files."""
    from vista.gaze.lag import session_lag

    sessions = _sessions(tmp_path)
    rows = ["image,phrase,polygon"]
    for name in ("astronaut", "coins"):
        scene = json.loads((DEMO / f"{name}.scene.json").read_text())
        for r in scene["regions"]:
            x0, y0, x1, y1 = r["box"]
            rows.append(f'{name}.jpg,"{r["phrase"]}","{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"')
    csv = tmp_path / "regions.csv"
    csv.write_text("\n".join(rows) + "\n")
    by_scene = session_lag(sessions, n_boot=20, rng=0)
    by_csv = session_lag(sessions, regions=csv, n_boot=20, rng=0)
    assert by_csv.n_events == by_scene.n_events > 0
    np.testing.assert_allclose(by_csv.curve, by_scene.curve, atol=0.02, equal_nan=True)
