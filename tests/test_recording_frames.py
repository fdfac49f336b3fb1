"""Recordings as DataFrames: fixations, saccades, blinks, messages and the per-trial
table, with the documented columns and dtypes, round-tripping through the CSV and JSON
outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vista.cli import cli
from vista.gaze import recording as R
from vista.gaze.asc import AscWriter, write_asc
from vista.gaze.io import read_recording

pd = pytest.importorskip("pandas", reason="pandas (extra frames) is not installed")


@pytest.fixture
def rec_path(tmp_path: Path) -> Path:
    p = tmp_path / "r.asc"
    with AscWriter(p) as w:
        w.display_coords(0, 0, 0, 799, 599)
        w.start(1000, eyes="LR", rate_hz=500)
        w.message(1000, "TRIALID a b")
        w.message(1001, "!V IMGLOAD CENTER pic, with comma.png 400 300 200 100")
        w.message(1002, "SYNCTIME")
        w.fixation("L", 1010, 1400, 500.0, 400.0, 1000)
        w.fixation("R", 1012, 1398, 502.5, 401.0, 990)
        w.saccade("R", 1401, 1440, 502.5, 401.0, 300.0, 200.0, 7.5, 320.0)
        w.blink("L", 1450, 1520)
        w.message(1600, 'TRIAL_RESULT 0 "quoted", text')
        w.message(1700, "TRIALID 2")
        w.fixation("R", 1710, 1900, 10.0, 20.0, 900)
        w.message(1990, "TRIAL_RESULT 0")
        w.end(2000)
    return p


def _check_dtypes(df: pd.DataFrame, columns: dict[str, str]) -> None:
    assert list(df.columns) == list(columns)
    assert {c: str(df[c].dtype) for c in df.columns} == columns


def test_event_frames(rec_path: Path) -> None:
    rec = read_recording(rec_path)
    fx = rec.fixations.to_frame()
    _check_dtypes(fx, R.FIXATION_COLUMNS)
    assert fx["x"].tolist() == [500.0, 502.5, 10.0] and fx["eye"].tolist() == ["L", "R", "R"]
    assert fx["duration_ms"].tolist() == (rec.fixations.ends_ms - rec.fixations.starts_ms).tolist()
    sc = rec.saccades.to_frame()
    _check_dtypes(sc, R.SACCADE_COLUMNS)
    assert sc.iloc[0][["end_x", "amplitude_deg", "peak_velocity_deg_s"]].tolist() == [300, 7.5, 320]
    _check_dtypes(rec.blinks.to_frame(), R.BLINK_COLUMNS)
    ms = rec.messages.to_frame()
    _check_dtypes(ms, R.MESSAGE_COLUMNS)
    assert ms["text"].tolist() == [m.text for m in rec.messages]


@pytest.mark.parametrize("kind, columns", [
    ("fixations", R.FIXATION_COLUMNS), ("saccades", R.SACCADE_COLUMNS),
    ("blinks", R.BLINK_COLUMNS), ("messages", R.MESSAGE_COLUMNS),
])
def test_csv_round_trip(rec_path: Path, kind: str, columns: dict[str, str]) -> None:
    df = getattr(read_recording(rec_path), kind).to_frame()
    back = pd.read_csv(io.StringIO(df.to_csv(index=False)), dtype=columns,
                       keep_default_na=False, na_values={c: [""] for c in columns
                                                         if columns[c] != "string"})
    pd.testing.assert_frame_equal(back, df)


def test_asc_round_trip_keeps_frames(rec_path: Path, tmp_path: Path) -> None:
    """write_asc then read back: the same tables."""
    rec = read_recording(rec_path)
    write_asc(rec, tmp_path / "again.asc")
    back = read_recording(tmp_path / "again.asc")
    for kind in ("fixations", "saccades", "blinks", "messages"):
        pd.testing.assert_frame_equal(getattr(back, kind).to_frame(),
                                      getattr(rec, kind).to_frame())
    pd.testing.assert_frame_equal(back.trials_frame(), rec.trials_frame())


def test_trials_frame_from_replay_csv(rec_path: Path) -> None:
    rec = read_recording(rec_path)
    df = rec.trials_frame()
    _check_dtypes(df, R.TRIAL_COLUMNS)
    assert df["trial_id"].tolist() == ["a b", "2"]
    assert df["image"].iloc[0] == "pic, with comma.png" and df["image"].isna().iloc[1]
    assert df.iloc[0][["left", "top", "width", "height"]].tolist() == [300, 250, 200, 100]
    assert np.isnan(df["left"].iloc[1]) and df["fixations"].tolist() == [2, 1]
    result = CliRunner().invoke(cli, ["replay", str(rec_path), "--csv"])
    assert result.exit_code == 0, result.output
    back = pd.read_csv(io.StringIO(result.output), dtype=R.TRIAL_COLUMNS)
    pd.testing.assert_frame_equal(back, df)


def test_trials_frame_from_replay_json(rec_path: Path) -> None:
    df = read_recording(rec_path).trials_frame()
    result = CliRunner().invoke(cli, ["replay", str(rec_path), "--json"])
    trials = json.loads(result.output)["trials"]
    rows = [{**{k: t[k] for k in ("trial_id", "image", "start_ms", "end_ms", "duration_ms",
                                  "fixations", "messages")},
             **(t["placement"] or dict.fromkeys(("left", "top", "width", "height"),
                                                np.nan))} for t in trials]
    back = pd.DataFrame(rows)[list(R.TRIAL_COLUMNS)].astype(R.TRIAL_COLUMNS)
    pd.testing.assert_frame_equal(back, df)


def test_csv_and_json_together_refused(rec_path: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(rec_path), "--csv", "--json"])
    assert result.exit_code == 2 and "--json and --csv" in result.output
