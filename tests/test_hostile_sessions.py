"""Hostile input to `vista record`, `vista transcribe` and `vista maps`.

Each case runs the command as a user would (click's CliRunner) on a copy of a real
simulated session, and checks three things: the exit status, that the one-line
message names the file (and line) or the option at fault, and that nothing outside
the command's own folder changed (every file under the pytest run's temporary
folder, the siblings of this test's folder included, is snapshotted before and
compared after).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vista.cli import cli

SCREEN_ARGS = ["--screen-px", "640", "480", "--screen-mm", "531", "298.7"]


def _images(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = np.full((60, 80, 3), 120 + 40 * i, np.uint8)
        Image.fromarray(arr).save(folder / f"img{i}.png")
    return folder


def _record(*args: str) -> Any:
    return CliRunner().invoke(cli, ["record", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated session of two trials, recorded once and copied by each test."""
    root = tmp_path_factory.mktemp("recorded")
    images = _images(root / "stim")
    res = _record("--participant", "H01", "--images", str(images), "--simulate", "--seed", "3",
                  "--out", str(root / "session"), "--time-limit-s", "2", *SCREEN_ARGS)
    assert res.exit_code == 0, res.output
    return root


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for f in files:
            p = Path(dirpath) / f
            try:
                st = p.lstat()
            except FileNotFoundError:
                continue
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def box(tmp_path: Path, recorded: Path) -> Iterator[Path]:
    """``tmp_path/box``: the command's own area (a copy of the recorded session and
    its images). ``tmp_path/outside`` holds files a hostile input aims at. Nothing
    outside the box may change."""
    work = tmp_path / "box"
    shutil.copytree(recorded / "stim", work / "stim")
    shutil.copytree(recorded / "session", work / "session")
    plan = json.loads((work / "session" / "session.json").read_text())
    # the copy's plan points at the copied images
    text = (work / "session" / "session.json").read_text().replace(
        str(recorded / "stim"), str(work / "stim"))
    (work / "session" / "session.json").write_text(text)
    journal = (work / "session" / "trials.jsonl").read_text().replace(
        str(recorded / "stim"), str(work / "stim"))
    (work / "session" / "trials.jsonl").write_text(journal)
    assert plan["plan"]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.wav").write_bytes(b"RIFF....WAVE keep me")
    (outside / "notes.txt").write_text("keep me too")
    before = _snapshot(tmp_path.parent, skip=work)
    yield work
    assert _snapshot(tmp_path.parent, skip=work) == before, "a file outside the box changed"


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


BARS = ("maps (trials)", "transcribing (trials)")
"""The labels of the progress bars, which a bar without a terminal prints alone."""


def _one_line(res: Any) -> str:
    lines = [line for line in res.output.splitlines() if line.strip() and line not in BARS]
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    return lines[0]


def _journal(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session / "trials.jsonl").read_text().splitlines()]


