"""EDF reading, cross-checked event by event against eyelinkio's own frames.

The reference is ``eyelinkio.read_edf`` on the real recordings shipped in the
eyelinkio wheel (``eyelinkio/tests/data``). It reports times in seconds on an axis
rebuilt as ``sample_index / rate`` with event times interpolated onto it; vista keeps
the tracker clock in ms, so each vista time ``t`` must satisfy
``numpy.interp(t, vista_sample_times, arange(n) / rate) == eyelinkio_time`` exactly.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from vista.errors import MissingExtraError, ParseError
from vista.gaze.checks import RecordingWarning, check_recording
from vista.gaze.io import read_recording
from vista.gaze.recording import Recording

eyelinkio = pytest.importorskip(
    "eyelinkio", reason="the eyelink extra (eyelinkio) is needed to read EDF files")

DATA = Path(eyelinkio.__file__).parent / "tests" / "data"
FILES = ["test_raw.edf", "test_2_raw.edf", "test_raw_binocular.edf"]

pytestmark = pytest.mark.eyelink


@pytest.fixture(scope="module", params=FILES)
def pair(request: pytest.FixtureRequest) -> tuple[Recording, dict]:
    path = DATA / request.param
    if not path.is_file():
        pytest.skip(f"{path} is not shipped with this eyelinkio version")
    with warnings.catch_warnings():  # the binocular file's last trial is cut (tested below)
        warnings.simplefilter("ignore", RecordingWarning)
        rec = read_recording(path, samples=True)
    return rec, eyelinkio.read_edf(str(path))


def test_consistency_of_the_shipped_files() -> None:
    """The checks on real recordings: two are consistent (trials delimited by TRIALID
    alone); the binocular one ends inside its last trial, which is said, naming it."""
    for name in FILES[:2]:
        assert check_recording(read_recording(DATA / name)) == []
    with pytest.warns(RecordingWarning, match="test_raw_binocular.edf: inconsistent "
                                              "recording: trial '15' has no TRIAL_RESULT"):
        read_recording(DATA / "test_raw_binocular.edf")


def _axis(rec: Recording, ref: dict) -> tuple[np.ndarray, np.ndarray]:
    assert rec.samples is not None
    return rec.samples.times_ms, np.arange(len(ref["times"])) / ref["info"]["sfreq"]


def _ordered(arr: np.ndarray) -> np.ndarray:
    """eyelinkio keeps file order (eyes interleaved); vista sorts by start, then eye."""
    return arr[np.lexsort((arr["eye"], arr["stime"]))]


def _vista_order(starts: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    return np.lexsort((eyes == "R", starts))


def test_header(pair: tuple[Recording, dict]) -> None:
    rec, ref = pair
    info = ref["info"]
    assert rec.sampling_rate_hz == info["sfreq"]
    assert rec.eyes == {"LEFT_EYE": "L", "RIGHT_EYE": "R", "BINOCULAR": "LR"}[info["eye"]]
    assert rec.display_coords is not None
    w = rec.display_coords[2] - rec.display_coords[0] + 1
    h = rec.display_coords[3] - rec.display_coords[1] + 1
    assert [w, h] == list(info["screen_coords"])


def test_samples_match(pair: tuple[Recording, dict]) -> None:
    rec, ref = pair
    t, axis = _axis(rec, ref)
    assert t.size == len(ref["times"])
    np.testing.assert_array_equal(axis, ref["times"])
    assert (np.diff(t) > 0).all()
    fields = ref["info"]["sample_fields"]
    for k, eye in enumerate(rec.eyes):
        suffix = "" if len(rec.eyes) == 1 else ("_left" if eye == "L" else "_right")
        for name, col in (("xpos", rec.samples.xs), ("ypos", rec.samples.ys)):
            expected = ref["samples"][fields.index(name + suffix)]
            np.testing.assert_array_equal(col[:, k], expected.astype(np.float64))


def test_fixations_match(pair: tuple[Recording, dict]) -> None:
    rec, ref = pair
    t, axis = _axis(rec, ref)
    exp = _ordered(ref["discrete"]["fixations"])
    f = rec.fixations
    f = f.select(_vista_order(f.starts_ms, f.eyes))
    assert len(f) == exp.size > 0
    np.testing.assert_array_equal(np.interp(f.starts_ms, t, axis), exp["stime"])
    np.testing.assert_array_equal(np.interp(f.ends_ms, t, axis), exp["etime"])
    np.testing.assert_array_equal(f.xs, exp["axp"])
    np.testing.assert_array_equal(f.ys, exp["ayp"])
    assert f.eyes.tolist() == ["LR"[int(e)] for e in exp["eye"]]
    assert (f.starts_ms == np.round(f.starts_ms)).all()  # integer ms on the tracker clock


def test_saccades_and_blinks_match(pair: tuple[Recording, dict]) -> None:
    rec, ref = pair
    t, axis = _axis(rec, ref)
    exp = _ordered(ref["discrete"]["saccades"])
    s = rec.saccades
    order = _vista_order(s.starts_ms, s.eyes)
    assert len(s) == exp.size
    np.testing.assert_array_equal(np.interp(s.starts_ms[order], t, axis), exp["stime"])
    np.testing.assert_array_equal(np.interp(s.ends_ms[order], t, axis), exp["etime"])
    for mine, theirs in ((s.start_xs, "sxp"), (s.end_ys, "eyp"), (s.peak_velocities_deg_s, "pv")):
        expected = exp[theirs].copy()
        expected[expected >= 1e8 - 1] = np.nan  # eyelinkio leaves MISSING_DATA in events
        np.testing.assert_array_equal(mine[order], expected)
    b = rec.blinks
    expb = _ordered(ref["discrete"]["blinks"])
    order = _vista_order(b.starts_ms, b.eyes)
    np.testing.assert_array_equal(np.interp(b.starts_ms[order], t, axis), expb["stime"])
    np.testing.assert_array_equal(np.interp(b.ends_ms[order], t, axis), expb["etime"])


def test_messages_match(pair: tuple[Recording, dict]) -> None:
    rec, ref = pair
    t, axis = _axis(rec, ref)
    exp = ref["discrete"]["messages"]
    assert len(rec.messages) == exp.size
    order = np.argsort(exp["stime"], kind="stable")
    assert [m.text for m in rec.messages] == [
        exp["msg"][i].decode("ascii").rstrip("\n").strip() for i in order]
    times = np.array([m.time_ms for m in rec.messages])
    np.testing.assert_array_equal(np.interp(times, t, axis), exp["stime"][order])


def test_trials_and_events_only_read() -> None:
    """Events-only reading gives the same events; the TRIALID messages give trials."""
    path = DATA / "test_2_raw.edf"
    full = read_recording(path, samples=True)
    fast = read_recording(path)
    assert fast.samples is None
    assert fast.fixations == full.fixations and fast.messages == full.messages
    ids = [m.text.split()[1] for m in fast.messages if m.text.startswith("TRIALID")]
    assert [t.trial_id for t in fast.trials] == ids and len(ids) > 1
    for trial in fast.trials:
        assert trial.start_ms is not None and trial.end_ms is not None
        inside = (fast.fixations.starts_ms >= trial.start_ms) & (
            fast.fixations.starts_ms < trial.end_ms)
        assert len(trial.fixations) == int(inside.sum())


def test_offset_form_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message sent as ``"40 TRIALID n"`` (SR Research's offset form) marks an event
    40 ms before the message time, in the EDF as in its ASC conversion."""
    import vista.gaze.edf as edf_module

    path = DATA / "test_2_raw.edf"
    plain = read_recording(path)
    text = edf_module._text
    monkeypatch.setattr(edf_module, "_text", lambda e: (
        "40 " + text(e) if text(e).startswith("TRIALID") else text(e)))
    shifted = read_recording(path)
    before = [m.time_ms for m in plain.messages if m.text.startswith("TRIALID")]
    after = [m.time_ms for m in shifted.messages if m.text.startswith("TRIALID")]
    assert len(after) == len(before) > 1
    assert after == [t - 40 for t in before]
    assert [t.trial_id for t in shifted.trials] == [t.trial_id for t in plain.trials]


