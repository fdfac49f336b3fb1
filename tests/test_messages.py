"""The EyeLink message protocol (vista.gaze.messages): what is sent is read back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vista.gaze import messages as M
from vista.records import Fixations, Message, Placement


@pytest.mark.parametrize("path", ["/data/a.png", "images/my image.jpg", "C:/x y/z.png"])
@pytest.mark.parametrize("placement", [Placement(240, 0, 1440, 1080),
                                       Placement(448.5, 156, 1023, 768)])
def test_imgload_round_trip(path: str, placement: Placement) -> None:
    mode, got_path, numbers = M.parse_imgload(M.format_imgload(path, placement))
    assert (mode, got_path) == ("CENTER", path)
    assert M.imgload_placement(mode, numbers) == placement


def test_placement_rule_by_hand() -> None:
    """Data Viewer's rule, by hand: CENTER x y w h -> left = x - w/2; TOP_LEFT keeps x y;
    FILL covers DISPLAY_COORDS, inclusive (0..1919 is 1920 px)."""
    assert M.imgload_placement("CENTER", (100, 50, 40, 20)) == Placement(80, 40, 40, 20)
    assert M.imgload_placement("TOP_LEFT", (100, 50, 40, 20)) == Placement(100, 50, 40, 20)
    assert M.imgload_placement("FILL", (), display=(0, 0, 1919, 1079)) == \
        Placement(0, 0, 1920, 1080)
    assert M.imgload_placement("FILL", ()) is None
    assert M.imgload_placement("CENTER", (100, 50)) is None  # no size known
    assert M.imgload_placement("CENTER", (100, 50), image_size=(40, 20)) == \
        Placement(80, 40, 40, 20)
    assert M.imgload_placement("CENTER", (1, 2, 0, 5)) is None


@pytest.mark.parametrize("text, what", [
    pytest.param("a\nb.png", "a newline", id="newline"),
    pytest.param("a\tb.png", "a tab", id="tab"),
    pytest.param("a\rb.png", "a carriage return", id="cr"),
    pytest.param("a\x00b.png", "a NUL", id="nul"),
])
def test_image_path_refused(text: str, what: str) -> None:
    with pytest.raises(ValueError, match=f"image path .* holds {what}"):
        M.format_imgload(text, Placement(0, 0, 10, 10))
    with pytest.raises(ValueError, match=what):
        M.check_message_text(text)


def test_display_coords_round_trip() -> None:
    text = M.format_display_coords(1920, 1080)
    assert M.parse_display_coords(text) == (0, 0, 1919, 1079)
    msgs = [Message(0, "GAZE_COORDS 0 0 799 599"), Message(1, text)]
    assert M.first_display_coords(msgs) == (0, 0, 1919, 1079)
    assert M.first_display_coords(msgs[:1]) == (0, 0, 799, 599)
    for bad in ("DISPLAY_COORDS 0 0 nan 5", "DISPLAY_COORDS 5 0 1 1", "DISPLAY_COORDS 1 2 3"):
        assert M.parse_display_coords(bad) is None


def test_offset_form() -> None:
    assert M.offset_message(1250, "750 imageOnsetTime") == Message(500, "imageOnsetTime")
    assert M.offset_message(10, "+3 x") == Message(7, "x")
    assert M.offset_message(10, "TRIALID 3") == Message(10, "TRIALID 3")
    assert M.offset_message(10, "١٢ arabic digits") == Message(10, "١٢ arabic digits")


def test_image_size_from_header_only(tmp_path: Path) -> None:
    Image.new("RGB", (40, 30)).save(tmp_path / "a.png")
    assert M.image_file_size(tmp_path / "a.png") == (40, 30)
    (tmp_path / "b.png").write_bytes(b"not an image")
    assert M.image_file_size(tmp_path / "b.png") is None
    assert M.image_file_size(tmp_path) is None  # a folder
    assert M.image_file_size(tmp_path / "missing.png") is None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_imgload_fifo_is_not_opened(tmp_path: Path) -> None:
    """A FIFO named by an IMGLOAD would block PIL forever; it is never opened."""
    os.mkfifo(tmp_path / "pipe.png")
    assert M.placement_from_imgload("CENTER", (5, 5), tmp_path / "pipe.png", None) is None


def test_trials_grouping() -> None:
    msgs = [Message(0, "TRIALID a"), Message(5, "SYNCTIME"), Message(9, "TRIAL_RESULT 0"),
            Message(20, "TRIALID b"), Message(30, "TRIALID c"), Message(40, "x")]
    groups = M.group_trials(msgs, end_ms=50)
    assert [(g[0], g[2], g[3], len(g[1])) for g in groups] == [
        ("a", 0, 9, 3), ("b", 20, 30, 1), ("c", 30, 50, 2)]
    fix = Fixations(np.array([1.0, 6, 25, 45]), np.array([2.0, 8, 28, 48]),
                    np.zeros(4), np.zeros(4))
    trials = M.trials_from_messages(msgs, fix, end_ms=50)
    assert [len(t.fixations) for t in trials] == [1, 1, 1]  # from SYNCTIME in trial a
    assert M.group_trials([], start_ms=0, end_ms=1) == [("1", [], 0, 1)]


def test_recording_module_imports_no_reader() -> None:
    """recording.py holds types only: the readers import it, never the other way;
    read_recording has one import path, vista.gaze.io."""
    import ast

    import vista.gaze.recording as rec_module

    tree = ast.parse(Path(rec_module.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"asc", "edf", "io", "asc_writer", "checks"}, imported
    assert not hasattr(rec_module, "read_recording")


def test_display_and_eyelink_import_one_way() -> None:
    """display.py imports nothing of eyelink.py (the calibration graphics live with the
    tracker), and eyelink.py reaches no private name of the simulator."""
    import ast

    import vista.acquisition.display as display
    import vista.acquisition.eyelink as eyelink

    def modules(mod: object) -> set[str]:
        tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
        return {f"{'.' * n.level}{n.module or ''}" for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom)}

    assert ".eyelink" not in modules(display)
    assert not {".simulate", ".display"} & modules(eyelink)
