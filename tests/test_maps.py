"""vista maps: session folders and recordings to a dataset folder of human maps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vista.cli import cli
from vista.dataset import read_dataset
from vista.gaze.asc import AscWriter
from vista.gaze.kde import density_map
from vista.gaze.maps import build_maps, trial_maps
from vista.gaze.session_reader import read_session
from vista.records import Fixations, Placement, Screen, Transcript, Trial, Word

SCREEN = Screen(1920, 1080, 531.0, 298.7, 700.0)
WORDS = [("a", 3000, 3200), ("red", 3200, 3500), ("bus,", 3500, 3900), ("and", 4000, 4200),
         ("a", 4200, 4300), ("man", 4300, 4800)]
# (start, end, screen x, screen y); image 1 sits at (760, 390), 400x300, scale 1
FIX_1 = [(1200, 1800, 860, 440), (2000, 2900, 1000, 600), (3000, 3600, 100, 100),
         (3700, 4500, 1100, 500)]
FIX_2 = [(11000, 11500, 960, 540), (12000, 12300, 300, 300)]


def make_session(root: Path, *, image_in_log: str | None = None) -> Path:
    """A session folder as vista record writes it: two trials, one with a transcript."""
    root.mkdir()
    stim = root.parent / "stim"
    stim.mkdir(exist_ok=True)
    img = stim / "bus.png"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(img)
    (root / "session.json").write_text(json.dumps({
        "format": "vista-session", "version": 1, "participant": "P01",
        "screen": SCREEN.to_dict(), "recording": "recording.asc", "status": "complete"}))
    image_text = image_in_log or str(img)
    trials = [
        {"trial_id": "1", "image": image_text, "image_size": [300, 400],
         "placement": {"left": 760.0, "top": 390.0, "width": 400.0, "height": 300.0},
         "start_ms": 1000.0, "end_ms": 9000.0, "transcript": "transcripts/1.json"},
        {"trial_id": "2", "image": image_text, "image_size": [300, 400],
         "placement": {"left": 560.0, "top": 240.0, "width": 800.0, "height": 600.0},
         "start_ms": 10000.0, "end_ms": 15000.0, "transcript": None},
    ]
    (root / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trials))
    (root / "transcripts").mkdir()
    transcript = Transcript(tuple(Word(*w) for w in WORDS), source="manual")
    (root / "transcripts" / "1.json").write_text(json.dumps(transcript.to_dict()))
    with AscWriter(root / "recording.asc") as w:
        w.display_coords(0, 0, 0, 1919, 1079)
        w.start(0, eyes="R", rate_hz=1000)
        for tid, t0, t1, fixes in (("1", 1000, 9000, FIX_1), ("2", 10000, 15000, FIX_2)):
            w.message(t0 - 5, f"TRIALID {tid}")
            w.message(t0, "SYNCTIME")
            for s, e, x, y in fixes:
                w.fixation("R", s, e, x, y, 900)
            w.message(t1, "TRIAL_RESULT 0")
        w.end(16000)
    return root


def test_read_session(tmp_path) -> None:
    s = read_session(make_session(tmp_path / "s"))
    assert s.participant == "P01" and s.screen == SCREEN and s.eyes == "R"
    assert [t.trial_id for t in s.trials] == ["1", "2"]
    assert len(s.trials[0].fixations) == 4 and len(s.trials[1].fixations) == 2
    assert s.trials[0].transcript is not None and s.trials[1].transcript is None
    assert s.trials[1].placement == Placement(560.0, 240.0, 800.0, 600.0)


def test_read_session_finds_transcripts_written_later(tmp_path) -> None:
    """`vista transcribe` writes transcripts/ID.json without rewriting the journal,
    whose `transcript` field stays null: the file is found all the same."""
    root = make_session(tmp_path / "s")
    src = root / "transcripts" / "1.json"
    (root / "transcripts" / "2.json").write_bytes(src.read_bytes())
    s = read_session(root)
    assert s.trials[1].transcript is not None
    assert s.trials[1].transcript.words == s.trials[0].transcript.words


@pytest.mark.parametrize(
    "line, message",
    [
        pytest.param('{"start_ms": 0}', r"trials.jsonl:2: journal line has no trial_id",
                     id="no-id"),
        pytest.param('{"trial_id": "3", "start_ms": "soon"}',
                     r"trials.jsonl:2: start_ms must be a tracker time", id="bad-time"),
        pytest.param('{"trial_id": "3", "placement": {"left": 0}}', "missing field 'top'",
                     id="bad-placement"),
        pytest.param("{oops", r"trials.jsonl:2: invalid JSON", id="bad-json"),
    ],
)
def test_read_session_bad_journal(tmp_path, line, message) -> None:
    from vista.errors import ParseError

    root = make_session(tmp_path / "s")
    first, second = (root / "trials.jsonl").read_text().splitlines()[:2]
    (root / "trials.jsonl").write_text(first + "\n" + line + "\n" + second + "\n")
    with pytest.raises(ParseError, match=message):
        read_session(root)


def test_read_session_ignores_a_torn_last_line(tmp_path) -> None:
    """A session killed while it wrote a trial line (what --resume repairs) reads as
    the trials it completed; a bad line that is not the torn last one is an error."""
    from vista.errors import ParseError

    root = make_session(tmp_path / "s")
    journal = root / "trials.jsonl"
    good = journal.read_text()
    journal.write_text(good + '{"trial_id": "3", "ima')
    assert [t.trial_id for t in read_session(root).trials] == ["1", "2"]
    journal.write_text('{"trial_id": "3", "ima\n' + good)
    with pytest.raises(ParseError, match=r"trials\.jsonl:1:"):
        read_session(root)


def test_read_session_missing_parts(tmp_path) -> None:
    root = make_session(tmp_path / "s")
    (root / "transcripts" / "1.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"trials.jsonl:1: transcript .*1.json"):
        read_session(root)
    (root / "recording.asc").unlink()
    with pytest.raises(FileNotFoundError, match="recording"):
        read_session(root)
    with pytest.raises(FileNotFoundError, match="not a session folder"):
        read_session(tmp_path)


def test_maps_on_a_session_folder(tmp_path) -> None:
    session = make_session(tmp_path / "s")
    out = tmp_path / "ds"
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "3 maps from 2 trials" in res.output
    ds = read_dataset(out)
    assert [t.triplet_id for t in ds] == ["P01-1-000", "P01-1-001", "P01-2-fv"]
    assert [t.text for t in ds] == ["a red bus", "a man", "bus"]

    # phrase "a red bus" (3000-3900 ms): window 1500-3900; fixation 3 is off the image
    t = ds["P01-1-000"]
    fix = ds.load_fixations(t)
    assert fix is not None
    np.testing.assert_allclose(fix, [[100, 50, 300], [240, 210, 900], [340, 110, 200]])
    assert t.meta["n_in_window"] == 4 and t.meta["n_dropped_off_image"] == 1
    assert t.meta["n_fixations"] == 3
    assert (t.meta["window_start_ms"], t.meta["window_end_ms"]) == (1500.0, 3900.0)
    assert t.meta["segment_text"] == "a red bus" and t.meta["participant"] == "P01"
    # sigma: 1 degree on this screen, image shown at its own size
    assert t.meta["sigma_px"] == pytest.approx(SCREEN.px_per_degree)
    m = ds.load_map(t)
    assert m.dtype == np.float32 and m.shape == (300, 400)
    assert float(m.sum()) == pytest.approx(1.0, abs=1e-5)
    ref = density_map(fix[:, 0], fix[:, 1], fix[:, 2], shape=(300, 400),
                      sigma_px=t.meta["sigma_px"])
    np.testing.assert_allclose(m, ref, rtol=1e-5, atol=1e-12)

    fix2 = ds.load_fixations(ds["P01-1-001"])
    assert fix2 is not None
    np.testing.assert_allclose(fix2[:, 2], [200, 800])

    # free viewing, image shown at twice its size: sigma halves in image pixels
    fv = ds["P01-2-fv"]
    assert fv.meta["free_viewing"] and fv.meta["segment_index"] is None
    assert fv.meta["sigma_px"] == pytest.approx(SCREEN.px_per_degree / 2)
    assert fv.meta["n_dropped_off_image"] == 1 and fv.meta["n_fixations"] == 1
    assert Path(fv.image_path).read_bytes() == (tmp_path / "stim" / "bus.png").read_bytes()

    info = json.loads((out / "dataset.json").read_text())
    prov = info["provenance"]
    assert prov["kde"]["sigma_deg"] == 1.0 and prov["alignment"]["lead_ms"] == 1500.0
    assert prov["segmenter"]["name"] == "phrase"
    assert prov["inputs"][0]["screen"]["distance_mm"] == 700.0
    assert prov["counts"]["triplets"] == 3 and info["vista_version"]

    again = CliRunner().invoke(cli, ["maps", str(session), "--out", str(out)])
    assert again.exit_code == 1 and "never overwrites" in again.output


def test_options_reach_the_maps(tmp_path) -> None:
    session = make_session(tmp_path / "s")
    out = tmp_path / "ds"
    res = CliRunner().invoke(cli, [
        "maps", str(session), "--out", str(out), "--sigma-px", "12.5", "--lead-ms", "0",
        "--segmenter", "sentence", "--free-viewing-text", "looking around",
        "--reference-images"])
    assert res.exit_code == 0, res.output
    ds = read_dataset(out)
    assert [t.text for t in ds] == ["a red bus, and a man", "looking around"]
    first = ds["P01-1-000"]
    assert first.meta["sigma_px"] == 12.5 and first.meta["window_start_ms"] == 3000.0
    assert os.path.isabs(first.image_path) and not any((out / "images").iterdir())


def test_window_segmenter_option(tmp_path) -> None:
    session = make_session(tmp_path / "s")
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(tmp_path / "a"),
                                   "--window-ms", "1000"])
    assert res.exit_code == 2 and "--segmenter window" in res.output
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(tmp_path / "b"),
                                   "--segmenter", "window", "--window-ms", "1000"])
    assert res.exit_code == 0, res.output
    ds = read_dataset(tmp_path / "b")
    assert [t.text for t in ds][:2] == ["a red bus", "and a man"]
    assert ds["P01-1-001"].meta["segment_start_ms"] == 4000.0
    info = json.loads((tmp_path / "b" / "dataset.json").read_text())["provenance"]
    assert info["segmenter"] == {"name": "window", "params": {"window_ms": 1000.0}}


def test_images_folder_lookup(tmp_path) -> None:
    """A log naming images by their display-PC path finds them by name in --images."""
    session = make_session(tmp_path / "s", image_in_log="C:\\stimuli\\bus.png")
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(tmp_path / "a")])
    assert res.exit_code == 1 and "--images" in res.output and "bus.png" in res.output
    assert not (tmp_path / "a").exists()  # checked before anything is written
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(tmp_path / "b"),
                                   "--images", str(tmp_path / "stim")])
    assert res.exit_code == 0, res.output


def bare_recording(path: Path, *, imgload: bool = True, image: str = "cat.png") -> Path:
    Image.new("RGB", (400, 300)).save(path.parent / "cat.png")
    with AscWriter(path) as w:
        w.display_coords(0, 0, 0, 1279, 1023)
        w.start(0, eyes="LR", rate_hz=500)
        w.message(10, "TRIALID 7")
        if imgload:
            w.message(12, f"!V IMGLOAD CENTER {image} 640 512")
        w.message(20, "SYNCTIME")
        w.fixation("L", 100, 400, 640, 512, 900)
        w.fixation("R", 100, 400, 650, 512, 900)
        w.fixation("R", 500, 700, 10, 10, 900)  # off the image
        w.message(1000, "TRIAL_RESULT 0")
        w.end(1000)
    return path


def test_bare_recording_needs_screen_geometry(tmp_path) -> None:
    rec = bare_recording(tmp_path / "run.asc")
    res = CliRunner().invoke(cli, ["maps", str(rec), "--out", str(tmp_path / "a")])
    assert res.exit_code == 1
    for option in ("--screen-mm", "--distance-mm", "--sigma-px"):
        assert option in res.output
    res = CliRunner().invoke(cli, ["maps", str(rec), "--out", str(tmp_path / "b"),
                                   "--screen-mm", "376", "300", "--distance-mm", "600"])
    assert res.exit_code == 0, res.output
    (t,) = read_dataset(tmp_path / "b")
    px_per_deg = Screen(1280, 1024, 376.0, 300.0, 600.0).px_per_degree
    assert t.meta["sigma_px"] == pytest.approx(px_per_deg)
    assert t.text == "cat" and t.triplet_id == "run-7-fv"
    assert t.meta["eye"] == "R" and t.meta["n_dropped_off_image"] == 1
    # CENTER 640 512 for a 400x300 image: left 440, top 362
    fix = read_dataset(tmp_path / "b").load_fixations(t)
    assert fix is not None
    np.testing.assert_allclose(fix, [[210, 150, 300]])


def test_display_pc_image_path_found_with_images_option(tmp_path) -> None:
    """IMGLOAD names the image by its path on the display PC: the reader cannot size
    it, --images finds it by name and the CENTER placement is computed from it."""
    rec = bare_recording(tmp_path / "run.asc", image="D:/exp/stim/cat.png")
    out = tmp_path / "ds"
    res = CliRunner().invoke(cli, ["maps", str(rec), "--out", str(out), "--sigma-px", "9",
                                   "--images", str(tmp_path)])
    assert res.exit_code == 0, res.output
    ds = read_dataset(out)
    fix = ds.load_fixations(ds["run-7-fv"])
    assert fix is not None
    np.testing.assert_allclose(fix, [[210, 150, 300]])


def test_eye_choice(tmp_path) -> None:
    rec = bare_recording(tmp_path / "run.asc")
    out = tmp_path / "both"
    res = CliRunner().invoke(cli, ["maps", str(rec), "--out", str(out), "--sigma-px", "5",
                                   "--eye", "both"])
    assert res.exit_code == 0, res.output
    (t,) = read_dataset(out)
    assert t.meta["eye"] == "LR" and t.meta["n_fixations"] == 2


def test_eye_not_recorded_is_an_error(tmp_path) -> None:
    """--eye L on a right-eye session says so, instead of writing an empty dataset
    whose every segment is 'skipped'."""
    session = make_session(tmp_path / "s")
    res = CliRunner().invoke(cli, ["maps", str(session), "--out", str(tmp_path / "d"),
                                   "--sigma-px", "5", "--eye", "L"])
    assert res.exit_code == 1
    assert "eye='L'" in res.output and "eye R only" in res.output
    assert not (tmp_path / "d").exists()


def test_repeated_trial_id_gets_its_own_triplets(tmp_path) -> None:
    """A TRIALID that comes twice in a recording (a trial run again) gives two sets of
    maps with distinct triplet ids, instead of a 'duplicate id' error halfway through
    writing the dataset."""
    path = tmp_path / "run.asc"
    with AscWriter(path) as w:
        w.display_coords(0, 0, 0, 1279, 1023)
        w.start(0, eyes="R", rate_hz=1000)
        for k, t0 in enumerate((1000, 5000, 9000)):
            w.message(t0, "TRIALID 1" if k < 2 else "TRIALID 2")
            w.fixation("R", t0 + 10, t0 + 300, 500.0 + k, 400.0, 900)
            w.message(t0 + 2000, "TRIAL_RESULT 0")
        w.end(12000)
    summary = build_maps([path], tmp_path / "out", sigma_px=5.0)
    assert summary.n_triplets == 3
    ds = read_dataset(tmp_path / "out")
    assert [t.triplet_id for t in ds] == ["run-1-fv", "run-1-rep2-fv", "run-2-fv"]
    assert [t.meta["trial_id"] for t in ds] == ["1", "1", "2"]
    assert [t.meta.get("trial_occurrence") for t in ds] == [None, 2, None]


def test_no_image_maps_on_the_screen_grid(tmp_path) -> None:
    rec = bare_recording(tmp_path / "run.asc", imgload=False)
    res = CliRunner().invoke(cli, ["maps", str(rec), "--out", str(tmp_path / "d"),
                                   "--sigma-px", "20"])
    assert res.exit_code == 0, res.output
    ds = read_dataset(tmp_path / "d")
    (t,) = ds
    assert t.meta["image_missing"] and ds.load_map(t).shape == (1024, 1280)
    assert ds.load_image(t).shape == (1024, 1280, 3) and t.text == "trial 7"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param({"sigma_deg": 1.0, "sigma_px": 3.0}, ValueError, "not both", id="two-sigmas"),
        pytest.param({"sigma_px": -1.0}, ValueError, "sigma_px", id="negative-sigma"),
        pytest.param({"segmenter": "clause"}, ValueError, "'phrase'", id="segmenter"),
        pytest.param({"eye": "X"}, ValueError, "eye must be one of", id="eye"),
        pytest.param({"screen_mm": (300.0, 200.0)}, ValueError, "distance_mm", id="half-screen"),
        pytest.param({"free_viewing_text": " "}, ValueError, "free_viewing_text", id="empty-text"),
    ],
)
def test_build_maps_errors(tmp_path, kwargs, error, message) -> None:
    session = make_session(tmp_path / "s")
    with pytest.raises(error, match=message):
        build_maps([session], tmp_path / "out", **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"lead_ms": float("nan")}, "lead_ms must be finite", id="lead-nan"),
        pytest.param({"lag_ms": float("inf")}, "lag_ms must be finite", id="lag-inf"),
        pytest.param({"segmenter": "window", "segmenter_params": {"window_ms": -5.0}},
                     "window_ms", id="window-negative"),
    ],
)
def test_bad_options_write_nothing(tmp_path, kwargs, message) -> None:
    """Options that fail are refused before the dataset folder is made, so the same
    --out can be used once they are fixed."""
    session = make_session(tmp_path / "s")
    with pytest.raises(ValueError, match=message):
        build_maps([session], tmp_path / "out", sigma_px=5.0, **kwargs)
    assert not (tmp_path / "out").exists()
    assert build_maps([session], tmp_path / "out", sigma_px=5.0).n_triplets > 0


def test_failed_run_leaves_no_empty_dataset(tmp_path, monkeypatch) -> None:
    """A run that fails before writing any map removes what it created (an empty
    dataset would block the next run), and leaves a folder that was there alone."""
    import vista.gaze.maps as maps_module

    session = make_session(tmp_path / "s")

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(maps_module, "density_map", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build_maps([session], tmp_path / "out", sigma_px=5.0)
    assert not (tmp_path / "out").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeError, match="disk full"):
        build_maps([session], tmp_path / "empty", sigma_px=5.0)
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())
    monkeypatch.undo()
    assert build_maps([session], tmp_path / "out", sigma_px=5.0).n_triplets > 0


def test_run_stopped_halfway_says_so(tmp_path, monkeypatch) -> None:
    """A run that fails after writing some maps leaves them readable, with
    ``provenance.status`` saying the dataset is incomplete; a finished one has none."""
    import vista.gaze.maps as maps_module

    session = make_session(tmp_path / "s")
    real = maps_module.density_map
    index = tmp_path / "out" / "triplets.jsonl"

    def fail_once_written(*args, **kwargs):
        if index.exists() and index.stat().st_size > 0:  # the second trial: Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(maps_module, "density_map", fail_once_written)
    with pytest.raises(KeyboardInterrupt):
        build_maps([session], tmp_path / "out", sigma_px=5.0)
    ds = read_dataset(tmp_path / "out")
    assert len(ds) >= 1 and ds.info["provenance"]["status"].startswith("incomplete")
    monkeypatch.undo()
    build_maps([session], tmp_path / "done", sigma_px=5.0)
    info = read_dataset(tmp_path / "done").info
    assert "status" not in info["provenance"] and "counts" in info["provenance"]


def test_missing_inputs(tmp_path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_maps([], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="no such input"):
        build_maps([tmp_path / "nope.asc"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not a session folder"):
        build_maps([tmp_path / "empty"], tmp_path / "out")


def test_images_with_the_same_name_are_kept_apart(tmp_path) -> None:
    a = make_session(tmp_path / "a")
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (400, 300), (0, 0, 250)).save(other / "bus.png")
    b = make_session(tmp_path / "b", image_in_log=str(other / "bus.png"))
    info = json.loads((b / "session.json").read_text())
    (b / "session.json").write_text(json.dumps({**info, "participant": "P02"}))
    build_maps([a, b], tmp_path / "ds")
    ds = read_dataset(tmp_path / "ds")
    assert ds.load_image(ds["P01-2-fv"])[0, 0, 2] == 30
    assert ds.load_image(ds["P02-2-fv"])[0, 0, 2] == 250


def test_same_participant_twice_is_refused(tmp_path) -> None:
    a = make_session(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    for f in ("session.json", "trials.jsonl", "recording.asc"):
        (b / f).write_bytes((a / f).read_bytes())
    (b / "transcripts").mkdir()
    (b / "transcripts" / "1.json").write_bytes((a / "transcripts" / "1.json").read_bytes())
    with pytest.raises(ValueError, match="both give participant 'P01'"):
        build_maps([a, b], tmp_path / "out")


def test_trial_maps_skips_and_counts() -> None:
    fix = Fixations(np.array([0.0, 5000.0]), np.array([400.0, 5300.0]),
                    np.array([50.0, -500.0]), np.array([50.0, 50.0]))
    words = (Word("a", 600, 700), Word("dog.", 700, 900), Word("Sky", 5400, 5600),
             Word("blue", 20000, 20100))
    trial = Trial("9", "x.png", Placement(0, 0, 100, 100), None, fix,
                  Transcript(words), start_ms=0, end_ms=30000)
    maps, skipped = trial_maps(trial, image_shape=(100, 100), sigma_px=5, segmenter="word")
    assert [m.segment.text for m in maps] == ["a", "dog"]
    assert [s["reason"] for s in skipped] == [
        "all 1 fixations in the window fell off the image", "no fixation in the window"]
    assert [s["segment_index"] for s in skipped] == [2, 3]
    with pytest.raises(ValueError, match="no placement"):
        trial_maps(Trial("9", None, None, None, fix), image_shape=(10, 10), sigma_px=1)


def eyelinkio_data() -> Path:
    eyelinkio = pytest.importorskip("eyelinkio", reason="needs the eyelink extra (eyelinkio)")
    return Path(eyelinkio.__file__).parent / "tests" / "data"


@pytest.mark.eyelink
def test_maps_on_real_recording_free_viewing(tmp_path) -> None:
    """test_raw.edf, shipped in the eyelinkio wheel: a real EyeLink 1000 recording with
    TRIALID messages and no images; every trial becomes a free-viewing map on the
    1920x1080 screen grid."""
    edf = eyelinkio_data() / "test_raw.edf"
    out = tmp_path / "fv"
    res = CliRunner().invoke(cli, ["maps", str(edf), "--out", str(out), "--sigma-px", "35"])
    assert res.exit_code == 0, res.output
    ds = read_dataset(out)
    assert len(ds) > 0
    info = json.loads((out / "dataset.json").read_text())["provenance"]
    assert info["counts"]["triplets"] + info["counts"]["skipped_segments"] == \
        info["counts"]["trials"]
    for t in ds:
        m = ds.load_map(t)
        assert m.shape == (1080, 1920) and float(m.sum()) == pytest.approx(1.0, abs=1e-4)
        assert t.meta["free_viewing"] and t.meta["eye"] == "L" and t.meta["n_fixations"] >= 1
        assert t.triplet_id.startswith("test_raw-")


@pytest.mark.eyelink
@pytest.mark.slow
@pytest.mark.parametrize("name", ["test_2_raw.edf", "test_raw_binocular.edf"])
def test_maps_on_other_real_recordings(tmp_path, name) -> None:
    edf = eyelinkio_data() / name
    res = CliRunner().invoke(cli, ["maps", str(edf), "--out", str(tmp_path / "fv"),
                                   "--sigma-px", "35"])
    assert res.exit_code == 0, res.output
    assert len(read_dataset(tmp_path / "fv")) > 0


# ----------------------------------------------------------------- --strict, progress


def _inconsistent(root: Path) -> Path:
    """A fixation after the recording block's END: read with a RecordingWarning, or
    refused with strict."""
    with open(root / "recording.asc", "a", encoding="utf-8") as fh:
        fh.write("SFIX R   17000\nEFIX R   17000\t17100\t101\t  960.0\t  540.0\t    900\n")
    return root


def test_strict_reaches_the_reader(tmp_path) -> None:
    from vista.errors import ParseError
    from vista.gaze.checks import RecordingWarning

    root = _inconsistent(make_session(tmp_path / "s"))
    with pytest.warns(RecordingWarning, match=r"recording\.asc: inconsistent recording"):
        assert len(read_session(root).trials) == 2
    with pytest.raises(ParseError, match=r"recording\.asc: inconsistent recording"):
        read_session(root, strict=True)
    with pytest.raises(ParseError, match="outside every recording block"):
        build_maps([root], tmp_path / "strict", sigma_px=20, strict=True)
    assert not (tmp_path / "strict").exists()
    rec = bare_recording(tmp_path / "run.asc")
    with open(rec, "a", encoding="utf-8") as fh:
        fh.write("MSG\t2000 TRIALID 8\n")
    with pytest.raises(ParseError, match=r"run\.asc: inconsistent recording"):
        build_maps([rec], tmp_path / "bare", sigma_px=20, strict=True)


def test_cli_strict_and_warnings(tmp_path) -> None:
    """Without --strict each RecordingWarning is one line on stderr and the maps are
    made; with --strict the command fails with one line naming the file; --quiet
    prints neither the warning nor a bar."""
    root = _inconsistent(make_session(tmp_path / "s"))
    runner = CliRunner()
    res = runner.invoke(cli, ["maps", str(root), "--out", str(tmp_path / "a"),
                              "--sigma-px", "20"])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "recording.asc: inconsistent recording" in warned[0]
    assert "maps from 2 trials" in res.stdout
    res = runner.invoke(cli, ["maps", str(root), "--out", str(tmp_path / "b"),
                              "--sigma-px", "20", "--strict"])
    assert res.exit_code == 1
    assert "recording.asc: inconsistent recording" in res.stderr
    assert "Traceback" not in res.output and not (tmp_path / "b").exists()
    res = runner.invoke(cli, ["--quiet", "maps", str(root), "--out", str(tmp_path / "c"),
                              "--sigma-px", "20"])
    assert res.exit_code == 0 and res.output == "", res.output


def test_maps_progress(tmp_path) -> None:
    """The library reports (done, total) trials through the callback; the CLI draws
    a bar on stderr, none under --quiet."""
    root = make_session(tmp_path / "s")
    calls: list[tuple[int, int]] = []
    build_maps([root], tmp_path / "ds", sigma_px=20, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 2), (1, 2), (2, 2)]
    res = CliRunner().invoke(cli, ["maps", str(root), "--out", str(tmp_path / "a"),
                                   "--sigma-px", "20"])
    assert res.exit_code == 0 and "maps (trials)" in res.stderr  # a bar without a tty: its label
    assert "maps (trials)" not in res.stdout
    res = CliRunner().invoke(cli, ["-q", "maps", str(root), "--out", str(tmp_path / "b"),
                                   "--sigma-px", "20"])
    assert res.exit_code == 0 and res.output == ""
