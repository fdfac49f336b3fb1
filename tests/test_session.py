"""The session loop: a full simulated session, the folder format, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vista.acquisition.session import run_session
from vista.cli import cli
from vista.gaze.session_reader import read_journal
from vista.records import Screen, Transcript

SCREEN = Screen(1280, 720, 531.0, 298.7, 700.0)
SESSION_KEYS = {"format", "version", "vista_version", "participant", "created", "tracker",
                "screen", "calibration", "recording", "images_dir", "status"}
TRIAL_KEYS = {"trial_id", "image", "image_size", "placement", "start_ms", "end_ms", "audio",
              "audio_start_ms", "audio_latency_ms", "audio_overflows", "transcript",
              "drift_error_deg"}


def _images(folder: Path, n: int = 3) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = np.full((240, 320, 3), 170, np.uint8)
        arr[30 + 20 * i: 90 + 20 * i, 200:280] = (200, 40, 40)
        Image.fromarray(arr).save(folder / f"img{i}.png")
    (folder / "img0.scene.json").write_text(json.dumps({"regions": [
        {"phrase": "a red block", "box": [200, 30, 280, 90], "start_s": 2.0, "end_s": 4.0},
        {"phrase": "the empty corner", "point": [40, 200]},
    ]}))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _check_session_folder(root: Path, n_trials: int) -> tuple[dict, list[dict]]:
    """The folder follows the session format (README, *The session folder*)."""
    meta = json.loads((root / "session.json").read_text())
    assert SESSION_KEYS <= set(meta)
    assert meta["format"] == "vista-session" and meta["version"] == 1
    assert meta["status"] == "complete"
    assert set(meta["screen"]) == {"width_px", "height_px", "width_mm", "height_mm", "distance_mm"}
    assert meta["tracker"]["kind"] == "simulated"
    assert set(meta["calibration"]) == {"avg_error_deg", "max_error_deg"}
    assert (root / meta["recording"]).is_file()
    for rec in meta["recordings"]:
        assert rec["received"] and (root / rec["file"]).is_file()
    lines = (root / "trials.jsonl").read_text().splitlines()
    trials = [json.loads(line) for line in lines]
    assert len(trials) == n_trials
    for t in trials:
        assert TRIAL_KEYS <= set(t)
        assert t["end_ms"] > t["start_ms"]
        assert Path(t["image"]).is_absolute()
        transcript = Transcript.from_dict(json.loads((root / t["transcript"]).read_text()))
        assert transcript.source == "simulated"
        assert all(t["start_ms"] <= w.start_ms <= w.end_ms <= t["end_ms"] for w in transcript.words)
        assert (root / t["recording"]).is_file()
    return meta, trials


def test_full_simulated_session(tmp_path) -> None:
    from vista.gaze.io import read_recording

    images = _images(tmp_path / "stim")
    out = tmp_path / "sessions" / "P01"
    seen = []
    summary = run_session(images, participant="P01", screen=SCREEN, out=out, rng=5, speed=None,
                          tracker="simulated",
                          time_limit_s=8.0, on_trial=seen.append)
    assert summary.status == "complete" and summary.completed == summary.total == 3
    assert [e["trial_id"] for e in seen] == ["1", "2", "3"]
    meta, trials = _check_session_folder(out, 3)
    assert [Path(t["image"]).name for t in trials] == ["img0.png", "img1.png", "img2.png"]
    # 320x240 on 1280x720: scaled by 3 to 960x720, centred
    assert trials[0]["placement"] == {"left": 160.0, "top": 0.0, "width": 960.0, "height": 720.0}
    assert trials[0]["image_size"] == [240, 320]
    words = Transcript.from_dict(json.loads((out / trials[0]["transcript"]).read_text())).text
    assert words == "a red block, the empty corner."

    rec = read_recording(out / meta["recording"])
    by_id = {t.trial_id: t for t in rec.trials}
    assert list(by_id) == ["1", "2", "3"]
    for t in trials:
        r = by_id[t["trial_id"]]
        texts = [m.text.split()[0] for m in r.messages]
        for needed in ("TRIALID", "!V", "DISPLAY_COORDS", "SYNCTIME", "TRIAL_RESULT"):
            assert needed in texts
        assert any(m.text.startswith("!V IMGLOAD CENTER") for m in r.messages)
        assert r.placement is not None and r.placement.to_dict() == t["placement"]
        assert r.image_path == t["image"]
        inside = r.fixations.select((r.fixations.starts_ms >= t["start_ms"])
                                    & (r.fixations.starts_ms < t["end_ms"]))
        assert len(inside) >= 5
    # the first image's scene file has "a red block" spoken 2-4 s after onset; with
    # an eye-voice lead of 0.5-1 s the gaze is on it from 1.5 to 3 s at least
    onset = trials[0]["start_ms"]
    f = by_id["1"].fixations
    mid = (f.starts_ms + f.ends_ms) / 2 - onset
    during = (mid > 1600) & (mid < 2900)
    x_img = (f.xs[during] - 160) / 3
    y_img = f.ys[during] / 3
    assert during.sum() >= 2
    assert np.mean((x_img > 170) & (x_img < 310) & (y_img > 0) & (y_img < 120)) >= 0.6


def test_resume_needs_the_same_screen(tmp_path) -> None:
    images = _images(tmp_path / "stim", n=2)
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        run_session(images, participant="P01", screen=SCREEN, tracker="simulated", out=out, time_limit_s=1,
                    on_trial=lambda e: (_ for _ in ()).throw(KeyboardInterrupt))
    other = Screen(1920, 1080, 531.0, 298.7, 700.0)
    with pytest.raises(ValueError, match="width_px"):
        run_session(images, participant="P01", screen=other, out=out, resume=True)
    with pytest.raises(ValueError, match="simulated tracker"):
        run_session(images, participant="P01", screen=SCREEN, out=out, resume=True,
                    tracker="dummy")


def test_session_never_overwritten(tmp_path) -> None:
    images = _images(tmp_path / "stim", n=1)
    out = tmp_path / "s"
    run_session(images, participant="P01", screen=SCREEN, tracker="simulated", out=out, speed=None, time_limit_s=1)
    before = (out / "trials.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="never overwrites"):
        run_session(images, participant="P01", screen=SCREEN, tracker="simulated", out=out, speed=None)
    with pytest.raises(FileExistsError, match="already complete"):
        run_session(images, participant="P01", screen=SCREEN, out=out, speed=None, resume=True)
    assert (out / "trials.jsonl").read_bytes() == before


def test_default_folder_and_resume_lookup(tmp_path) -> None:
    images = _images(tmp_path / "stim", n=2)

    def stop_after_first(entry):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_session(images, participant="P07", screen=SCREEN, tracker="simulated", root=tmp_path / "sessions",
                    speed=None, time_limit_s=1, on_trial=stop_after_first)
    (folder,) = (tmp_path / "sessions").iterdir()
    assert folder.name.startswith("P07-") and len(folder.name) == len("P07-20260101-120000")
    summary = run_session(None, participant="P07", screen=SCREEN,  # type: ignore[arg-type]
                          root=tmp_path / "sessions", speed=None, time_limit_s=1, resume=True)
    assert summary.path == folder and summary.status == "complete" and summary.ran == 1


def test_resume_after_interruption(tmp_path) -> None:
    """Interrupted after 2 of 5 trials: resume runs 3 more in a second data file; the
    first part is recovered from the tracker; no trial lost or duplicated."""
    from vista.gaze.io import read_recording

    images = _images(tmp_path / "stim", n=5)
    out = tmp_path / "s"
    count = []

    def crash(entry):
        count.append(entry)
        if len(count) == 2:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        run_session(images, participant="P02", screen=SCREEN, tracker="simulated", out=out, speed=None,
                    time_limit_s=2, on_trial=crash, rng=1)
    assert [t["trial_id"] for t in read_journal(out / "trials.jsonl")] == ["1", "2"]
    summary = run_session(images, participant="P02", screen=SCREEN, out=out, speed=None,
                          time_limit_s=2, resume=True, rng=2)
    assert summary.ran == 3 and summary.status == "complete"
    meta, trials = _check_session_folder(out, 5)
    assert [t["trial_id"] for t in trials] == ["1", "2", "3", "4", "5"]
    files = [r["file"] for r in meta["recordings"]]
    assert files == ["recording.asc", "recording-2.asc"]
    assert meta["recordings"][0].get("recovered") is True
    assert [t["recording"] for t in trials] == ["recording.asc"] * 2 + ["recording-2.asc"] * 3
    ids = []
    for f in files:
        ids += [t.trial_id for t in read_recording(out / f).trials]
    assert ids == ["1", "2", "3", "4", "5"]
    # the second part's clock continues after the first part's
    assert trials[2]["start_ms"] > trials[1]["end_ms"]
    # the maps side reads each trial's gaze from the part it was recorded in
    from vista.gaze.session_reader import read_session

    session = read_session(out)
    assert [t.trial_id for t in session.trials] == ["1", "2", "3", "4", "5"]
    assert all(len(t.fixations) > 0 for t in session.trials)


def test_torn_journal_line_is_not_a_trial(tmp_path) -> None:
    p = tmp_path / "trials.jsonl"
    p.write_bytes(b'{"trial_id": "1"}\n{"trial_id": "2", "ima')
    assert [t["trial_id"] for t in read_journal(p)] == ["1"]
    assert p.read_bytes().endswith(b"ima")  # read-only by default
    read_journal(p, repair=True)
    assert p.read_bytes() == b'{"trial_id": "1"}\n'


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param(dict(participant="P 1"), ValueError, "participant", id="participant"),
        pytest.param(dict(time_limit_s=0), ValueError, "time_limit_s", id="time-limit"),
        pytest.param(dict(order="random"), ValueError, "order must be one of", id="order"),
        pytest.param(dict(tracker="tobii"), ValueError, "tracker must be one of", id="tracker"),
        pytest.param(dict(images="missing"), FileNotFoundError, "images folder", id="no-folder"),
    ],
)
def test_run_session_errors(tmp_path, kwargs, error, message) -> None:
    images = _images(tmp_path / "stim", n=1)
    args = dict(images=images, participant="P01", screen=SCREEN, out=tmp_path / "s", speed=None,
                tracker="simulated")
    args.update(kwargs)
    if args["images"] == "missing":
        args["images"] = tmp_path / "missing"
    with pytest.raises(error, match=message):
        run_session(args.pop("images"), **args)


def test_cli_record(tmp_path) -> None:
    images = _images(tmp_path / "stim", n=2)
    out = tmp_path / "s"
    res = CliRunner().invoke(cli, ["record", "--participant", "P03", "--images", str(images),
                                   "--simulate", "--out", str(out), "--seed", "4",
                                   "--speed", "1000", "--screen-px", "1280", "720"])
    assert res.exit_code == 0, res.output
    assert "2/2 trials" in res.output and "status complete" in res.output
    _check_session_folder(out, 2)
    res = CliRunner().invoke(cli, ["record", "--participant", "P03", "--images", str(images),
                                   "--simulate", "--out", str(out)])
    assert res.exit_code == 1 and "never overwrites" in res.output
    res = CliRunner().invoke(cli, ["record", "--participant", "P03", "--simulate"])
    assert res.exit_code == 2 and "--images" in res.output


def test_cli_record_warns_about_audio_overflows(tmp_path, monkeypatch) -> None:
    """A trial whose microphone input overflowed (samples lost) is flagged as it ends."""
    import types

    import vista.acquisition.session as session_module

    def fake_run_session(images, *, on_trial, **kwargs):
        for k, overflows in enumerate((0, 3), 1):
            on_trial({"trial_id": str(k), "image": f"img{k}.png", "start_ms": 0.0,
                      "end_ms": 2000.0, "ended_by": "space", "audio_overflows": overflows})
        return types.SimpleNamespace(path=tmp_path, completed=2, total=2, ran=2,
                                     status="complete", recordings=["recording.edf"])

    monkeypatch.setattr(session_module, "run_session", fake_run_session)
    res = CliRunner().invoke(cli, ["record", "--participant", "P09", "--images",
                                   str(tmp_path), "--simulate"])
    assert res.exit_code == 0, res.output
    warnings = [line for line in res.output.splitlines() if "overflowed" in line]
    assert len(warnings) == 1 and "3 time(s)" in warnings[0]


def _journal_ids(path: Path) -> list[str]:
    return [t["trial_id"] for t in read_journal(path)] if path.exists() else []


def test_sigkill_then_resume(tmp_path) -> None:
    """A `vista record` killed with SIGKILL after 2 of 5 trials; `--resume` completes it
    with each trial exactly once."""
    images = _images(tmp_path / "stim", n=5)
    out = tmp_path / "s"
    base = [sys.executable, "-m", "vista", "record", "--participant", "P04", "--images",
            str(images), "--simulate", "--out", str(out), "--screen-px", "1280", "720"]
    cmd = [*base, "--speed", "50", "--seed", "1", "--time-limit-s", "5", "--inter-trial-s", "0.4"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while len(_journal_ids(out / "trials.jsonl")) < 2:
            assert proc.poll() is None, "the session ended before it could be killed"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done = _journal_ids(out / "trials.jsonl")
    assert 2 <= len(done) < 5
    assert json.loads((out / "session.json").read_text())["status"] == "recording"
    base.remove("--simulate")  # resume takes the kind the session was recorded with
    res = subprocess.run([*base, "--resume"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    meta, trials = _check_session_folder(out, 5)
    assert [t["trial_id"] for t in trials] == ["1", "2", "3", "4", "5"]
    assert len(meta["recordings"]) == 2


@pytest.mark.skipif("maps" not in cli.commands, reason="vista maps is not available")
def test_maps_mass_near_simulated_regions(tmp_path) -> None:
    """The full chain, no hardware: `vista record --simulate` then `vista maps`: each
    phrase's map has most of its mass near the region the phrase names."""
    images = _images(tmp_path / "stim", n=1)
    out = tmp_path / "s"
    runner = CliRunner()
    res = runner.invoke(cli, ["record", "--participant", "P05", "--images", str(images),
                              "--simulate", "--out", str(out), "--seed", "11", "--speed", "1000",
                              "--screen-px", "1280", "720", "--time-limit-s", "12"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["maps", str(out), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    from vista.dataset import read_dataset

    ds = read_dataset(tmp_path / "ds")
    by_text = {t.text: ds.load_map(t) for t in ds}
    assert "a red block" in by_text
    m = by_text["a red block"]
    assert m.shape == (240, 320)
    # the block is x 200-280, y 30-90; with a ~1 degree KDE around it
    near = m[0:130, 160:320].sum()
    assert near > 0.5, near


@pytest.mark.audio
@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_simulated_session_with_tts_audio(tmp_path) -> None:
    """--audio tts: the simulated participant's phrases spoken by espeak-ng stream through
    the audio recorder; AUDIO_START is in the recording and the WAV covers the words."""
    from vista.acquisition.audio import read_wav
    from vista.gaze.io import read_recording

    images = _images(tmp_path / "stim", n=1)
    out = tmp_path / "s"
    run_session(images, participant="A1", screen=SCREEN, tracker="simulated", out=out, audio="tts", rng=3,
                time_limit_s=8)
    (entry,) = read_journal(out / "trials.jsonl")
    assert entry["audio"] == "audio/1.wav" and entry["transcript"] is None
    assert abs(entry["audio_start_ms"] - entry["start_ms"]) < 50
    samples, rate = read_wav(out / entry["audio"])
    words = json.loads((out / entry["simulated_transcript"]).read_text())["words"]
    assert samples.shape[0] / rate * 1000 >= words[-1]["end_ms"] - entry["audio_start_ms"] - 500
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["1.wav"]
    rec = read_recording(out / "recording.asc")
    assert any(m.text.startswith("AUDIO_START ") for m in rec.trials[0].messages)


def test_failed_connection_leaves_no_session(tmp_path) -> None:
    from vista.acquisition.simulate import SimulatedTracker

    class Unplugged(SimulatedTracker):
        def connect(self) -> None:
            raise ConnectionError("no tracker")

    images = _images(tmp_path / "stim", n=1)
    with pytest.raises(ConnectionError):
        run_session(images, participant="P01", screen=SCREEN, out=tmp_path / "s",
                    tracker=Unplugged(SCREEN))
    assert not (tmp_path / "s").exists()
    summary = run_session(images, participant="P01", screen=SCREEN, tracker="simulated", out=tmp_path / "s",
                          time_limit_s=1)
    assert summary.status == "complete"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param(dict(speed=float("nan")), ValueError, r"speed must be .* \[0.001, 1e\+06\]",
                     id="speed-nan"),
        pytest.param(dict(speed=1e-9), ValueError, "speed", id="speed-tiny"),
        pytest.param(dict(time_limit_s=1e9), ValueError, "time_limit_s", id="time-limit-huge"),
        pytest.param(dict(inter_trial_s=-1), ValueError, "inter_trial_s", id="inter-trial"),
        pytest.param(dict(end_keys=()), ValueError, "end_keys", id="no-end-key"),
        pytest.param(dict(display="yes"), TypeError, "display", id="display"),
        pytest.param(dict(images=None), ValueError, "images is required", id="no-images"),
        pytest.param(dict(audio="a\tb.wav"), ValueError, "audio .* holds a tab", id="audio-tab"),
        pytest.param(dict(resume="yes"), TypeError, "resume", id="resume-str"),
        pytest.param(dict(screen=(1920, 1080)), TypeError, "Screen record", id="screen"),
    ],
)
def test_session_config_checks_values(tmp_path, kwargs, error, message) -> None:
    from vista.acquisition.session import SessionConfig

    args = dict(participant="P01", screen=SCREEN, images=tmp_path, tracker="simulated")
    args.update(kwargs)
    with pytest.raises(error, match=message):
        SessionConfig(**args)


def test_session_speed_range_is_the_trackers(tmp_path) -> None:
    """A session accepts every pace the trackers accept, and nothing else."""
    from vista.acquisition.session import SessionConfig
    from vista.acquisition.tracker import SPEED_RANGE, check_speed

    args = dict(participant="P01", screen=SCREEN, images=tmp_path, tracker="simulated")
    for speed in (*SPEED_RANGE, 0.005, 5e4):
        assert SessionConfig(**args, speed=speed).speed == check_speed(speed)
    for speed in (SPEED_RANGE[0] / 2, SPEED_RANGE[1] * 2):
        with pytest.raises(ValueError, match="speed"):
            SessionConfig(**args, speed=speed)
        with pytest.raises(ValueError, match="speed"):
            check_speed(speed)


def test_session_config_run(tmp_path) -> None:
    """The typed form: a frozen SessionConfig and one call; options beside a config
    are refused rather than silently preferred to it."""
    import dataclasses

    from vista.acquisition.session import SessionConfig

    images = _images(tmp_path / "stim", n=2)
    config = SessionConfig(participant="P01", screen=SCREEN, images=images,
                           tracker="simulated", out=tmp_path / "s", time_limit_s=1, rng=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.speed = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="time_limit_s"):
        run_session(config, time_limit_s=3)
    summary = run_session(config)
    assert summary.status == "complete" and summary.completed == 2
    _check_session_folder(tmp_path / "s", 2)


def test_default_tracker_is_the_eyelink(tmp_path, monkeypatch) -> None:
    """A new session with no tracker named uses the EyeLink, in the library as in the
    CLI (simulated gaze is never recorded by omission); a failure to make it leaves
    no session folder."""
    import vista.acquisition.session as session_module

    pytest.importorskip("pylink", reason="without pylink the default stops at its extra")
    made = []

    def fake_make_tracker(kind, *args, **kwargs):
        made.append(kind)
        raise ConnectionError("no Host PC here")

    monkeypatch.setattr(session_module, "make_tracker", fake_make_tracker)
    images = _images(tmp_path / "stim", n=1)
    with pytest.raises(ConnectionError):
        run_session(session_module.SessionConfig(participant="P01", screen=SCREEN,
                                                 images=images, out=tmp_path / "a"))
    res = CliRunner().invoke(cli, ["record", "--participant", "P01", "--images", str(images),
                                   "--out", str(tmp_path / "b"), "--no-display"])
    assert res.exit_code != 0
    assert made == ["eyelink", "eyelink"]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