def test_edf_to_asc_round_trip(tmp_path: Path) -> None:
    """An EDF written as ASC with the project's writer reads back as the same events."""
    from vista.gaze.asc import read_asc, write_asc

    rec = read_recording(DATA / "test_raw.edf", samples=True)
    write_asc(rec, tmp_path / "raw.asc")
    back = read_asc(tmp_path / "raw.asc", samples=True)
    f, g = rec.fixations, back.fixations
    assert g.starts_ms.tolist() == f.starts_ms.tolist() and g.ends_ms.tolist() == f.ends_ms.tolist()
    np.testing.assert_allclose(g.xs, f.xs, atol=0.05)
    assert back.saccades.starts_ms.tolist() == rec.saccades.starts_ms.tolist()
    assert back.blinks.ends_ms.tolist() == rec.blinks.ends_ms.tolist()
    assert [m.time_ms for m in back.messages] == [m.time_ms for m in rec.messages]
    assert [t.trial_id for t in back.trials] == [t.trial_id for t in rec.trials]
    assert back.samples is not None and rec.samples is not None
    np.testing.assert_array_equal(back.samples.times_ms, rec.samples.times_ms)
    np.testing.assert_allclose(back.samples.xs, rec.samples.xs, atol=0.05)


def test_not_an_edf(tmp_path: Path) -> None:
    (tmp_path / "x.edf").write_text("MSG 1 hello\n")
    with pytest.raises(ParseError, match="not an EDF file") as err:
        read_recording(tmp_path / "x.edf")
    assert err.value.path == str(tmp_path / "x.edf")
    with pytest.raises(FileNotFoundError):
        read_recording(tmp_path / "missing.edf")


def test_truncated_edf_is_a_parse_error_or_reads(tmp_path: Path) -> None:
    data = (DATA / "test_raw.edf").read_bytes()
    (tmp_path / "t.edf").write_bytes(data[: len(data) // 3])
    try:
        rec = read_recording(tmp_path / "t.edf")
    except ParseError as exc:
        assert "t.edf" in str(exc)
    else:  # the EDF API reads what is there
        assert len(rec.fixations) <= 21


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "eyelinkio", None)
    with pytest.raises(MissingExtraError, match=r"vista-gaze\[eyelink\]"):
        read_recording(DATA / "test_raw.edf")


def test_no_stdout_noise(capfd: pytest.CaptureFixture[str]) -> None:
    """The EDF API prints 'loadEvents = 1' from C; it must not reach stdout."""
    read_recording(DATA / "test_raw.edf")
    assert capfd.readouterr().out == ""
