"""vista's readers and detectors against MNE and pymovements (benchmarks/crosscheck.py).

The comparisons live in ``benchmarks/crosscheck.py`` (which prints the README's
agreement tables); these tests hold vista to them on the small files. MNE and
pymovements are test-only dependencies (dev extra): each test skips, saying which,
when one is absent. The vendored ASC files come from pymovements' test data (MIT
licence, see ``tests/data/pymovements/README.md``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "tests" / "data" / "pymovements"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crosscheck", ROOT / "benchmarks" / "crosscheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cc() -> ModuleType:
    pytest.importorskip("mne", reason="MNE (dev extra) is the reference reader")
    pytest.importorskip("pymovements", reason="pymovements (dev extra) is the reference reader")
    return _script()


def _rows(cc: ModuleType, path: Path) -> dict[tuple[str, str], dict]:
    return {(r["reader"], r["kind"]): r for r in cc.compare_readers(path)}


def test_binocular_asc_with_calibration_agrees_event_by_event(cc: ModuleType) -> None:
    """pymovements' binocular example: real EyeLink Portable Duo output, with a
    calibration block and multi-line ``!CAL`` output before the recording."""
    path = VENDORED / "eyelink_binocular_example.asc"
    assert "CALIBRATION (HV9,P-CR)" in path.read_text()
    rows = _rows(cc, path)
    for reader in ("MNE", "pymovements"):
        for kind in ("fixation", "saccade", "blink", "messages", "TRIALIDs"):
            r = rows[(reader, kind)]
            assert r["vista"] == r["other"] == r["matched"] > 0, r
    assert rows[("pymovements", "messages")]["vista"] == 109  # the !CAL lines included


@pytest.mark.parametrize("name", ["eyelink_monocular_example.asc",
                                  "eyelink_monocular_2khz_example.asc"])
def test_monocular_asc_agrees_where_the_readers_can(cc: ModuleType, name: str) -> None:
    """pymovements reads every event and message as vista does (message offsets
    applied). MNE lays the 16 samples of this 185 s block end to end, so its time axis
    ends 16 ms in: everything it keeps matches, the rest lies past that end."""
    rows = _rows(cc, VENDORED / name)
    for kind in ("fixation", "saccade", "messages", "TRIALIDs"):
        r = rows[("pymovements", kind)]
        assert r["vista"] == r["other"] == r["matched"], r
    for kind in ("fixation", "saccade", "messages"):
        m = rows[("MNE", kind)]
        late = int(m["note"].split()[0]) if "after MNE's" in m["note"] else 0
        cut = 1 if kind == "fixation" else 0  # the one running past MNE's end, cut short
        assert m["matched"] + late + cut == m["vista"], m


def test_simulated_session_asc_agrees_fully(cc: ModuleType, tmp_path: Path) -> None:
    """vista's ASC writer, as the simulated tracker uses it, read by all three."""
    rows = _rows(cc, cc.simulated_asc(tmp_path))
    split = rows.pop(("pymovements", "trial of each sample"))
    for (reader, kind), r in rows.items():
        assert r["vista"] == r["other"] == r["matched"], (reader, kind, r)
    assert rows[("MNE", "fixation")]["vista"] > 20
    # each sample in the same trial, but for the samples of the very millisecond a trial
    # opens or closes (pymovements goes by file order, vista by time)
    at_edge = int(split["note"].split()[0]) if split["note"] else 0
    assert split["matched"] + at_edge == split["vista"] > 10_000 and at_edge <= 4


def test_real_recording_written_as_asc_agrees(cc: ModuleType, tmp_path: Path) -> None:
    """eyelinkio's test_2_raw.edf (one block, 1000 Hz), written as ASC by vista."""
    pytest.importorskip("eyelinkio", reason="the EDF recordings come with eyelinkio")
    edf = next(e for e in cc.eyelinkio_edfs() if e.name == "test_2_raw.edf")
    rows = _rows(cc, cc.edf_as_asc(edf, tmp_path))
    for reader in ("MNE", "pymovements"):
        for kind in ("fixation", "saccade", "blink", "TRIALIDs"):
            r = rows[(reader, kind)]
            assert r["vista"] == r["other"] == r["matched"] > 0, (reader, kind, r)
    split = rows[("pymovements", "trial of each sample")]
    assert split["vista"] == split["matched"] > 100_000


def test_detectors_agree_with_pymovements(cc: ModuleType) -> None:
    """On the first 30 s of test_2_raw.edf's samples (pymovements' I-DT is slow on
    long fixations): I-VT on the same velocity signal finds the same fixations (the
    segmentation rule is the same); I-DT's onsets match within 2 samples for at least
    90% (its window rules differ by a sample, see the script)."""
    pytest.importorskip("eyelinkio", reason="the EDF recordings come with eyelinkio")
    edf = next(e for e in cc.eyelinkio_edfs() if e.name == "test_2_raw.edf")
    rows = {(r["method"], r["variant"]): r for r in cc.compare_detectors(edf, first_ms=30_000)}
    same = rows[("ivt", "vista velocity")]
    assert same["vista"] == same["pymovements"] > 10
    assert same["vista_matched"] == same["pm_matched"] == same["ends_within_2"] == 1.0
    idt = rows[("idt", "")]
    assert idt["vista_matched"] >= 0.9 and idt["pm_matched"] >= 0.9
    own = rows[("ivt", "pymovements velocity")]
    assert own["pymovements"] > same["pymovements"]  # 2-sample differences split fixations


def test_vendored_files_carry_their_licence() -> None:
    readme = (VENDORED / "README.md").read_text()
    assert "MIT" in readme and "pymovements" in readme
    assert "Permission is hereby granted" in (VENDORED / "LICENSE.txt").read_text()
    for f in VENDORED.glob("*.asc"):
        assert f.name in readme
