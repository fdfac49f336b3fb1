"""Hostile input to `vista score`: each case asserts the exit status, that the message
names the option or file, and that nothing outside the test's folder changed (the
shipped demo dataset is snapshotted) and no output folder was left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_scoring import _small_dataset

from vista._io import LOCK_NAME, FolderLock
from vista.cli import cli
from vista.scoring import Run, demo_dataset_path

DEMO = demo_dataset_path()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in tmp_path; afterwards the demo dataset must be exactly as it was."""
    monkeypatch.chdir(tmp_path)
    before = _snapshot(DEMO)
    yield tmp_path
    assert _snapshot(DEMO) == before


def _score(*args: str) -> Result:
    return CliRunner().invoke(cli, ["score", *args])


@pytest.mark.parametrize("args, code, named", [
    pytest.param(["--bootstrap", "1000000000"], 2, "--bootstrap", id="bootstrap-huge"),
    pytest.param(["--bootstrap", "1"], 2, "--bootstrap", id="bootstrap-one"),
    pytest.param(["--bootstrap", "nan"], 2, "--bootstrap", id="bootstrap-nan"),
    pytest.param(["--seed", "-1"], 2, "--seed", id="seed-negative"),
    pytest.param(["--seed", str(2**64)], 2, "--seed", id="seed-huge"),
    pytest.param(["--executor", "processes:0"], 2, "--executor", id="executor-zero"),
    pytest.param(["--executor", "processes:100000"], 2, "--executor", id="executor-huge"),
    pytest.param(["--executor", "threads"], 2, "--executor", id="executor-unknown"),
    pytest.param(["--weights", "a=1", "--weights", "b=2"], 2, "--weights", id="weights-rows"),
    pytest.param(["--metric", "cc"], 1, "metric", id="metric"),
    pytest.param(["--model", "center:x"], 2, "center:x", id="row-recipe"),
    pytest.param(["--model", "clip:nope"], 2, "recipes of clip", id="unknown-recipe"),
    pytest.param(["--model", "external:"], 2, "external", id="external-empty"),
    pytest.param(["--model", "external:/no/such/folder"], 2, "/no/such/folder",
                 id="external-missing"),
])
def test_options_checked_before_any_folder(sandbox: Path, args: list[str], code: int,
                                           named: str) -> None:
    base = ["--model", "center"] if "--model" not in args else []
    res = _score(*base, *args, "--out", str(sandbox / "run"))
    assert res.exit_code == code, res.output
    assert named in res.output
    assert not (sandbox / "run").exists() and not (sandbox / "vista-out").exists()


