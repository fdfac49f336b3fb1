"""The EyeLink tracker: validation messages, EDF names, and pylink's dummy mode.

pylink runs in a subprocess with a timeout, so that a hang in SR Research's library
(``doTrackerSetup`` waits forever in dummy mode) cannot stall the test suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vista.acquisition.eyelink import EyeLinkTracker, parse_validation
from vista.records import Screen

SCREEN = Screen(800, 600, 400.0, 300.0, 600.0)
needs_pylink = pytest.mark.skipif(
    importlib.util.find_spec("pylink") is None,
    reason="sr-research-pylink (extra eyelink) is not installed",
)


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.35 avg. 0.81 max OFFSET 0.12 deg. "
                     "3.2,-1.5 pix.", {"avg_error_deg": 0.35, "max_error_deg": 0.81}, id="good"),
        pytest.param("!CAL VALIDATION HV5 L LEFT POOR ERROR 1.72 avg. 3.10 max OFFSET 1.1 deg.",
                     {"avg_error_deg": 1.72, "max_error_deg": 3.10}, id="poor"),
        pytest.param("", None, id="empty"),
        pytest.param("!CAL VALIDATION ABORTED", None, id="aborted"),
    ],
)
def test_parse_validation(text, expected) -> None:
    """The layout of the validation result line the EyeLink Host software writes into
    EDF files (``!CAL VALIDATION <type> <eye> ... ERROR <avg> avg. <max> max OFFSET``,
    as edf2asc prints it); the numbers here are made up."""
    assert parse_validation(text) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(sampling_rate_hz=300), "sampling_rate_hz must be one of", id="rate"),
        pytest.param(dict(calibration_type="HV7"), "calibration_type must be one of", id="cal"),
        pytest.param(dict(eye="X"), "eye must be one of", id="eye"),
        pytest.param(dict(retries=10**9), "retries must be at most 100", id="retries"),
        pytest.param(dict(retries=0), "retries must be >= 1", id="no-retries"),
    ],
)
def test_eyelink_options(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        EyeLinkTracker(SCREEN, **kwargs)


def test_eyelink_not_connected() -> None:
    from vista.acquisition.tracker import Tracker

    t = EyeLinkTracker(SCREEN, address=None)
    assert isinstance(t, Tracker)
    assert t.kind == "dummy" and t.dummy and t.data_suffix == ".asc"
    with pytest.raises(RuntimeError, match="connect"):
        t.send_message("x")
    t.close()  # never connected: nothing to do


def _run(code: str, *, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", **(env or {}))
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pylink did not return within {timeout} s")
    if out.returncode != 0 and "cannot open shared object" in out.stderr:
        pytest.skip("pylink's SDL2 libraries (libsdl2-2.0-0, libsdl2-gfx/mixer/ttf) are missing")
    return out


@needs_pylink
def test_dummy_mode_smoke(tmp_path) -> None:
    """The whole protocol against pylink's dummy mode: calibration and the drift check
    are skipped, the messages land in a local ASC log that reads back."""
    code = f"""
import json, math, pathlib
from vista.acquisition.eyelink import EyeLinkTracker
from vista.records import Screen
d = pathlib.Path({str(tmp_path)!r})
t = EyeLinkTracker(Screen(800, 600, 400.0, 300.0, 600.0), address=None, data_dir=d / "host")
t.connect()
cal = t.calibrate()
drift = t.drift_check(400, 300)
t.open_data_file("P01_1")
t.start_recording()
t0 = t.tracker_time_ms()
t.send_message("TRIALID 1")
t.send_message("TRIAL_RESULT 0")
sample = t.newest_sample()
t.stop_recording()
t.close_data_file()
p = t.receive_data_file(d / "recording.edf")
t.close(); t.close()
print(json.dumps({{"cal": [math.isnan(v) for v in cal.values()], "drift": drift,
                  "file": p.name, "sample": sample, "t0": t0}}))
