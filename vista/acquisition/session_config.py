"""What a recording session is asked to do: :class:`SessionConfig`, checked in full
before anything is created.

The record holds values only (names, numbers, paths); the live objects a session
talks to (a connected tracker, an open display, a progress callback) are passed to
:func:`~vista.acquisition.session.run_session` beside it. Checks that need the
files (do the images exist and open, is the audio file a WAV) are made by
:func:`check_inputs`, which :func:`~vista.acquisition.session.run_session` calls
before its first side effect.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_range
from ..errors import ParseError
from ..gaze.messages import check_message_text
from ..records import Screen
from .tracker import SPEED_RANGE

__all__ = [
    "AUDIO_SOURCES",
    "IMAGE_SUFFIXES",
    "RANGES",
    "TRACKER_KINDS",
    "SessionConfig",
    "check_inputs",
    "list_images",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TRACKER_KINDS = ("simulated", "dummy", "eyelink")
DEFAULT_TRACKER = "eyelink"
"""The tracker of a new session when none is named, in the library and the CLI alike:
simulated gaze must be asked for by name, so a session can never hold a simulated
participant's data by omission."""
ORDERS = ("sorted", "shuffled")
AUDIO_SOURCES = ("microphone", "tts")
"""The named audio sources; any other ``audio`` value is a WAV file played as the
microphone."""