def _write_journal(session: Path, rows: list[dict[str, Any]]) -> None:
    (session / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _add_audio(session: Path, audio: str) -> None:
    """Give trial 1 an audio path (as a hostile journal would) and a transcript, so
    `vista transcribe --delete-audio` has something to delete."""
    rows = _journal(session)
    rows[0].update(audio=audio, audio_start_ms=rows[0]["start_ms"])
    _write_journal(session, rows)


# ------------------------------------------------------------- 1. paths stay inside

@pytest.mark.parametrize("audio", [
    pytest.param("../../outside/victim.wav", id="dotdot"),
    pytest.param("ABSOLUTE", id="absolute"),
    pytest.param("audio/../../../outside/victim.wav", id="dotdot-under-audio"),
    pytest.param("session.json", id="session-file-not-audio"),
])
def test_transcribe_delete_audio_stays_in_the_session(box: Path, audio: str) -> None:
    session = box / "session"
    if audio == "ABSOLUTE":
        audio = str(box.parent / "outside" / "victim.wav")
    _add_audio(session, audio)
    res = _run("transcribe", str(session), "--delete-audio")
    assert res.exit_code == 1
    line = _one_line(res)
    assert "trials.jsonl:1" in line and "lies outside" in line
    assert (session / "session.json").is_file()


def test_transcribe_audio_link_out_of_the_session(box: Path) -> None:
    session = box / "session"
    (session / "audio").mkdir(exist_ok=True)
    (session / "audio" / "1.wav").symlink_to(box.parent / "outside" / "victim.wav")
    _add_audio(session, "audio/1.wav")
    res = _run("transcribe", str(session), "--delete-audio")
    assert res.exit_code == 1 and "lies outside" in _one_line(res)
    assert (box.parent / "outside" / "victim.wav").exists()


def test_transcripts_folder_linked_out_of_the_session(box: Path) -> None:
    """A session whose transcripts/ is a link to another folder: transcribe would
    write there and maps read from there; both refuse, naming the journal line."""
    session = box / "session"
    shutil.rmtree(session / "transcripts")
    (session / "transcripts").symlink_to(box.parent / "outside")
    _add_audio(session, "audio/1.wav")
    for args in (["transcribe", str(session)], ["maps", str(session), "--out", str(box / "ds")]):
        res = _run(*args)
        assert res.exit_code == 1, (args, res.output)
        line = _one_line(res)
        assert "trials.jsonl:1" in line and "lies outside" in line
    assert not (box / "ds").exists()


@pytest.mark.parametrize("field, value", [
    pytest.param("file", "../../outside/recovered.asc", id="dotdot"),
    pytest.param("file", "ABSOLUTE", id="absolute"),
    pytest.param("file", "sub/recording.asc", id="sub-folder"),
])
def test_resume_writes_recordings_only_into_the_session(box: Path, field: str, value: str) -> None:
    session = box / "session"
    meta = json.loads((session / "session.json").read_text())
    meta["status"] = "recording"
    if value == "ABSOLUTE":
        value = str(box.parent / "outside" / "recovered.asc")
    meta["recordings"][0].update({field: value, "received": False})
    (session / "session.json").write_text(json.dumps(meta))
    res = _record("--participant", "H01", "--resume", "--out", str(session), *SCREEN_ARGS)
    assert res.exit_code == 1
    assert "session.json" in _one_line(res)
    assert not (box.parent / "outside" / "recovered.asc").exists()


@pytest.mark.parametrize("what", ["recording", "transcript"])
def test_maps_reads_session_files_only_inside(box: Path, what: str) -> None:
    session = box / "session"
    target = str(box.parent / "outside" / "notes.txt")
    if what == "recording":
        meta = json.loads((session / "session.json").read_text())
        meta["recording"] = target
        (session / "session.json").write_text(json.dumps(meta))
        rows = _journal(session)
        for r in rows:
            r.pop("recording", None)
        _write_journal(session, rows)
    else:
        rows = _journal(session)
        rows[0]["transcript"] = "../../outside/notes.txt"
        _write_journal(session, rows)
    res = _run("maps", str(session), "--out", str(box / "ds"))
    assert res.exit_code == 1
    line = _one_line(res)
    assert "lies outside" in line and (what != "transcript" or "trials.jsonl:1" in line)
    assert not (box / "ds").exists()


def test_record_with_a_relative_out_writes_inside_it(box: Path, monkeypatch) -> None:
    monkeypatch.chdir(box)
    res = _record("--participant", "R1", "--images", "stim", "--simulate", "--seed", "1",
                  "--out", "rel/s", "--time-limit-s", "1", *SCREEN_ARGS)
    assert res.exit_code == 0, res.output
    rows = _journal(box / "rel" / "s")
    assert [r["transcript"] for r in rows] == ["transcripts/1.json", "transcripts/2.json"]
    assert (box / "rel" / "s" / "transcripts" / "1.json").is_file()


# ------------------------------------------------ 2. never overwrite, one writer a folder

def test_maps_refuses_a_folder_that_is_not_its_dataset(box: Path) -> None:
    out = box / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    res = _run("maps", str(box / "session"), "--out", str(out))
    assert res.exit_code == 1
    line = _one_line(res)
    assert str(out) in line and "not empty" in line
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    (box / "afile").write_text("x")
    res = _run("maps", str(box / "session"), "--out", str(box / "afile"))
    assert res.exit_code == 1 and "is a file" in _one_line(res)


def test_maps_refuses_a_finished_dataset_and_other_options(box: Path) -> None:
    out = box / "ds"
    assert _run("maps", str(box / "session"), "--out", str(out)).exit_code == 0
    before = (out / "triplets.jsonl").read_bytes()
    res = _run("maps", str(box / "session"), "--out", str(out))
    assert res.exit_code == 1 and "already holds a dataset" in _one_line(res)
    info = json.loads((out / "dataset.json").read_text())
    info["provenance"]["status"] = "incomplete: vista maps did not finish"
    (out / "dataset.json").write_text(json.dumps(info))
    res = _run("maps", str(box / "session"), "--out", str(out), "--sigma-deg", "2")
    assert res.exit_code == 1 and "other inputs or options" in _one_line(res)
    assert (out / "triplets.jsonl").read_bytes() == before


def test_maps_resumes_its_own_unfinished_dataset(box: Path) -> None:
    whole = box / "whole"
    assert _run("maps", str(box / "session"), "--out", str(whole)).exit_code == 0
    part = box / "part"
    shutil.copytree(whole, part)
    lines = (part / "triplets.jsonl").read_text().splitlines(keepends=True)
    assert len(lines) >= 2
    (part / "triplets.jsonl").write_text(lines[0])  # stopped after the first triplet
    info = json.loads((part / "dataset.json").read_text())
    prov = {k: v for k, v in info["provenance"].items() if k not in ("counts", "skipped")}
    info["provenance"] = {**prov, "status": "incomplete: vista maps did not finish"}
    (part / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    res = _run("maps", str(box / "session"), "--out", str(part))
    assert res.exit_code == 0, res.output
    assert (part / "triplets.jsonl").read_text() == "".join(lines)
    assert json.loads((part / "dataset.json").read_text())["provenance"] == \
        json.loads((whole / "dataset.json").read_text())["provenance"]
    assert not (part / ".vista.lock").exists()


def test_maps_honours_a_lock(box: Path) -> None:
    out = box / "ds"
    out.mkdir()
    (out / ".vista.lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname()[1]}))
    res = _run("maps", str(box / "session"), "--out", str(out))
    assert res.exit_code == 1 and "in use by process" in _one_line(res)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (out / ".vista.lock").write_text(json.dumps({"pid": int(done.stdout), "host": os.uname()[1]}))
    res = _run("maps", str(box / "session"), "--out", str(out))
    line = _one_line(res)
    assert res.exit_code == 1 and "stale lock" in line and ".vista.lock" in line
    assert sorted(p.name for p in out.iterdir()) == [".vista.lock"]


def test_record_one_run_per_session(box: Path) -> None:
    """A second run into a session that a live run is recording (another terminal, a
    --resume started too early) is refused; the lock goes with the process, so a
    resume after a crash needs nothing cleared."""
    from vista.acquisition.session_folder import SessionLock

    session = box / "session"
    _interrupted(session)
    before = (session / "trials.jsonl").read_bytes()
    held = SessionLock(session)
    try:
        res = _record("--participant", "H01", "--resume", "--out", str(session), *SCREEN_ARGS)
        assert res.exit_code == 1
        assert "being recorded by another vista process" in _one_line(res)
        assert (session / "trials.jsonl").read_bytes() == before
    finally:
        held.release()
    res = _record("--participant", "H01", "--resume", "--out", str(session), *SCREEN_ARGS)
    assert res.exit_code == 0, res.output
    assert not (session / ".vista-session.lock").exists()


# ------------------------------------------ 5. `vista record` checks before side effects

@pytest.mark.parametrize("extra, named", [
    pytest.param(["--audio", "MISSING"], "missing.wav", id="audio-missing"),
    pytest.param(["--audio", "TEXT"], "not-a.wav", id="audio-not-wav"),
    pytest.param(["--audio", "TRUNCATED"], "cut.wav", id="audio-truncated"),
    pytest.param(["--audio", "FIFO"], "pipe.wav", id="audio-fifo"),
    pytest.param(["--audio", "FOLDER"], "folder.wav", id="audio-folder"),
    pytest.param(["--speed", "nan"], "speed", id="speed-nan"),
    pytest.param(["--speed", "1e-9"], "speed", id="speed-tiny"),
    pytest.param(["--speed", "-1"], "speed", id="speed-negative"),
    pytest.param(["--audio", "tts", "--dummy"], "tts", id="tts-needs-simulated"),
])
def test_record_checks_options_before_making_the_folder(box: Path, extra: list[str],
                                                        named: str) -> None:
    files = {"MISSING": box / "missing.wav", "TEXT": box / "not-a.wav",
             "TRUNCATED": box / "cut.wav", "FIFO": box / "pipe.wav",
             "FOLDER": box / "folder.wav"}
    os.mkfifo(box / "pipe.wav")  # opening it to read would block forever
    (box / "folder.wav").mkdir()
    (box / "not-a.wav").write_text("hello, I am text")
    (box / "cut.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    extra = [str(files[a]) if a in files else a for a in extra]
    out = box / "new"
    res = _record("--participant", "N1", "--images", str(box / "stim"), "--simulate",
                  "--out", str(out), *SCREEN_ARGS, *extra) if "--dummy" not in extra else \
        _run("record", "--participant", "N1", "--images", str(box / "stim"), "--out", str(out),
             *SCREEN_ARGS, *extra)
    assert res.exit_code == 1, res.output
    assert named in _one_line(res)
    assert not out.exists()


@pytest.mark.parametrize("option, value", [
    ("--time-limit-s", "1e9"), ("--screen-px", "100000"), ("--inter-trial-s", "1e6"),
    ("--distance-mm", "1e12"),
])
def test_record_bounds_numbers(box: Path, option: str, value: str) -> None:
    args = [option, value] + (["480"] if option == "--screen-px" else [])
    res = _run("record", "--participant", "N1", "--images", str(box / "stim"), "--simulate",
               "--out", str(box / "new"), *args)
    assert res.exit_code == 2 and option in res.output
    assert not (box / "new").exists()


@pytest.mark.parametrize("name", ["a\nb.png", "tab\there.png", "bell\x07.png"])
def test_record_refuses_control_characters_in_image_names(box: Path, name: str) -> None:
    Image.new("RGB", (8, 8)).save(box / "stim" / name, format="PNG")
    res = _record("--participant", "N1", "--images", str(box / "stim"), "--simulate",
                  "--out", str(box / "new"), *SCREEN_ARGS)
    assert res.exit_code == 1
    assert "image" in res.output and "holds" in res.output and repr(name)[1:-1] in res.output
    assert not (box / "new").exists()


def test_record_refuses_an_image_that_does_not_open(box: Path) -> None:
    (box / "stim" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    res = _record("--participant", "N1", "--images", str(box / "stim"), "--simulate",
                  "--out", str(box / "new"), *SCREEN_ARGS)
    assert res.exit_code == 1 and "broken.png" in _one_line(res)
    assert not (box / "new").exists()


def _interrupted(session: Path) -> None:
    meta = json.loads((session / "session.json").read_text())
    meta["status"] = "recording"
    (session / "session.json").write_text(json.dumps(meta))
    rows = _journal(session)
    _write_journal(session, rows[:1])


def test_resume_with_other_images_is_refused(box: Path) -> None:
    session = box / "session"
    _interrupted(session)
    other = _images(box / "other")
    before = (session / "trials.jsonl").read_bytes()
    res = _record("--participant", "H01", "--resume", "--out", str(session), "--images",
                  str(other), *SCREEN_ARGS)
    assert res.exit_code == 1
    line = _one_line(res)
    assert str(other) in line and "differ" in line
    assert (session / "trials.jsonl").read_bytes() == before
    res = _record("--participant", "H01", "--resume", "--out", str(session), "--images",
                  str(box / "stim"), *SCREEN_ARGS)
    assert res.exit_code == 0, res.output
    assert [r["trial_id"] for r in _journal(session)] == ["1", "2"]


def test_journal_trial_not_in_the_plan(box: Path) -> None:
    session = box / "session"
    _interrupted(session)
    rows = _journal(session)
    rows.append({**rows[0], "trial_id": "99"})
    _write_journal(session, rows)
    for args in (["record", "--participant", "H01", "--resume", "--out", str(session),
                  *SCREEN_ARGS], ["maps", str(session), "--out", str(box / "ds")],
                 ["transcribe", str(session)]):
        res = _run(*args)
        assert res.exit_code == 1, (args, res.output)
        line = _one_line(res)
        assert "trials.jsonl:2" in line and "'99'" in line and "plan" in line
    assert not (box / "ds").exists()


# ------------------------------------------------ 4. malformed files: one line, file named

@pytest.mark.parametrize("content, message", [
    pytest.param("[1, 2]", "top level must be an object", id="list"),
    pytest.param("{not json", "invalid JSON", id="broken"),
    pytest.param("", "invalid JSON", id="empty"),
    pytest.param('{"format": "vista-session", "participant": ["H01"]}', "participant",
                 id="participant-list"),
])
def test_bad_session_json(box: Path, content: str, message: str) -> None:
    session = box / "session"
    (session / "session.json").write_text(content)
    for args in (["maps", str(session), "--out", str(box / "ds")],
                 ["record", "--participant", "H01", "--resume", "--out", str(session),
                  *SCREEN_ARGS],
                 ["transcribe", str(session)]):
        res = _run(*args)
        if args[0] == "transcribe" and message == "participant":
            continue  # transcribe reads only the plan from session.json
        assert res.exit_code == 1, (args, res.output)
        line = _one_line(res)
        assert "session.json" in line and (message in line or args[0] == "record"), line


@pytest.mark.parametrize("line, message, readers", [
    pytest.param("not json", "invalid JSON", "maps transcribe", id="not-json"),
    pytest.param("[1, 2]", "JSON object", "maps transcribe", id="list"),
    pytest.param('{"trial_id": null}', "trial_id", "maps transcribe", id="null-id"),
    pytest.param('{"trial_id": ["1"]}', "trial_id", "maps transcribe", id="list-id"),
    pytest.param('{"trial_id": "1", "audio": 7}', "audio", "transcribe", id="audio-number"),
    pytest.param('{"trial_id": "1", "placement": [1]}', "invalid trial", "maps",
                 id="placement-list"),
    pytest.param('{"trial_id": "1", "image": ["a.png"]}', "image", "maps", id="image-list"),
])
def test_bad_journal_line(box: Path, line: str, message: str, readers: str) -> None:
    """A bad line in the middle of trials.jsonl (not a torn tail): each command that
    reads the field stops with one line naming trials.jsonl:2."""
    session = box / "session"
    text = (session / "trials.jsonl").read_text().splitlines()
    (session / "trials.jsonl").write_text(text[0] + "\n" + line + "\n" + text[1] + "\n")
    for name in readers.split():
        args = ["maps", str(session), "--out", str(box / "ds")] if name == "maps" else \
            ["transcribe", str(session)]
        res = _run(*args)
        assert res.exit_code == 1, (name, res.output)
        out = _one_line(res)
        assert "trials.jsonl:2" in out and message in out, (name, out)
    assert not (box / "ds").exists()


def test_maps_transcript_that_is_a_fifo(box: Path) -> None:
    session = box / "session"
    (session / "transcripts" / "1.json").unlink()
    os.mkfifo(session / "transcripts" / "1.json")
    res = _run("maps", str(session), "--out", str(box / "ds"))
    assert res.exit_code == 1
    line = _one_line(res)
    assert "1.json" in line and "not a regular file" in line
    assert not (box / "ds").exists()


WRONG_TYPES = [None, [1, 2], {"a": 1}, "x", True, -5, 1e308]


def _with_field(box: Path, where: str, key: str, value: Any) -> Path:
    """A fresh copy of the box's session with session.json's ``key`` (``where`` "meta")
    or the first journal line's (``where`` "row") set to ``value``."""
    session = box / "session"
    pristine = _fresh(box)
    shutil.rmtree(session)
    shutil.copytree(pristine, session)
    if where == "meta":
        meta = json.loads((session / "session.json").read_text())
        meta[key] = value
        (session / "session.json").write_text(json.dumps(meta))
    else:
        rows = _journal(session)
        rows[0][key] = value
        _write_journal(session, rows)
    return session


@pytest.mark.parametrize("where, key", [
    ("meta", "screen"), ("meta", "calibrations"), ("meta", "tracker"), ("meta", "plan"),
    ("meta", "participant"), ("meta", "recordings"), ("row", "end_ms"), ("row", "start_ms"),
])
def test_resume_with_fields_of_the_wrong_type(box: Path, where: str, key: str) -> None:
    """Each field of session.json and of a journal line that --resume reads, set to
    values of every wrong type: refused with one line naming the file, or (a value
    that is harmless, e.g. a null calibration list) resumed; never a traceback."""
    for value in WRONG_TYPES:
        session = _with_field(box, where, key, value)
        _interrupted(session)
        res = _run("record", "--participant", "H01", "--resume", "--out", str(session),
                   *SCREEN_ARGS)
        if res.exit_code == 0:
            continue
        assert res.exit_code == 1, (value, res.output)
        line = _one_line(res)
        assert str(session) in line, (value, line)


@pytest.mark.parametrize("where, key", [
    ("meta", "screen"), ("meta", "participant"), ("meta", "recording"),
    ("meta", "images_dir"), ("meta", "plan"), ("row", "start_ms"), ("row", "placement"),
    ("row", "image"), ("row", "transcript"), ("row", "recording"),
])
def test_maps_with_fields_of_the_wrong_type(box: Path, where: str, key: str) -> None:
    """The same for `vista maps`: a map is made, or one line names the session's file."""
    for k, value in enumerate([*WRONG_TYPES, "../x", "/etc/passwd"]):
        session = _with_field(box, where, key, value)
        res = _run("maps", str(session), "--out", str(box / f"ds{k}"))
        if res.exit_code == 0:
            continue
        assert res.exit_code == 1, (value, res.output)
        line = _one_line(res)
        assert str(session) in line or "/etc/passwd" in line, (value, line)


def _fresh(box: Path) -> Path:
    """A pristine copy of the box's session, made once per test."""
    keep = box / "pristine"
    if not keep.exists():
        shutil.copytree(box / "session", keep)
    return keep


def test_transcribe_a_wav_that_is_not_one(box: Path, monkeypatch) -> None:
    pytest.importorskip("faster_whisper", reason="needs the audio extra (faster-whisper)")
    from types import SimpleNamespace as NS

    import vista.acquisition.transcribe as tr

    loaded = tr._LoadedModel(NS(model=NS(is_multilingual=False)), "fake", {"faster_whisper": "0"})
    monkeypatch.setattr(tr, "_load", lambda model, **kw: loaded)
    session = box / "session"
    (session / "audio").mkdir(exist_ok=True)
    (session / "audio" / "1.wav").write_bytes(b"MZ\x90\x00 this is not audio" * 40)
    (session / "transcripts" / "1.json").unlink()  # the simulated words: no ASR yet
    _add_audio(session, "audio/1.wav")
    res = _run("transcribe", str(session))
    assert res.exit_code == 1
    line = _one_line(res)
    assert "1.wav" in line and "Errno" not in line
