"""Hostile input for the recording readers, the trackers and ``vista replay``.

Each case asserts the exit code (or the exception), that the message names the file
or the option, and that nothing outside the test's own folder changed (the folder is
snapshotted before and after; the commands run with it as the working directory).
The classes follow the hostile-input issue: recordings that crash or silently shrink
(3), paths from files never written (1), options bounded before any side effect (5).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vista.acquisition.replay import ReplayTracker
from vista.acquisition.simulate import SimulatedTracker
from vista.cli import cli
from vista.errors import ParseError
from vista.gaze.asc import AscWriter, read_asc
from vista.gaze.checks import RecordingWarning, check_recording
from vista.gaze.io import read_recording
from vista.records import Screen

SCREEN = Screen(800, 600, 400.0, 300.0, 600.0)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``tmp_path`` as the working directory; fails the test if anything in it changed
    except what the test declares (``box.allow``)."""

    class Box:
        root = tmp_path
        allow: frozenset[str] = frozenset()

    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    yield Box
    before = Box.before  # type: ignore[attr-defined]
    after = _snapshot(tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= Box.allow, f"files changed outside the command's output: {changed}"


def _arm(box) -> None:  # type: ignore[no-untyped-def]
    box.before = _snapshot(box.root)


def _replay(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["replay", *args])
    return result.exit_code, result.output


def _write_asc(path: Path, *, trial_result: bool = True, end: bool = True,
               outside: bool = False) -> Path:
    with AscWriter(path) as w:
        w.display_coords(900, 0, 0, 799, 599)
        w.start(1000, eyes="R", rate_hz=1000)
        w.message(1000, "TRIALID 1")
        w.fixation("R", 1010, 1400, 500.0, 400.0, 1000)
        w.message(1500, "TRIAL_RESULT 0")
        w.message(1600, "TRIALID 2")
        w.fixation("R", 1610, 1900, 300.0, 300.0, 1000)
        if trial_result:
            w.message(1950, "TRIAL_RESULT 0")
        if end:
            w.end(2000)
        if outside:
            w.fixation("R", 2100, 2300, 100.0, 100.0, 1000)
    return path


# ----------------------------------------------------------------- class 3: EDF


eyelinkio = pytest.importorskip("eyelinkio", reason="eyelinkio (extra eyelink) is not installed")
EDF_DATA = Path(eyelinkio.__file__).parent / "tests" / "data"
CUTS = [0, 11, 100, 262, 300, 4000, -1]


@pytest.mark.parametrize("name", sorted(p.name for p in EDF_DATA.glob("*.edf")))
def test_truncated_edf_is_one_line(box, name: str) -> None:  # type: ignore[no-untyped-def]
    """Truncated copies of the real recordings: each is refused with one line that names
    the file (exit 1), whether the header is cut (checked before the EDF API sees it)
    or the data (the EDF API's own refusal)."""
    data = (EDF_DATA / name).read_bytes()
    paths = []
    for cut in CUTS:
        p = box.root / f"cut{cut}.edf"
        p.write_bytes(data[:cut])
        paths.append(p)
    _arm(box)
    for p in paths:
        code, out = _replay(str(p))
        assert code == 1, out
        assert f"{p}: " in out and "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_edf_library_crash_is_caught(tmp_path: Path) -> None:
    """The EDF API dies (SIGSEGV or SIGBUS) on a header cut at 100 bytes (found by probing
    eyelinkio's own files); read in a child process, that is a ParseError naming the
    file, and this process goes on."""
    from vista.gaze import edf

    p = tmp_path / "cut.edf"
    p.write_bytes((EDF_DATA / "test_raw.edf").read_bytes()[:100])
    with pytest.raises(ParseError, match=r"cut\.edf: the EDF library crashed \(SIG[A-Z]+\)"):
        edf._read_isolated(p, False)
    with pytest.raises(ParseError, match=r"cut\.edf: the EDF header is cut short"):
        edf.read_edf(p)


def _count_fixations(path: str) -> int:
    return len(read_recording(path).fixations)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_edf_read_in_a_daemonic_worker() -> None:
    """Pool workers are daemonic and may not start multiprocessing children; the EDF
    is still read in its own forked child there."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(1) as pool:
        got = pool.map(_count_fixations, [str(EDF_DATA / "test_raw.edf")])
    assert got == [21]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("suffix", [".edf", ".asc"])
def test_fifo_recording_is_refused(box, suffix: str) -> None:  # type: ignore[no-untyped-def]
    p = box.root / f"pipe{suffix}"
    os.mkfifo(p)
    _arm(box)
    code, out = _replay(str(p))
    assert code == 1 and f"{p}: " in out and "not a regular file" in out


# ----------------------------------------------------------------- class 3: ASC


def test_cr_only_asc_reads_like_lf(box) -> None:  # type: ignore[no-untyped-def]
    lf = _write_asc(box.root / "lf.asc")
    cr = box.root / "cr.asc"
    cr.write_bytes(lf.read_bytes().replace(b"\n", b"\r"))
    _arm(box)
    a, b = read_recording(lf), read_recording(cr)
    assert len(b.fixations) == len(a.fixations) == 2
    assert [m.text for m in b.messages] == [m.text for m in a.messages]
    code, out = _replay(str(cr))
    assert code == 0 and "2 fixations" in out and "2 trials" in out


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\r\n\t\r\n", b"** CONVERTED FROM x\n"],
                         ids=["empty", "blank", "blank-crlf", "header-only"])
def test_empty_asc_is_refused(box, content: bytes) -> None:  # type: ignore[no-untyped-def]
    p = box.root / "empty.asc"
    p.write_bytes(content)
    _arm(box)
    code, out = _replay(str(p))
    assert code == 1 and f"{p}: no recording in this file" in out


@pytest.mark.parametrize("kwargs, expected", [
    pytest.param(dict(trial_result=False), "trial '2' has no TRIAL_RESULT", id="trial-unpaired"),
    pytest.param(dict(end=False), "START at 1000 ms without an END", id="no-end"),
    pytest.param(dict(outside=True, end=True), "1 fixations lie outside every recording block",
                 id="outside"),
])
def test_inconsistent_warns_or_refuses(box, kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    p = _write_asc(box.root / "odd.asc", **kwargs)
    _arm(box)
    with pytest.warns(RecordingWarning, match=f"odd.asc: inconsistent recording: .*{expected}"):
        read_recording(p)
    with pytest.raises(ParseError, match=f"odd.asc: inconsistent recording: .*{expected}"):
        read_recording(p, strict=True)
    code, out = _replay(str(p))
    assert code == 0 and f"warning: {p}: inconsistent recording" in out
    code, out = _replay(str(p), "--strict")
    assert code == 1 and f"{p}: inconsistent recording" in out and expected in out


def test_consistent_recording_has_no_issue(tmp_path: Path) -> None:
    rec = read_recording(_write_asc(tmp_path / "ok.asc"))
    assert check_recording(rec) == []


def test_wrapped_times_are_reported(tmp_path: Path) -> None:
    """Times that jump past a day (a clock read across 2**32) are flagged."""
    p = tmp_path / "wrap.asc"
    with AscWriter(p) as w:
        w.start(1000, eyes="R")
        w.fixation("R", 1010, 1400, 5.0, 4.0, 1)
        w.message(2.0 ** 32 - 5, "late")
        w.end(2.0 ** 32)
    with pytest.raises(ParseError, match=r"times span 1193\.0 hours"):
        read_recording(p, strict=True)


# ----------------------------------------------------------------- class 1: paths


def test_imgload_paths_are_only_read(box) -> None:  # type: ignore[no-untyped-def]
    """IMGLOAD paths from a file (relative with ``..``, absolute, a FIFO) are read for
    a header at most: reading, summarising and replaying the recording writes nothing,
    and a FIFO never blocks."""
    outside = box.root / "outside"
    outside.mkdir()
    Image.new("RGB", (40, 20)).save(outside / "real.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(outside / "pipe.png")
    rec_dir = box.root / "rec"
    rec_dir.mkdir()
    p = rec_dir / "r.asc"
    with AscWriter(p) as w:
        w.start(0, eyes="R")
        for k, img in enumerate(["../outside/real.png", str(outside / "pipe.png"),
                                 "../outside/new.png", "/dev/null"]):
            w.message(100 * k, f"TRIALID {k}")
            w.message(100 * k + 1, f"!V IMGLOAD CENTER {img} 400 300")
            w.message(100 * k + 50, "TRIAL_RESULT 0")
        w.end(500)
    _arm(box)
    trials = read_recording(p).trials
    assert trials[0].placement is not None and trials[0].placement.width == 40
    assert [t.placement for t in trials[1:]] == [None, None, None]
    assert _replay(str(p), "--json")[0] == 0
    assert _replay(str(p), "--emit", "--speed", "inf")[0] == 0
    assert not (outside / "new.png").exists()


# ----------------------------------------------------------------- class 5: options


@pytest.mark.parametrize("speed", ["0", "-1", "1e-9", "nan", "1e9", "-inf"])
def test_replay_speed_bounded(box, speed: str) -> None:  # type: ignore[no-untyped-def]
    p = _write_asc(box.root / "r.asc")
    _arm(box)
    code, out = _replay(str(p), "--emit", "--speed", speed)
    assert code == 2 and "--speed" in out and "between 0.001 and 1e+06, or inf" in out


def test_replay_encoding_checked(box) -> None:  # type: ignore[no-untyped-def]
    p = _write_asc(box.root / "r.asc")
    _arm(box)
    code, out = _replay(str(p), "--encoding", "no-such-codec")
    assert code == 2 and "--encoding" in out and "unknown text encoding" in out


@pytest.mark.parametrize("kwargs, message", [
    pytest.param(dict(speed=1e-9), "speed must be between 0.001", id="speed-tiny"),
    pytest.param(dict(speed=math.nan), "speed must be between", id="speed-nan"),
    pytest.param(dict(speed=1e12), "speed must be between", id="speed-huge"),
    pytest.param(dict(start_ms=1e300), "start_ms must be below 2", id="start-huge"),
    pytest.param(dict(start_ms=math.nan), "start_ms must be a finite number", id="start-nan"),
    pytest.param(dict(screen=Screen(100_000, 600, 400.0, 300.0, 600.0)),
                 "screen.width_px must be at most 16384", id="screen-huge"),
])
def test_simulator_options_bounded(box, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    _arm(box)
    screen = kwargs.pop("screen", SCREEN)
    with pytest.raises(ValueError, match=message):
        SimulatedTracker(screen, data_dir=box.root / "host", **kwargs)
    assert not (box.root / "host").exists()


def test_waits_bounded(tmp_path: Path) -> None:
    t = SimulatedTracker(SCREEN, speed=None, rng=0, sampling_rate_hz=0)
    t.connect()
    for bad in (1e12, -1.0, math.nan):
        with pytest.raises(ValueError, match=r"ms must be between 0 and 8\.64e"):
            t.advance(bad)
    r = ReplayTracker(read_asc(_write_asc(tmp_path / "r.asc")), speed=math.inf)
    with pytest.raises(ValueError, match="ms must be between 0 and"):
        r.sleep(1e15)


@pytest.mark.parametrize("name", ["a\nb.png", "a\tb.png", "a\rb.png"])
def test_image_names_refused_before_any_message(tmp_path: Path, name: str) -> None:
    """A newline or tab in an image name would split or garble a message; the tracker
    refuses it before writing anything."""
    from vista.acquisition.display import imgload_message
    from vista.records import Placement

    with pytest.raises(ValueError, match=r"image path .* holds a"):
        imgload_message(tmp_path / name, Placement(0, 0, 10, 10))
    t = SimulatedTracker(SCREEN, speed=None, rng=0, data_dir=tmp_path / "host")
    t.connect()
    t.open_data_file("x")
    before = (tmp_path / "host" / "x.asc").read_bytes()
    with pytest.raises(ValueError, match=r"message .* holds a"):
        t.send_message(f"!V IMGLOAD CENTER {name} 1 1")
    t.close()
    after = (tmp_path / "host" / "x.asc").read_bytes()
    assert b"IMGLOAD" not in after and after.startswith(before)


def test_simulator_unplaceable_image(tmp_path: Path) -> None:
    """An IMGLOAD naming a file that is not an image: one error naming the message."""
    (tmp_path / "x.png").write_bytes(b"no")
    t = SimulatedTracker(SCREEN, speed=None, rng=0)
    t.connect()
    with pytest.raises(ValueError, match="cannot place the image"):
        t.send_message(f"!V IMGLOAD CENTER {tmp_path / 'x.png'} 400 300")


def test_summary_reads_warnings_once(tmp_path: Path) -> None:
    """A consistent recording read through read_recording gives no warning at all."""
    p = _write_asc(tmp_path / "ok.asc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(p)
    assert np.isfinite(rec.fixations.xs).all()


@pytest.mark.parametrize("name", ["../outside", "../../etc/passwd", "/etc/passwd"])
def test_received_file_name_stays_in_the_tracker_folder(tmp_path: Path, name: str) -> None:
    """The name of an earlier data file comes from session.json on --resume: it must
    name a file of the tracker's own folder, never one elsewhere."""
    from vista.errors import PathError

    (tmp_path / "outside.asc").write_text("MSG 1 x\n")
    t = SimulatedTracker(SCREEN, speed=None, rng=0, data_dir=tmp_path / "host")
    t.connect()
    with pytest.raises(PathError, match=r"tracker data file .* lies outside"):
        t.receive_data_file(tmp_path / "got.asc", name=name)
    assert not (tmp_path / "got.asc").exists()