def test_bootstrap_memory_bound_before_any_folder(sandbox: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """n_boot × triplets over the bound is refused once the dataset is read, before the
    run folder exists (the bound is lowered here; at its real value it is 2 GB)."""
    import vista.scoring.plan as plan

    monkeypatch.setattr(plan, "MAX_BOOTSTRAP_CELLS", 24 * 100)
    res = _score("--model", "center", "--bootstrap", "101", "--out", str(sandbox / "run"))
    assert res.exit_code == 1 and "--bootstrap" in res.output and "at most 100" in res.output
    assert not (sandbox / "run").exists()


def test_live_lock_is_honoured(sandbox: Path) -> None:
    """A second `vista score` into a folder another live process is claiming is refused,
    and nothing in the folder is touched."""
    out = sandbox / "run"
    out.mkdir()
    with FolderLock(out, command="vista score"):
        res = _score("--model", "center", "--bootstrap", "20", "--out", str(out))
        assert res.exit_code == 1 and f"in use by process {os.getpid()}" in res.output
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    assert list(out.iterdir()) == []


def test_stale_lock_is_reported_with_how_to_clear_it(sandbox: Path) -> None:
    out = sandbox / "run"
    assert _score("--model", "center", "--bootstrap", "20", "--out", str(out)).exit_code == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    import socket

    (out / LOCK_NAME).write_text(json.dumps({"pid": int(dead), "host": socket.gethostname()}))
    before = _snapshot(out)
    res = _score("--model", "center", "--bootstrap", "20", "--out", str(out))
    assert res.exit_code == 1 and "stale lock" in res.output and LOCK_NAME in res.output
    assert _snapshot(out) == before
    (out / LOCK_NAME).unlink()
    res = _score("--model", "center", "--bootstrap", "20", "--out", str(out))
    assert res.exit_code == 0 and "resuming" in res.output


def test_two_processes_into_one_new_folder(sandbox: Path) -> None:
    """Two `vista score` processes started together into the same new folder: the
    folder is claimed by one; the other is refused (or, when it starts after the first
    finished, resumes its finished run). Never two runs in one folder."""
    out = sandbox / "run"
    cmd = [sys.executable, "-m", "vista", "score", "--model", "center", "--bootstrap", "20",
           "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes in ([0, 0], [0, 1])
    if codes == [0, 1]:
        assert any("in use by process" in err for _, err in results)
    else:
        assert any("resuming" in err for _, err in results)
    run = json.loads((out / "run.json").read_text())
    assert run["previous_configs"] == []
    assert not (out / LOCK_NAME).exists()


def test_a_lock_being_written_reads_as_its_owner(tmp_path: Path) -> None:
    """A lock found between its creation and its owner's line (created empty, filled a
    moment later) names its owner, not "unreadable"; a lock released while it is read
    is taken."""
    import threading

    from vista.errors import FolderBusyError

    lock = tmp_path / LOCK_NAME
    lock.write_text("", encoding="utf-8")
    owner = {"pid": os.getppid(), "host": __import__("socket").gethostname(),
             "command": "vista score"}
    writer = threading.Timer(0.05, lambda: lock.write_text(json.dumps(owner), encoding="utf-8"))
    writer.start()
    try:
        with pytest.raises(FolderBusyError, match=f"in use by process {os.getppid()}"):
            FolderLock(tmp_path)
    finally:
        writer.join()
    lock.write_text("", encoding="utf-8")
    remover = threading.Timer(0.05, lock.unlink)
    remover.start()
    try:
        taken = FolderLock(tmp_path)
    finally:
        remover.join()
    assert json.loads(lock.read_text(encoding="utf-8"))["pid"] == os.getpid()
    taken.release()
    assert not lock.exists()
    lock.write_text("not json", encoding="utf-8")  # a foreign file stays an error
    with pytest.raises(FolderBusyError, match="unreadable"):
        FolderLock(tmp_path)


def test_observers_on_one_participant_stops(sandbox: Path) -> None:
    res = _score("--model", "center", "--model", "observers", "--out", str(sandbox / "run"))
    assert res.exit_code == 1 and "'observers' cannot score any" in res.output
    assert "two or more observers" in res.output
    assert not (sandbox / "run").exists()


def test_fingerprint_depends_on_content_only(sandbox: Path) -> None:
    """The same dataset spelled relatively, absolutely, or copied elsewhere (new
    modification times) has one fingerprint: a run resumes from the copy. One changed
    byte in a map gives another fingerprint, and the run is refused."""
    data = _small_dataset(sandbox / "a")
    out = sandbox / "run"
    rel = os.path.relpath(data, sandbox)
    assert _score("--model", "center", "--data", rel, "--bootstrap", "20", "--out",
                  str(out)).exit_code == 0
    copy = sandbox / "b" / "ds"
    shutil.copytree(sandbox / "a", sandbox / "b")
    res = _score("--model", "center", "--data", str(copy), "--bootstrap", "20", "--out", str(out))
    assert res.exit_code == 0 and "resuming" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["fingerprint"] == json.loads(
        (out / "run.json").read_text())["config"]["dataset_fingerprint"]
    victim = next((copy / "maps").glob("*.npy"))
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 1
    victim.write_bytes(bytes(raw))
    res = _score("--model", "center", "--data", str(copy), "--bootstrap", "20", "--out", str(out))
    assert res.exit_code == 1 and "dataset_fingerprint" in res.output


@pytest.mark.parametrize("content, named", [
    pytest.param("[1, 2]\n", "top level must be an object", id="list"),
    pytest.param("{not json", "invalid JSON", id="invalid"),
    pytest.param('{"format": "other"}\n', "not a vista score run", id="format"),
    pytest.param('{"format": "vista-score-run", "version": 9, "config": {}}\n', "run format 9",
                 id="version"),
])
def test_bad_run_json(sandbox: Path, content: str, named: str) -> None:
    out = sandbox / "run"
    out.mkdir()
    (out / "run.json").write_text(content)
    res = _score("--model", "center", "--bootstrap", "20", "--out", str(out))
    assert res.exit_code == 1 and "run.json" in res.output and named in res.output
    assert sorted(p.name for p in out.iterdir()) == ["run.json"]


def test_corrupt_journal_line_names_file_and_line(sandbox: Path) -> None:
    out = sandbox / "run"
    args = ["--model", "center", "--bootstrap", "20", "--out", str(out)]
    assert _score(*args).exit_code == 0
    journal = out / "scores.partial.jsonl"
    lines = journal.read_text().splitlines()
    lines[3] = '{"triplet_id": 5, "model": "center"}'
    journal.write_text("\n".join(lines) + "\n")
    res = _score(*args)
    assert res.exit_code == 1 and "scores.partial.jsonl:4" in res.output
    lines[3] = "{oops"
    journal.write_text("\n".join(lines) + "\n")
    res = _score(*args)
    assert res.exit_code == 1 and "scores.partial.jsonl:4" in res.output


def _fingerprint_0_1_0(ds: object) -> str:
    """vista 0.1.0's scoring._dataset_fingerprint, as it was written."""
    import hashlib

    root = Path(ds.root)  # type: ignore[attr-defined]
    h = hashlib.sha256()
    for name in ("triplets.jsonl", "dataset.json"):
        p = root / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    seen: set[str] = set()
    for t in ds:  # type: ignore[attr-defined]
        for f in (t.image_path, t.human_map_path, t.fixations_path):
            if f is None or f in seen:
                continue
            seen.add(f)
            try:
                st = os.stat(f)
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()[:16]


def test_run_of_0_1_0_is_read_but_not_extended(sandbox: Path) -> None:
    """A version-1 run folder (vista 0.1.0): figures and reports read it, checked with
    0.1.0's fingerprint; `vista score` refuses to extend it, saying why."""
    from vista.dataset import read_dataset
    from vista.scoring.runfolder import legacy_fingerprint

    out = sandbox / "run"
    assert _score("--model", "center", "--bootstrap", "20", "--out", str(out)).exit_code == 0
    doc = json.loads((out / "run.json").read_text())
    doc["version"] = 1
    (out / "run.json").write_text(json.dumps(doc))
    summary = json.loads((out / "summary.json").read_text())
    ds = read_dataset(DEMO)
    assert legacy_fingerprint(ds) == _fingerprint_0_1_0(ds)
    summary["dataset"]["fingerprint"] = legacy_fingerprint(ds)
    (out / "summary.json").write_text(json.dumps(summary))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Run(out).models == ["center"]
    res = _score("--model", "center", "--bootstrap", "20", "--out", str(out), "--metric", "sim")
    assert res.exit_code == 1 and "vista 0.1.0" in res.output and "new folder" in res.output


def test_a_bug_says_so(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A KeyError from a bug is not dressed as a user error: a short traceback, a line
    saying it is a bug and where to report it, exit status 70. A ValueError the library
    raises on purpose stays one line."""
    import vista.scoring

    def broken(*args: object, **kwargs: object) -> None:
        return {}["missing"]  # type: ignore[return-value]

    monkeypatch.setattr(vista.scoring, "score", broken)
    res = _score("--model", "center", "--out", str(sandbox / "run"))
    assert res.exit_code == 70
    assert "Traceback" in res.output and "KeyError" in res.output
    assert "This is a bug" in res.output and "github.com/vista-gaze/vista/issues" in res.output

    def refused(*args: object, **kwargs: object) -> None:
        raise ValueError("n_boot must be at most 100000")

    monkeypatch.setattr(vista.scoring, "score", refused)
    res = _score("--model", "center", "--out", str(sandbox / "run"))
    assert res.exit_code == 1 and "Error: n_boot must be at most 100000" in res.output
    assert "Traceback" not in res.output and "bug" not in res.output


def test_fifo_in_the_cache_or_as_an_external_map(sandbox: Path) -> None:
    """A FIFO where a cached map should be is a miss (never opened, so never a hang);
    a FIFO as an external map is no map file, named."""
    from test_scoring import StubSource

    from vista.dataset import read_dataset
    from vista.scoring import map_cache_key, score
    from vista.scoring.runfolder import file_sha256

    ds = read_dataset(_small_dataset(sandbox))
    out = sandbox / "run"
    score(ds, [StubSource()], out=out, n_boot=20)
    t = ds.triplets[0]
    key = map_cache_key(file_sha256(t.image_path), t.text, StubSource().params)
    victim = out / "maps" / "stub" / f"{key}.npy"
    victim.unlink()
    os.mkfifo(victim)
    stub = StubSource()
    score(ds, [stub], out=out, n_boot=20, metrics=["sim"])
    assert sum(len(b) for b in stub.batches) == 1 and victim.is_file()
    ext = sandbox / "ext"
    ext.mkdir()
    for u in ds:
        os.mkfifo(ext / f"{u.triplet_id}.npy")
    res = _score("--model", f"external:{ext}", "--data", str(ds.root), "--bootstrap", "20",
                 "--out", str(sandbox / "run2"))
    assert res.exit_code == 1 and "no map file" in res.output and str(ext) in res.output
    assert not (sandbox / "run2").exists()


def test_journal_rows_outside_the_plan_are_not_reported(sandbox: Path) -> None:
    """A journal line for a triplet or model the run does not score (a phantom) never
    reaches scores.csv or the summary."""
    out = sandbox / "run"
    args = ["--model", "center", "--bootstrap", "20", "--out", str(out)]
    assert _score(*args).exit_code == 0
    before = (out / "scores.csv").read_bytes()
    with open(out / "scores.partial.jsonl", "a") as fh:
        fh.write(json.dumps({"triplet_id": "ghost", "model": "center", "ncc": 1.0,
                             "auc_borji": 1.0}) + "\n")
        fh.write(json.dumps({"triplet_id": "sim01-1-000", "model": "ghost", "ncc": 1.0,
                             "auc_borji": 1.0}) + "\n")
    res = _score(*args)
    assert res.exit_code == 0 and "ghost" not in res.output
    assert (out / "scores.csv").read_bytes() == before
    assert "ghost" not in (out / "summary.json").read_text()