"""
    out = _run(code)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"cal": [True, True], "drift": 0.0, "file": "recording.asc", "sample": None,
                      "t0": result["t0"]}
    assert "Pylink" not in out.stdout  # the banner is kept out of our output
    from vista.gaze.io import read_recording

    rec = read_recording(tmp_path / "recording.asc")
    assert [m.text for m in rec.messages] == ["DISPLAY_COORDS 0 0 799 599", "TRIALID 1",
                                              "TRIAL_RESULT 0"]
    assert rec.trials[0].trial_id == "1" and len(rec.fixations) == 0


@needs_pylink
def test_record_dummy_cli(tmp_path) -> None:
    """`vista record --dummy` runs the lab protocol end to end with no tracker (and a
    headless display)."""
    from PIL import Image

    (tmp_path / "stim").mkdir()
    for i in range(2):
        Image.fromarray(np.full((30, 40, 3), 60 * i, np.uint8)).save(tmp_path / "stim" / f"{i}.png")
    code = (
        "from vista.cli import main\n"
        f"main(['record', '--participant', 'D01', '--images', {str(tmp_path / 'stim')!r}, "
        f"'--dummy', '--out', {str(tmp_path / 's')!r}, '--time-limit-s', '0.3', "
        "'--screen-px', '400', '300'])\n"
    )
    out = _run(code, timeout=120)
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "s" / "session.json").read_text())
    assert meta["status"] == "complete" and meta["tracker"]["kind"] == "dummy"
    assert meta["recording"] == "recording.asc"
    lines = (tmp_path / "s" / "trials.jsonl").read_text().splitlines()
    trials = [json.loads(line) for line in lines]
    assert [t["trial_id"] for t in trials] == ["1", "2"]
    assert all(250 <= t["end_ms"] - t["start_ms"] < 5000 for t in trials)
    assert trials[0]["placement"] == {"left": 0.0, "top": 0.0, "width": 400.0, "height": 300.0}
    from vista.gaze.io import read_recording

    rec = read_recording(tmp_path / "s" / "recording.asc")
    assert [t.trial_id for t in rec.trials] == ["1", "2"]
    texts = [m.text.split()[0] for m in rec.trials[0].messages]
    assert {"TRIALID", "!V", "DISPLAY_COORDS", "SYNCTIME", "TRIAL_RESULT"} <= set(texts)


class _FakeEyeLink:
    """Stands in for ``pylink.EyeLink`` on real hardware: records the calls."""

    def __init__(self, address):
        self.address = address
        self.calls: list[tuple] = []
        self.receive_failures = 2

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, *args))
            return 0

        return call

    def getCalibrationMessage(self):
        return "!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.41 avg. 0.95 max OFFSET 0.2 deg."

    def doDriftCorrect(self, x, y, draw, allow_setup):
        self.calls.append(("doDriftCorrect", x, y))
        return 0

    def trackerTime(self):
        return 123456

    def receiveDataFile(self, src, dest):
        self.calls.append(("receiveDataFile", src))
        if self.receive_failures:
            self.receive_failures -= 1
            raise RuntimeError("link busy")
        with open(dest, "wb") as fh:
            fh.write(b"EDF")
        return 3


def test_eyelink_protocol_with_fake_pylink(tmp_path, monkeypatch) -> None:
    """The commands sent to a real tracker, the validation parsed from its message, and
    the EDF transfer retried (pylink replaced by a recording fake: no hardware here)."""
    import types

    import vista.acquisition.eyelink as el_mod

    fake = types.ModuleType("pylink")
    trackers: list[_FakeEyeLink] = []
    fake.EyeLink = lambda address: trackers.append(_FakeEyeLink(address)) or trackers[-1]
    fake.ESC_KEY = 27
    fake.pumpDelay = lambda ms: None
    monkeypatch.setitem(sys.modules, "pylink", fake)
    monkeypatch.setattr(el_mod.time, "sleep", lambda s: None)

    t = EyeLinkTracker(SCREEN, address="100.1.1.1", sampling_rate_hz=500, calibration_type="HV13")
    t.connect()
    (el,) = trackers
    commands = [c[1] for c in el.calls if c[0] == "sendCommand"]
    assert "sample_rate 500" in commands
    assert "screen_pixel_coords = 0 0 799 599" in commands
    assert "calibration_type = HV13" in commands
    assert any(c.startswith("file_event_filter = ") and "FIXATION" in c for c in commands)
    assert any(c.startswith("link_sample_data = ") for c in commands)
    assert t.calibrate() == {"avg_error_deg": 0.41, "max_error_deg": 0.95}
    assert ("doTrackerSetup", 800, 600) in el.calls
    assert t.drift_check(400.4, 299.6) == pytest.approx(0.2)
    assert ("doDriftCorrect", 400, 300) in el.calls
    with pytest.raises(ValueError, match="EDF name"):
        t.open_data_file("toolongname")
    t.open_data_file("P01_1")
    assert ("openDataFile", "P01_1.EDF") in el.calls
    t.start_recording()
    t.send_message("TRIALID 1")
    assert t.tracker_time_ms() == 123456.0
    t.stop_recording()
    t.close_data_file()
    out = t.receive_data_file(tmp_path / "recording.asc")
    assert out == tmp_path / "recording.edf" and out.read_bytes() == b"EDF"
    assert [c for c in el.calls if c[0] == "receiveDataFile"] == [("receiveDataFile", "P01_1.EDF")] * 3
    t.close()
    assert el.calls[-1][0] == "close"