RANGES: dict[str, tuple[float, float, bool]] = {
    "time_limit_s": (0.0, 3600.0, True),
    "inter_trial_s": (0.0, 600.0, False),
    "speed": (*SPEED_RANGE, False),
}
"""Accepted values, ``(low, high, low excluded)``: a trial lasts at most an hour, the
blank between trials at most 10 minutes, a simulated clock runs at any pace the
trackers accept (:data:`vista.acquisition.tracker.SPEED_RANGE`: 0.001 to 10**6 times
real time)."""


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly in ``folder``, sorted by name (absolute paths).

    Scene files (``*.scene.json``) and anything else that is not an image
    (:data:`IMAGE_SUFFIXES`) are ignored.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"images folder not found: {folder}")
    images = sorted(
        p.resolve() for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )
    if not images:
        raise FileNotFoundError(
            f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return images


def _check_participant(participant: Any) -> str:
    if not isinstance(participant, str) or not re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", participant):
        raise ValueError(
            "participant must be 1-64 letters, digits, '_' or '-' (it names files), "
            f"starting with a letter or digit; got {participant!r}"
        )
    return participant


PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class SessionConfig:
    """A recording session's settings, validated when the record is made.

    Parameters
    ----------
    participant : str
        Participant id (1-64 letters, digits, ``_``, ``-``); names the folder and the
        tracker's data file.
    screen : Screen
        Display geometry: resolution, size in mm, viewing distance.
    images : path, sequence of paths, or None
        A folder of images (:func:`list_images`) or the image files, in order.
        Required for a new session; with ``resume`` it may be left out, and if given
        it must be the folder (or the files) the session was planned from.
    tracker : {"eyelink", "dummy", "simulated"} or None
        The tracker :func:`~vista.acquisition.session.make_tracker` builds. None: the
        session's own kind when resuming, else ``"eyelink"`` (:data:`DEFAULT_TRACKER`).
    address : str
        EyeLink Host PC address (default ``100.1.1.1``).
    out : path, optional
        The session folder. Default ``ROOT/PARTICIPANT-YYYYmmdd-HHMMSS`` (UTC); with
        ``resume``, the newest unfinished session of the participant under ``root``.
    root : path
        Where default session folders go (``"sessions"``).
    resume : bool
        Continue the interrupted session at ``out`` instead of starting one.
    time_limit_s : float
        Longest a trial lasts, seconds, in (0, 3600] (default 10).
    display : bool or None
        Show the images full screen: None for a real or dummy tracker, not for a
        simulated one.
    audio : str or path, optional
        ``"microphone"``, ``"tts"`` (a simulated participant's phrases spoken by
        espeak-ng) or a 16-bit PCM WAV file played as the microphone. None: no audio.
    order : {"sorted", "shuffled"}
        Trial order: by file name, or shuffled with ``rng`` (stored in session.json).
    rng : Generator, int or None
        Seed for the shuffle and the simulated participant.
    speed : float or None
        Pacing of a simulated tracker, simulated ms per real ms, in [0.01, 10000];
        None: as fast as possible. The recording does not depend on it.
    inter_trial_s : float
        Real seconds of blank screen between trials, in [0, 600] (default 0).
    drift_check : bool
        Run a drift check before each trial (default True).
    end_keys : sequence of str
        pygame key names that end a trial (Escape always stops the session after the
        current trial).
    """

    participant: str
    screen: Screen
    images: Path | tuple[Path, ...] | None = None
    tracker: str | None = None
    address: str = "100.1.1.1"
    out: Path | None = None
    root: Path = Path("sessions")
    resume: bool = False
    time_limit_s: float = 10.0
    display: bool | None = None
    audio: str | None = None
    order: str = "sorted"
    rng: np.random.Generator | int | None = field(default=None, compare=False)
    speed: float | None = None
    inter_trial_s: float = 0.0
    drift_check: bool = True
    end_keys: tuple[str, ...] = ("space", "return")

    def __post_init__(self) -> None:
        _check_participant(self.participant)
        if not isinstance(self.screen, Screen):
            raise TypeError(f"screen must be a Screen record; got {self.screen!r}")
        set_ = object.__setattr__
        set_(self, "images", _as_images(self.images))
        if self.images is None and not self.resume:
            raise ValueError("images is required for a new session (a folder or image files)")
        if self.tracker is not None:
            check_option("tracker", self.tracker, TRACKER_KINDS)
        if not isinstance(self.address, str) or not self.address.strip():
            raise ValueError(f"address must be the Host PC's address; got {self.address!r}")
        set_(self, "out", None if self.out is None else Path(self.out))
        set_(self, "root", Path(self.root))
        for name, (low, high, low_open) in RANGES.items():
            value = getattr(self, name)
            if value is not None or name != "speed":
                set_(self, name, check_range(name, value, low, high, low_open=low_open))
        if self.display is not None and not isinstance(self.display, bool):
            raise TypeError(f"display must be True, False or None; got {self.display!r}")
        check_option("order", self.order, ORDERS)
        if self.audio is not None:
            set_(self, "audio", check_message_text(os.fspath(self.audio), what="audio"))
            if not self.audio:
                raise ValueError("audio must be 'microphone', 'tts' or a WAV file; got ''")
        keys = (self.end_keys,) if isinstance(self.end_keys, str) else tuple(self.end_keys)
        if not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"end_keys must be key names; got {self.end_keys!r}")
        set_(self, "end_keys", keys)
        for flag in ("resume", "drift_check"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be True or False; got {getattr(self, flag)!r}")

    @property
    def audio_file(self) -> Path | None:
        """The WAV file played as the microphone, or None for a named source."""
        if self.audio is None or self.audio in AUDIO_SOURCES:
            return None
        return Path(self.audio)


def _as_images(images: Any) -> Path | tuple[Path, ...] | None:
    if images is None:
        return None
    if isinstance(images, (str, os.PathLike)):
        return Path(images)
    if isinstance(images, Sequence):
        return tuple(Path(p) for p in images)
    raise TypeError(f"images must be a folder or a sequence of image files; got {images!r}")


def check_inputs(config: SessionConfig, kind: str) -> list[Path] | None:
    """Check the files a session will read, before anything is written: the images
    (they exist, open, hold no control character in their names) and the audio
    source (a WAV file that reads as one; espeak-ng and a simulated participant for
    ``"tts"``). Returns the image files in plan order for a new session, None when
    resuming (the plan is the session's own).
    """
    _check_audio(config, kind)
    if kind in ("eyelink", "dummy"):
        import importlib.util

        if importlib.util.find_spec("pylink") is None:
            from ..errors import MissingExtraError

            raise MissingExtraError("eyelink", "sr-research-pylink")
    if config.resume:
        return None
    from ..imaging import image_size

    assert config.images is not None
    if isinstance(config.images, Path):
        files = list_images(config.images)
    else:
        files = [p.resolve() for p in config.images]
        if not files:
            raise ValueError("images must name at least one image")
    for p in files:
        check_message_text(str(p), what="image")
        image_size(p)  # exists, is a regular file, opens, within the pixel limit
    return files


def _check_audio(config: SessionConfig, kind: str) -> None:
    if config.audio == "tts":
        import shutil

        if kind != "simulated":
            raise ValueError("audio='tts' needs a simulated participant (tracker='simulated')")
        if shutil.which("espeak-ng") is None:
            from .tts import EspeakNotFoundError

            raise EspeakNotFoundError()
    path = config.audio_file
    if path is not None:
        from .audio import read_wav_header

        try:
            read_wav_header(path)
        except ParseError as exc:
            raise ParseError(f"audio: {exc.message}", path=exc.path) from None
