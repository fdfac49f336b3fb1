"""Stimulus display: placement geometry, and pygame drawing headless (SDL dummy driver)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vista.acquisition.display import fit_placement, imgload_message
from vista.records import Placement, Screen


@pytest.mark.parametrize(
    "image_size, screen_size, fit, expected",
    [
        pytest.param((768, 1024), (1920, 1080), "fit", (240, 0, 1440, 1080), id="fit-up"),
        pytest.param((768, 1024), (1920, 1080), "shrink", (448, 156, 1024, 768), id="shrink-no-op"),
        pytest.param((768, 1024), (1920, 1080), "none", (448, 156, 1024, 768), id="native"),
        pytest.param((2000, 1000), (1920, 1080), "shrink", (690, 0, 540, 1080), id="shrink"),
        pytest.param((100, 333), (1920, 1080), "fit", (0, 252, 1920, 576), id="wide"),
        # 1920 * 301/1000 = 577.9 -> 578 (parity of 1080 kept): top = 251
        pytest.param((301, 1000), (1920, 1080), "fit", (0, 251, 1920, 578), id="parity"),
        pytest.param((101, 101), (1920, 1080), "none", (909, 489, 101, 101), id="odd-native"),
    ],
)
def test_fit_placement(image_size, screen_size, fit, expected) -> None:
    """Reference values worked by hand: scale = min(W / w, H / h), centred."""
    p = fit_placement(image_size, screen_size, fit=fit)
    assert (p.left, p.top, p.width, p.height) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(fit="stretch"), "fit must be one of", id="fit"),
        pytest.param(dict(image_size=(0, 10)), "image height", id="image"),
        pytest.param(dict(screen_size=(10, -1)), "screen height", id="screen"),
    ],
)
def test_fit_placement_errors(kwargs, message) -> None:
    args = dict(image_size=(10, 10), screen_size=(100, 100), fit="fit")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fit_placement(args["image_size"], args["screen_size"], fit=args["fit"])


@pytest.mark.parametrize("image_size", [(768, 1024), (101, 101), (301, 1000), (333, 100)])
def test_imgload_message_round_trip(image_size) -> None:
    """The placement read back from the IMGLOAD message by the gaze reader is the one drawn."""
    from vista.gaze.recording import parse_imgload

    p = fit_placement(image_size, (1920, 1080), fit="none" if image_size[0] == 101 else "fit")
    mode, path, (x, y, w, h) = parse_imgload(imgload_message("/data/my image.png", p))
    assert (mode, path) == ("CENTER", "/data/my image.png")
    assert Placement(x - w / 2, y - h / 2, w, h) == p


@pytest.fixture
def sdl_dummy(monkeypatch):
    pytest.importorskip("pygame", reason="pygame (extra eyelink) is not installed")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


def test_display_shows_image_scaled_and_centred(sdl_dummy, tmp_path) -> None:
    from PIL import Image

    from vista.acquisition.display import StimulusDisplay

    arr = np.zeros((60, 80, 3), np.uint8)
    arr[..., 0] = 250  # red image
    Image.fromarray(arr).save(tmp_path / "red.png")
    screen = Screen(320, 240, 300.0, 225.0, 600.0)
    with StimulusDisplay(screen, fullscreen=False, background=(0, 0, 255)) as d:
        p = d.show_image(tmp_path / "red.png")
        assert p == Placement(0, 0, 320, 240)  # 80x60 scaled by 4
        shot = d.screenshot()
        assert shot.shape == (240, 320, 3)
        assert (shot[..., 0] > 240).all()
    with StimulusDisplay(screen, fullscreen=False, background=(0, 0, 255), fit="none") as d:
        p = d.show_image(tmp_path / "red.png")
        assert p == Placement(120, 90, 80, 60)
        shot = d.screenshot()
        inside = shot[90:150, 120:200]
        assert (inside[..., 0] > 240).all() and (inside[..., 2] < 10).all()
        outside = np.ones(shot.shape[:2], bool)
        outside[90:150, 120:200] = False
        assert (shot[outside] == (0, 0, 255)).all()
        d.draw_target(160, 120)
        assert tuple(d.screenshot()[120, 160]) == (255, 255, 255)
        d.show_text("Describe the picture")
        assert d.poll_key() is None
        with pytest.raises(FileNotFoundError, match=r"missing\.png"):
            d.show_image(tmp_path / "missing.png")


def test_display_needs_open(sdl_dummy) -> None:
    from vista.acquisition.display import StimulusDisplay

    d = StimulusDisplay(Screen(320, 240, 300.0, 225.0, 600.0))
    with pytest.raises(RuntimeError, match="open"):
        d.clear()
    with pytest.raises(ValueError, match="background"):
        StimulusDisplay(Screen(320, 240, 300.0, 225.0, 600.0), background=(0, 0))


def test_session_with_display(sdl_dummy, tmp_path) -> None:
    """A simulated session on a (headless) display: the placements in the journal are
    the ones drawn."""
    import json

    from PIL import Image

    from vista.acquisition.display import StimulusDisplay
    from vista.acquisition.session import run_session

    (tmp_path / "stim").mkdir()
    Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(tmp_path / "stim" / "a.png")
    screen = Screen(400, 300, 300.0, 225.0, 600.0)
    display = StimulusDisplay(screen, fullscreen=False)
    with display:
        run_session(tmp_path / "stim", participant="D1", screen=screen, out=tmp_path / "s",
                    display=display, time_limit_s=2, tracker="simulated")
    (entry,) = [json.loads(line) for line in (tmp_path / "s" / "trials.jsonl").read_text().splitlines()]
    assert entry["placement"] == {"left": 0.0, "top": 0.0, "width": 400.0, "height": 300.0}


def test_calibration_graphics_hook() -> None:
    """pylink's custom-display hook draws targets on the display (subprocess: pylink's
    graphics library must not take the test process down)."""
    pytest.importorskip("pygame", reason="pygame (extra eyelink) is not installed")
    pytest.importorskip("pylink", reason="sr-research-pylink (extra eyelink) is not installed")
    code = (
        "import os\n"
        "os.environ['SDL_VIDEODRIVER'] = 'dummy'\n"
        "from vista.acquisition.display import StimulusDisplay\n"
        "from vista.acquisition.eyelink import calibration_graphics\n"
        "from vista.records import Screen\n"
        "with StimulusDisplay(Screen(320, 240, 300, 225, 600), fullscreen=False) as d:\n"
        "    g = calibration_graphics(d)\n"
        "    import pylink\n"
        "    assert isinstance(g, pylink.EyeLinkCustomDisplay)\n"
        "    g.setup_cal_display(); g.draw_cal_target(100, 80)\n"
        "    print(tuple(d.screenshot()[80, 100].tolist()), g.get_input_key())\n"
        "    g.erase_cal_target(); g.exit_cal_display()\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("pylink's custom display hook hung")
    if out.returncode != 0 and ("libSDL" in out.stderr or "cannot open shared object" in out.stderr):
        pytest.skip(f"pylink's SDL2 libraries are missing: {out.stderr.strip().splitlines()[-1]}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "(255, 255, 255) []"
