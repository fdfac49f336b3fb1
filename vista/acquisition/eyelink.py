"""The EyeLink tracker (EyeLink 1000 Plus and others) through SR Research's pylink.

:class:`EyeLinkTracker` follows the :class:`~vista.acquisition.tracker.Tracker`
protocol, on real hardware (Host PC at ``100.1.1.1`` by default) or in pylink's dummy
mode (``address=None``: no tracker, no gaze; for rehearsing a session). pylink (extra
``eyelink``, package ``sr-research-pylink``) is imported when a tracker is connected.

In dummy mode pylink keeps no data file and its tracker clock reads ``2**32 - 1``, so
this class uses pylink's local millisecond clock (``pylink.currentTime``) and keeps
the messages it sends in a local edf2asc-format log, received as ``.asc``: the session
folder of a rehearsal then has every trial message even though it has no gaze.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import copy_new, inside
from .._validation import check_int, check_option, require
from ..errors import VistaError
from ..gaze.messages import check_message_text, format_display_coords
from ..records import Screen
from .asclog import AscLog
from .tracker import MAX_SCREEN_PX

__all__ = [
    "CALIBRATION_TYPES",
    "EyeLinkSample",
    "EyeLinkTracker",
    "TrackerConnectionError",
    "calibration_graphics",
    "import_pylink",
    "parse_validation",
]

CALIBRATION_TYPES = ("H3", "HV3", "HV5", "HV9", "HV13")
MAX_RETRIES = 100
"""Most attempts at receiving the EDF from the Host PC."""
_EDF_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class TrackerConnectionError(VistaError, ConnectionError):
    """The EyeLink Host PC could not be reached."""


def import_pylink() -> Any:
    """Import pylink (extra ``eyelink``) without the version banner it prints."""
    import contextlib
    import io
    import sys

    if "pylink" in sys.modules:
        return sys.modules["pylink"]
    with contextlib.redirect_stdout(io.StringIO()):
        return require("pylink", "eyelink", "sr-research-pylink")


@dataclass
class EyeLinkSample:
    """The newest sample (see :class:`vista.acquisition.tracker.Sample`)."""

    time_ms: float
    x: float
    y: float


def parse_validation(text: str) -> dict[str, float] | None:
    """The average and maximum error from a validation result message.

    The tracker reports, e.g., ``!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.35 avg.
    0.81 max OFFSET ...`` (``getCalibrationMessage`` and the EDF's messages).

    Examples
    --------
    >>> parse_validation("!CAL VALIDATION HV9 R RIGHT GOOD ERROR 0.35 avg. 0.81 max OFFSET 0.1 deg.")
    {'avg_error_deg': 0.35, 'max_error_deg': 0.81}
    >>> parse_validation("calibration aborted") is None
    True
    """
    from ..records import Message
    from .replay import validation_from_messages

    result = validation_from_messages([Message(0.0, text)])
    if any(v != v for v in result.values()):  # NaN: no validation result in the text
        return None
    return result


class EyeLinkTracker:
    """An EyeLink on the Ethernet link, or pylink's dummy mode.

    Parameters
    ----------
    screen : Screen
        The display PC's screen (``screen_pixel_coords``, ``DISPLAY_COORDS``).
    address : str or None
        Host PC IP address; ``None`` opens pylink's dummy mode.
    sampling_rate_hz : int
        250, 500, 1000 or 2000.
    calibration_type : str
        ``"H3"``, ``"HV3"``, ``"HV5"``, ``"HV9"`` (default) or ``"HV13"``.
    eye : str
        ``"L"``, ``"R"`` or ``"BOTH"``: what the session records (the tracker's eye
        setting is kept; this is what session.json reports).
    display : StimulusDisplay, optional
        Where calibration targets are drawn (pylink's custom-display hook); without it
        calibration runs on the Host PC only.
    retries : int
        Attempts for receiving the data file.
    data_dir : path, optional
        Dummy mode only: where the local message log is kept (a temporary folder by
        default).

    Notes
    -----
    ``doTrackerSetup`` waits for the operator (and hangs in dummy mode, where it is
    skipped); ``doDriftCorrect`` likewise is skipped in dummy mode (error 0).
    """

    def __init__(
        self,
        screen: Screen,
        *,
        address: str | None = "100.1.1.1",
        sampling_rate_hz: int = 1000,
        calibration_type: str = "HV9",
        eye: str = "R",
        display: Any = None,
        retries: int = 3,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(screen, Screen):
            raise TypeError(f"screen must be a Screen record; got {screen!r}")
        check_option("sampling_rate_hz", sampling_rate_hz, (250, 500, 1000, 2000))
        check_option("calibration_type", calibration_type, CALIBRATION_TYPES)
        check_option("eye", eye, ("L", "R", "BOTH"))
        self.screen = screen
        self.address = address
        self.sampling_rate_hz = sampling_rate_hz
        self.calibration_type = calibration_type
        self.eye = eye
        self.display = display
        self.retries = check_int("retries", retries, minimum=1)
        if self.retries > MAX_RETRIES:
            raise ValueError(f"retries must be at most {MAX_RETRIES}; got {retries!r}")
        for side in ("width_px", "height_px"):
            if getattr(screen, side) > MAX_SCREEN_PX:
                raise ValueError(f"screen.{side} must be at most {MAX_SCREEN_PX}; got "
                                 f"{getattr(screen, side)!r}")
        self.kind = "dummy" if address is None else "eyelink"
        self._data_dir = None if data_dir is None else Path(data_dir)
        self._pylink: Any = None
        self._el: Any = None
        self._edf: str | None = None
        self._graphics = False
        self._log: AscLog | None = None  # dummy mode: the message log
        self._tmp: Any = None
        self._recording = False
        self._file_open = False

    @property
    def dummy(self) -> bool:
        return self.address is None

    @property
    def data_suffix(self) -> str:
        """The suffix of the received data file: ``.edf``, or ``.asc`` in dummy mode."""
        return ".asc" if self.dummy else ".edf"

    # -- link -------------------------------------------------------------------
    def connect(self) -> None:
        if self._el is not None:
            return
        pylink = import_pylink()
        self._pylink = pylink
        try:
            self._el = pylink.EyeLink(self.address)
        except RuntimeError as exc:
            raise TrackerConnectionError(
                f"cannot connect to the EyeLink Host PC at {self.address}: {exc} "
                "(check the cable and that this PC's address is 100.1.1.2, or use --dummy "
                "or --simulate)"
            ) from exc
        W, H = self.screen.width_px, self.screen.height_px
        el = self._el
        el.setOfflineMode()
        el.sendCommand(f"sample_rate {self.sampling_rate_hz}")
        el.sendCommand(f"screen_pixel_coords = 0 0 {W - 1} {H - 1}")
        el.sendCommand(f"calibration_type = {self.calibration_type}")
        el.sendCommand("file_event_filter = LEFT,RIGHT,FIXATION,SACCADE,BLINK,MESSAGE,BUTTON,INPUT")
        el.sendCommand("file_sample_data = LEFT,RIGHT,GAZE,AREA,GAZERES,PUPIL,HREF,STATUS,INPUT")
        el.sendCommand("link_event_filter = LEFT,RIGHT,FIXATION,SACCADE,BLINK,BUTTON,INPUT")
        el.sendCommand("link_sample_data = LEFT,RIGHT,GAZE,GAZERES,AREA,STATUS,INPUT")
        if self.display is not None and not self.dummy:
            pylink.openGraphicsEx(calibration_graphics(self.display, self))
            self._graphics = True

    def close(self) -> None:
        if self._el is None:
            return
        try:
            if self._recording:
                self._el.stopRecording()
                self._recording = False
            if self._file_open and not self.dummy:  # keep the EDF intact on the Host PC
                self._el.setOfflineMode()
                self._el.closeDataFile()
            self._file_open = False
            self._close_log()
            self._el.close()
        finally:
            if self._graphics:
                self._pylink.closeGraphics()
                self._graphics = False
            self._el = None
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def _need(self) -> Any:
        if self._el is None:
            raise RuntimeError("EyeLinkTracker: connect() first")
        return self._el

    # -- calibration ------------------------------------------------------------
    def calibrate(self) -> dict[str, float]:
        """Camera setup, calibration and validation on the Host PC (the operator
        presses Esc to return). Returns the validation error; NaN when unknown
        (dummy mode, or validation skipped)."""
        el = self._need()
        nan = float("nan")
        if self.dummy:
            return {"avg_error_deg": nan, "max_error_deg": nan}
        W, H = self.screen.width_px, self.screen.height_px
        el.doTrackerSetup(W, H)
        result = parse_validation(str(el.getCalibrationMessage() or ""))
        if result is not None:
            self.send_message(
                f"VALIDATION avg_error_deg {result['avg_error_deg']} max_error_deg {result['max_error_deg']}"
            )
        return result or {"avg_error_deg": nan, "max_error_deg": nan}

    def drift_check(self, x: float, y: float) -> float:
        """Drift check on a target at (x, y); returns the error in degrees (0 in dummy
        mode). Repeats until the participant fixates; Esc on the display PC opens the
        setup screen for a recalibration, then the check is repeated."""
        el = self._need()
        if self.dummy:
            return 0.0
        while True:
            rv = el.doDriftCorrect(round(x), round(y), 1, 1)
            if rv == self._pylink.ESC_KEY:
                el.doTrackerSetup()
                continue
            break
        msg = str(el.getCalibrationMessage() or "")
        # "drift_correction: 0.32 -5.1 2.0" style or "DRIFTCORRECT ... OFFSET 0.32 deg."
        for token_index, tok in enumerate(msg.split()):
            if tok == "OFFSET":
                try:
                    return float(msg.split()[token_index + 1])
                except (IndexError, ValueError):
                    break
        return float("nan")

    # -- data file --------------------------------------------------------------
    def open_data_file(self, name: str) -> None:
        """Open ``NAME.EDF`` on the Host PC (at most 8 letters, digits or ``_``)."""
        el = self._need()
        if not (1 <= len(name) <= 8) or not set(name) <= _EDF_NAME_CHARS:
            raise ValueError(f"name must be 1-8 letters, digits or '_' (an EDF name); got {name!r}")
        self._edf = name
        self._file_open = True
        if self.dummy:
            self._open_log(name)
            return
        rv = el.openDataFile(name + ".EDF")
        if rv:
            raise OSError(f"the Host PC could not open the data file {name}.EDF (error {rv})")
        el.sendCommand(f"add_file_preamble_text 'vista session data file {name}'")
        W, H = self.screen.width_px, self.screen.height_px
        el.sendMessage(format_display_coords(W, H))

    def close_data_file(self) -> None:
        el = self._need()
        self._file_open = False
        if self.dummy:
            self._close_log()
            return
        el.setOfflineMode()
        self._pylink.pumpDelay(50)
        el.closeDataFile()

    def receive_data_file(self, destination: Path, *, name: str | None = None) -> Path:
        """Copy the EDF (or, in dummy mode, the message log ``.asc``) to
        ``destination`` (suffix replaced), retrying ``retries`` times; ``name``
        selects an earlier file kept on the Host PC."""
        el = self._need()
        name = name or self._edf
        if name is None:
            raise RuntimeError("EyeLinkTracker: no data file was opened")
        if self.dummy:
            src = inside(self._dir(), name + ".asc", what="dummy-mode message log")
            if not src.is_file():
                raise FileNotFoundError(f"dummy-mode message log not found: {src}")
            if self._log is not None and self._log.path == src:
                self._log.flush()
            dest = Path(destination).with_suffix(".asc")
            if dest.exists():
                raise FileExistsError(f"{dest} exists; a received data file is never overwritten")
            return copy_new(src, dest)
        dest = Path(destination).with_suffix(".edf")
        if dest.exists():
            raise FileExistsError(f"{dest} exists; a received data file is never overwritten")
        last: object = None
        for attempt in range(self.retries):
            try:
                size = el.receiveDataFile(name + ".EDF", str(dest))
                if size and size > 0 and dest.is_file():
                    return dest
                last = f"receiveDataFile returned {size}"
            except RuntimeError as exc:
                last = exc
            time.sleep(0.5 * (attempt + 1))
        raise OSError(f"could not receive {name}.EDF after {self.retries} attempts: {last}")

    # -- recording --------------------------------------------------------------
    def start_recording(self) -> None:
        el = self._need()
        rv = el.startRecording(1, 1, 1, 1)
        if rv:
            raise OSError(f"startRecording failed (error {rv})")
        self._recording = True
        if not self.dummy:
            self._pylink.pumpDelay(100)  # the tracker needs ~100 ms before the data flows
        if self._log is not None:
            self._log.start(self.tracker_time_ms(), "R" if self.eye == "BOTH" else self.eye, 0)

    def stop_recording(self) -> None:
        el = self._need()
        if not self.dummy:
            self._pylink.pumpDelay(100)
        el.stopRecording()
        self._recording = False
        if self._log is not None:
            self._log.end(self.tracker_time_ms())
            self._log.flush()

    def send_message(self, text: str) -> None:
        el = self._need()
        check_message_text(text)
        el.sendMessage(text)
        if self._log is not None:
            self._log.message(self.tracker_time_ms(), text)
            self._log.flush()

    def tracker_time_ms(self) -> float:
        el = self._need()
        if self.dummy:
            return float(self._pylink.currentTime())
        return float(el.trackerTime())

    def newest_sample(self) -> EyeLinkSample | None:
        el = self._need()
        s = el.getNewestSample()
        if s is None:
            return None
        eye = s.getRightEye() if s.isRightSample() else s.getLeftEye() if s.isLeftSample() else None
        if eye is None:
            return None
        x, y = eye.getGaze()
        return EyeLinkSample(float(s.getTime()), float(x), float(y))

    # -- dummy-mode message log ---------------------------------------------------
    def _dir(self) -> Path:
        if self._data_dir is not None:
            self._data_dir.mkdir(parents=True, exist_ok=True)
            return self._data_dir
        if self._tmp is None:
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="vista-eyelink-")
        return Path(self._tmp.name)

    def _open_log(self, name: str) -> None:
        self._close_log()
        self._log = AscLog(self._dir() / (name + ".asc"), header=[
            "CONVERTED FROM vista EyeLinkTracker (pylink dummy mode: messages only)",
        ])
        self._log.message(self.tracker_time_ms(),
                          format_display_coords(self.screen.width_px, self.screen.height_px))
        self._log.flush()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def describe(self) -> Mapping[str, Any]:
        """What session.json records about the tracker."""
        return {"kind": self.kind, "sampling_rate_hz": self.sampling_rate_hz, "eye": self.eye,
                "address": self.address, "calibration_type": self.calibration_type}


def calibration_graphics(display: Any, tracker: Any = None) -> Any:
    """A :class:`pylink.EyeLinkCustomDisplay` that draws on ``display`` (an open
    :class:`~vista.acquisition.display.StimulusDisplay`).

    Pass it to ``pylink.openGraphicsEx`` before ``doTrackerSetup``: the tracker then
    draws its calibration, validation and drift-check targets through it. Keys
    pressed on the display PC go to the tracker (Enter accepts, Esc exits, C
    calibrates, V validates); the camera image is not shown (the Host PC shows it).
    """
    pylink = import_pylink()
    pg = display._need()

    class _Graphics(pylink.EyeLinkCustomDisplay):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.display = display
            self.tracker = tracker

        def setup_cal_display(self) -> None:
            display.clear()

        def exit_cal_display(self) -> None:
            display.clear()

        def record_abort_hide(self) -> None:
            pass

        def clear_cal_display(self) -> None:
            display.clear()

        def erase_cal_target(self) -> None:
            display.clear()

        def draw_cal_target(self, x: float, y: float) -> None:
            display.clear(flip=False)
            display.draw_target(x, y)

        def play_beep(self, beepid: int) -> None:
            pass

        def setup_image_display(self, width: int, height: int) -> int:
            return 1

        def exit_image_display(self) -> None:
            display.clear()

        def image_title(self, title: str) -> None:
            pass

        def draw_image_line(self, width: int, line: int, totlines: int, buff: Any) -> None:
            pass

        def set_image_palette(self, red: Any, green: Any, blue: Any) -> None:
            pass

        def draw_line(self, x1: int, y1: int, x2: int, y2: int, colorindex: int) -> None:
            pass

        def draw_lozenge(self, x: int, y: int, width: int, height: int, colorindex: int) -> None:
            pass

        def get_mouse_state(self) -> tuple[tuple[int, int], int]:
            return (0, 0), 0

        def alert_printf(self, msg: str) -> None:
            pass

        def get_input_key(self) -> list[Any]:
            keys = []
            for event in pg.event.get([pg.KEYDOWN]):
                code = _PYLINK_KEYS.get(pg.key.name(event.key))
                code = getattr(pylink, code) if code else event.key
                keys.append(pylink.KeyInput(code, event.mod))
            return keys

    return _Graphics()


_PYLINK_KEYS = {
    "return": "ENTER_KEY", "escape": "ESC_KEY", "up": "CURS_UP", "down": "CURS_DOWN",
    "left": "CURS_LEFT", "right": "CURS_RIGHT", "page up": "PAGE_UP", "page down": "PAGE_DOWN",
    "f1": "F1_KEY", "f2": "F2_KEY", "f3": "F3_KEY", "f4": "F4_KEY",
}
