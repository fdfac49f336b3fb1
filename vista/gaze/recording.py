"""A whole eye-tracking recording, and the trials found in its messages.

:func:`read_recording` reads an EyeLink ``.edf`` (through ``eyelinkio``, extra
``eyelink``) or its ``.asc`` text conversion (parsed natively by
:mod:`vista.gaze.asc`) into one :class:`Recording`: every fixation, saccade and
blink the tracker's parser found, every message, optionally the samples, and the
trials rebuilt from the standard messages (see :func:`trials_from_messages`).

Times are milliseconds on the tracker clock; positions are screen pixels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ParseError
from ..records import Fixations, Message, Placement, Trial

__all__ = [
    "Blinks",
    "Recording",
    "Saccades",
    "Samples",
    "parse_display_coords",
    "parse_imgload",
    "read_recording",
    "trials_from_messages",
]

EYES = ("L", "R")


def _column(name: str, value: Any, dtype: Any, n: int | None) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} elements; expected {n}")
    arr.setflags(write=False)
    return arr


def _eyes_column(name: str, value: Any, n: int) -> np.ndarray:
    eyes = _column(name, value if np.size(value) or n == 0 else ["R"] * n, "<U1", n)
    bad = ~np.isin(eyes, EYES)
    if bad.any():
        raise ValueError(f"{name} must hold 'L' or 'R'; got {eyes[bad][0]!r}")
    return eyes


@dataclass(frozen=True, eq=False)
class Saccades:
    """Saccades in columns, one element per saccade (tracker clock, screen pixels).

    ``amplitudes_deg`` and ``peak_velocities_deg_s`` are the tracker parser's values
    (NaN where the source has none).
    """

    starts_ms: np.ndarray
    ends_ms: np.ndarray
    start_xs: np.ndarray
    start_ys: np.ndarray
    end_xs: np.ndarray
    end_ys: np.ndarray
    amplitudes_deg: np.ndarray
    peak_velocities_deg_s: np.ndarray
    eyes: np.ndarray

    _FLOATS = ("starts_ms", "ends_ms", "start_xs", "start_ys", "end_xs", "end_ys",
               "amplitudes_deg", "peak_velocities_deg_s")

    def __post_init__(self) -> None:
        n = np.size(self.starts_ms)
        for name in self._FLOATS:
            object.__setattr__(self, name, _column(f"Saccades.{name}", getattr(self, name),
                                                   np.float64, n))
        object.__setattr__(self, "eyes", _eyes_column("Saccades.eyes", self.eyes, n))

    def __len__(self) -> int:
        return int(self.starts_ms.size)

    @property
    def durations_ms(self) -> np.ndarray:
        return self.ends_ms - self.starts_ms

    def select(self, mask: Any) -> Saccades:
        """A new record with the saccades where ``mask`` holds."""
        return Saccades(*(getattr(self, n)[mask] for n in (*self._FLOATS, "eyes")))

    @classmethod
    def empty(cls) -> Saccades:
        e = np.empty(0)
        return cls(e, e, e, e, e, e, e, e, np.empty(0, dtype="<U1"))


@dataclass(frozen=True, eq=False)
class Blinks:
    """Blinks in columns, one element per blink (tracker clock)."""

    starts_ms: np.ndarray
    ends_ms: np.ndarray
    eyes: np.ndarray

    def __post_init__(self) -> None:
        n = np.size(self.starts_ms)
        for name in ("starts_ms", "ends_ms"):
            object.__setattr__(self, name, _column(f"Blinks.{name}", getattr(self, name),
                                                   np.float64, n))
        object.__setattr__(self, "eyes", _eyes_column("Blinks.eyes", self.eyes, n))

    def __len__(self) -> int:
        return int(self.starts_ms.size)

    @property
    def durations_ms(self) -> np.ndarray:
        return self.ends_ms - self.starts_ms

    def select(self, mask: Any) -> Blinks:
        """A new record with the blinks where ``mask`` holds."""
        return Blinks(self.starts_ms[mask], self.ends_ms[mask], self.eyes[mask])

    @classmethod
    def empty(cls) -> Blinks:
        e = np.empty(0)
        return cls(e, e, np.empty(0, dtype="<U1"))


@dataclass(frozen=True, eq=False)
class Samples:
    """Gaze samples in columns.

    Parameters
    ----------
    times_ms : array_like, shape (n,)
        Sample times on the tracker clock, non-decreasing.
    xs, ys, pupils : array_like, shape (n, len(eyes))
        Gaze position (screen px) and pupil size (tracker units), one column per eye
        in the order of ``eyes``; NaN where the eye was lost (``.`` in ASC, blinks).
    eyes : str
        ``"L"``, ``"R"`` or ``"LR"``.

    Examples
    --------
    >>> s = Samples([0, 1, 2], [[1], [2], [3]], [[4], [5], [6]], [[9], [9], [9]], "R")
    >>> s.eye("R")[0].tolist(), len(s)
    ([1.0, 2.0, 3.0], 3)
    """

    times_ms: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    pupils: np.ndarray
    eyes: str

    def __post_init__(self) -> None:
        if self.eyes not in ("L", "R", "LR"):
            raise ValueError(f"Samples.eyes must be 'L', 'R' or 'LR'; got {self.eyes!r}")
        times = _column("Samples.times_ms", self.times_ms, np.float64, None)
        object.__setattr__(self, "times_ms", times)
        shape = (times.size, len(self.eyes))
        for name in ("xs", "ys", "pupils"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            if arr.ndim == 1 and len(self.eyes) == 1:
                arr = arr[:, None]
            if arr.shape != shape:
                raise ValueError(f"Samples.{name} must have shape {shape}; got {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if times.size > 1 and (np.diff(times) < 0).any():
            raise ValueError("Samples.times_ms must be non-decreasing")

    def __len__(self) -> int:
        return int(self.times_ms.size)

    def eye(self, eye: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xs, ys, pupils)`` of one eye, 1-D arrays."""
        if eye not in self.eyes or len(eye) != 1:
            raise ValueError(f"eye must be one of {list(self.eyes)}; got {eye!r}")
        k = self.eyes.index(eye)
        return self.xs[:, k], self.ys[:, k], self.pupils[:, k]

    @property
    def sampling_rate_hz(self) -> float | None:
        """The median sampling rate implied by the times (None for < 2 samples)."""
        if self.times_ms.size < 2:
            return None
        step = float(np.median(np.diff(self.times_ms)))
        return 1000.0 / step if step > 0 else None


@dataclass(frozen=True, eq=False)
class Recording:
    """Everything read from one EyeLink recording.

    Attributes
    ----------
    path : str or None
        The file it was read from.
    fixations : Fixations
        All fixations of all recorded eyes, in start order (the tracker parser's
        events, or detected from samples).
    saccades : Saccades
    blinks : Blinks
    messages : tuple of Message
        Every message, sorted by time (stable: file order among equal times).
    samples : Samples or None
        The gaze samples, where read.
    sampling_rate_hz : float or None
    eyes : str
        ``"L"``, ``"R"`` or ``"LR"``: the eyes recorded.
    display_coords : tuple of 4 floats or None
        ``(left, top, right, bottom)`` of the ``DISPLAY_COORDS`` message (inclusive
        pixel coordinates; a 1920×1080 display is ``(0, 0, 1919, 1079)``).
    trials : list of Trial
        Rebuilt from the messages by :func:`trials_from_messages`.
    start_ms, end_ms : float or None
        First and last time seen in the recording.
    fixation_pupils : ndarray or None
        Mean pupil size of each fixation (tracker units), where the source has it.
    """

    path: str | None
    fixations: Fixations
    saccades: Saccades
    blinks: Blinks
    messages: tuple[Message, ...]
    samples: Samples | None
    sampling_rate_hz: float | None
    eyes: str
    display_coords: tuple[float, float, float, float] | None
    trials: list[Trial] = field(default_factory=list)
    start_ms: float | None = None
    end_ms: float | None = None
    fixation_pupils: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        if self.fixation_pupils is not None:
            object.__setattr__(self, "fixation_pupils", _column(
                "Recording.fixation_pupils", self.fixation_pupils, np.float64,
                len(self.fixations)))
        object.__setattr__(self, "trials", list(self.trials))
        if self.eyes not in ("L", "R", "LR"):
            raise ValueError(f"Recording.eyes must be 'L', 'R' or 'LR'; got {self.eyes!r}")

    def describe(self) -> dict[str, Any]:
        """The recording at a glance (JSON-ready): file, eyes, rate, display, counts,
        span, and :meth:`summary` for the trials."""
        return {
            "path": self.path,
            "eyes": self.eyes,
            "sampling_rate_hz": self.sampling_rate_hz,
            "display_coords": None if self.display_coords is None else list(self.display_coords),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "fixations": len(self.fixations),
            "saccades": len(self.saccades),
            "blinks": len(self.blinks),
            "messages": len(self.messages),
            "samples": None if self.samples is None else len(self.samples),
            "trials": self.summary(),
        }

    def summary(self) -> list[dict[str, Any]]:
        """One dict per trial: id, image, placement, time span, fixation and message counts."""
        out = []
        for t in self.trials:
            out.append({
                "trial_id": t.trial_id,
                "image": t.image_path,
                "placement": None if t.placement is None else t.placement.to_dict(),
                "start_ms": t.start_ms,
                "end_ms": t.end_ms,
                "duration_ms": (None if t.start_ms is None or t.end_ms is None
                                else t.end_ms - t.start_ms),
                "fixations": len(t.fixations),
                "messages": len(t.messages),
                "variables": dict(t.variables),
            })
        return out


# --------------------------------------------------------------------- messages


def parse_display_coords(text: str) -> tuple[float, float, float, float] | None:
    """``(left, top, right, bottom)`` from a ``DISPLAY_COORDS`` message, else None.

    Examples
    --------
    >>> parse_display_coords("DISPLAY_COORDS 0 0 1919 1079")
    (0.0, 0.0, 1919.0, 1079.0)
    >>> parse_display_coords("DISPLAY_COORDS 0 0") is None
    True
    """
    parts = text.split()
    if len(parts) != 5 or parts[0] not in ("DISPLAY_COORDS", "GAZE_COORDS"):
        return None
    try:
        left, top, right, bottom = (float(p) for p in parts[1:])
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (left, top, right, bottom)):
        return None
    if right < left or bottom < top:
        return None
    return left, top, right, bottom


def _is_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def parse_imgload(text: str) -> tuple[str, str, tuple[float, ...]] | None:
    """Split a ``!V IMGLOAD`` message into ``(mode, path, numbers)``, else None.

    ``mode`` is ``FILL``, ``CENTER`` or ``TOP_LEFT``; ``numbers`` are the trailing
    ``x y`` or ``x y width height`` (empty for ``FILL``). The path may contain spaces.

    Examples
    --------
    >>> parse_imgload("!V IMGLOAD CENTER images/cat.png 960 540")
    ('CENTER', 'images/cat.png', (960.0, 540.0))
    >>> parse_imgload("!V IMGLOAD FILL my image.jpg")
    ('FILL', 'my image.jpg', ())
    """
    parts = text.split()
    if len(parts) < 4 or parts[0] != "!V" or parts[1] != "IMGLOAD":
        return None
    mode = parts[2].upper()
    rest = parts[3:]
    if mode == "FILL":
        return mode, " ".join(rest), ()
    if mode not in ("CENTER", "TOP_LEFT"):
        return None
    for k in (4, 2):
        if len(rest) > k and all(_is_number(p) for p in rest[-k:]):
            return mode, " ".join(rest[:-k]), tuple(float(p) for p in rest[-k:])
    return None


def _image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image file's header, or None if it cannot be read."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (OSError, ValueError):
        return None


def _resolve(path_text: str, base_dir: Path | None) -> Path:
    p = Path(path_text)
    if not p.is_absolute() and base_dir is not None:
        return base_dir / p
    return p


def placement_from_imgload(
    mode: str,
    numbers: tuple[float, ...],
    image_file: Path,
    display: tuple[float, float, float, float] | None,
) -> Placement | None:
    """The image's placement from a parsed ``!V IMGLOAD`` message.

    ``mode`` is ``FILL``, ``CENTER`` or ``TOP_LEFT``; ``numbers`` the message's
    coordinates (x y, optionally followed by width height). Without a width and
    height the image file's header gives its size. Returns None where the
    placement cannot be known (FILL without DISPLAY_COORDS, unreadable image).

    Examples
    --------
    >>> placement_from_imgload("CENTER", (960, 540, 1024, 768), Path("x.png"), None)
    Placement(left=448.0, top=156.0, width=1024, height=768)
    """
    if mode == "FILL":
        if display is None:
            return None
        left, top, right, bottom = display
        return Placement(left, top, right - left + 1.0, bottom - top + 1.0)
    x, y = numbers[0], numbers[1]
    if len(numbers) == 4:
        w, h = numbers[2], numbers[3]
    else:
        size = _image_size(image_file)
        if size is None:
            return None
        w, h = float(size[0]), float(size[1])
    if w <= 0 or h <= 0:
        return None
    if mode == "CENTER":
        return Placement(x - w / 2.0, y - h / 2.0, w, h)
    return Placement(x, y, w, h)


def _first_word(text: str) -> str:
    return text.split(None, 1)[0] if text.strip() else ""


def trials_from_messages(
    messages: Sequence[Message],
    fixations: Fixations,
    *,
    display_coords: tuple[float, float, float, float] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    start_ms: float | None = None,
    end_ms: float | None = None,
) -> list[Trial]:
    """Rebuild the trials of a recording from its messages.

    Parameters
    ----------
    messages : sequence of Message
        In time order.
    fixations : Fixations
        All fixations of the recording.
    display_coords : tuple, optional
        The recording-level ``DISPLAY_COORDS`` (a trial's own message overrides it).
    base_dir : path, optional
        Folder that relative image paths are resolved against (the recording's folder).
    start_ms, end_ms : float, optional
        The recording's span, used for the last trial's end and for free viewing.

    Returns
    -------
    list of Trial

    Notes
    -----
    - A trial opens at a ``TRIALID id`` message and closes at its ``TRIAL_RESULT``
      (else at the next ``TRIALID``, else at ``end_ms``). Its ``messages`` are those
      from ``TRIALID`` to the close, inclusive.
    - Its span (``start_ms``, ``end_ms``) starts at ``SYNCTIME`` (image onset) when the
      trial has one, else at ``TRIALID``, and ends at the close. Its fixations are
      those that *start* within the span, ``[start, end)``, all eyes.
    - ``!V TRIAL_VAR name value`` fills ``variables`` (value: rest of the line).
    - The image is the first ``!V IMGLOAD`` of the trial (else the ``image`` trial
      variable). ``FILL`` places it over the whole ``DISPLAY_COORDS`` area;
      ``CENTER x y`` and ``TOP_LEFT x y`` take the size from optional trailing
      ``width height`` numbers or else from the image file's header (PIL), and give
      ``placement=None`` when the file is not found. Relative paths are resolved
      against ``base_dir``; ``image_path`` is the resolved path when that file exists,
      else the text of the message.
    - Without any ``TRIALID`` the whole recording is one trial, id ``"1"`` (free
      viewing).
    - ``screen`` is None: a recording does not know the display's millimetres.

    Examples
    --------
    >>> msgs = [Message(0, "TRIALID 7"), Message(5, "!V TRIAL_VAR image a.png"),
    ...         Message(10, "SYNCTIME"), Message(900, "TRIAL_RESULT 0")]
    >>> fix = Fixations([0, 20, 950], [8, 300, 990], [1, 2, 3], [1, 2, 3])
    >>> (t,) = trials_from_messages(msgs, fix)
    >>> t.trial_id, t.image_path, t.start_ms, t.end_ms, len(t.fixations)
    ('7', 'a.png', 10.0, 900.0, 1)
    """
    base = None if base_dir is None else Path(base_dir)
    msgs = list(messages)
    opens = [i for i, m in enumerate(msgs) if _first_word(m.text) == "TRIALID"]
    rec_start = start_ms if start_ms is not None else (msgs[0].time_ms if msgs else None)
    rec_end = end_ms if end_ms is not None else (msgs[-1].time_ms if msgs else None)
    groups: list[tuple[str, list[Message], float | None, float | None]] = []
    if not opens:
        groups.append(("1", msgs, rec_start, rec_end))
    for k, i in enumerate(opens):
        nxt = opens[k + 1] if k + 1 < len(opens) else len(msgs)
        tid = msgs[i].text.strip()[len("TRIALID"):].strip() or str(k + 1)
        stop = nxt
        close: float | None = None
        for j in range(i + 1, nxt):
            if _first_word(msgs[j].text) == "TRIAL_RESULT":
                stop = j + 1
                close = msgs[j].time_ms
                break
        if close is None:
            close = msgs[nxt].time_ms if nxt < len(msgs) else rec_end
        groups.append((tid, msgs[i:stop], msgs[i].time_ms, close))

    starts = fixations.starts_ms
    trials = []
    for tid, tmsgs, t0, t1 in groups:
        variables: dict[str, str] = {}
        display = display_coords
        imgload: tuple[str, str, tuple[float, ...]] | None = None
        sync: float | None = None
        for m in tmsgs:
            word = _first_word(m.text)
            if word == "!V":
                parts = m.text.split(None, 3)
                if len(parts) >= 3 and parts[1] == "TRIAL_VAR":
                    variables[parts[2]] = parts[3].strip() if len(parts) > 3 else ""
                elif imgload is None:
                    imgload = parse_imgload(m.text)
            elif word in ("DISPLAY_COORDS",):
                display = parse_display_coords(m.text) or display
            elif word == "SYNCTIME" and sync is None:
                sync = m.time_ms
        image_path: str | None = None
        placement: Placement | None = None
        if imgload is not None:
            mode, text, numbers = imgload
            resolved = _resolve(text, base)
            image_path = str(resolved) if resolved.exists() else text
            placement = placement_from_imgload(mode, numbers, resolved, display)
        elif "image" in variables:
            resolved = _resolve(variables["image"], base)
            image_path = str(resolved) if resolved.exists() else variables["image"]
        span_start = sync if sync is not None else t0
        if span_start is None or t1 is None:
            mask = np.ones(starts.size, dtype=bool)
        else:
            mask = (starts >= span_start) & (starts < t1)
        trials.append(Trial(
            trial_id=tid,
            image_path=image_path,
            placement=placement,
            screen=None,
            fixations=fixations.select(mask),
            messages=tuple(tmsgs),
            variables=variables,
            start_ms=None if span_start is None else float(span_start),
            end_ms=None if t1 is None else float(t1),
        ))
    return trials


def offset_message(time_ms: float, text: str) -> Message:
    """A message in SR Research's offset form read as the event it marks.

    A text that starts with a signed integer followed by more text (``"750
    imageOnsetTime"``) says the event came that many ms before the message was sent:
    the event is at ``time_ms - offset`` and the integer is dropped from the text (as
    Data Viewer reads it, and as :func:`vista.gaze.asc.read_asc` reads ``MSG t offset
    text`` lines). Any other text is kept as is.

    Examples
    --------
    >>> offset_message(1250.0, "750 imageOnsetTime")
    Message(time_ms=500.0, text='imageOnsetTime')
    >>> offset_message(100.0, "-7 later"), offset_message(100.0, "5")
    (Message(time_ms=107.0, text='later'), Message(time_ms=100.0, text='5'))
    """
    parts = text.split(None, 1)
    if len(parts) == 2:
        head = parts[0][1:] if parts[0][:1] in ("-", "+") else parts[0]
        if head.isascii() and head.isdigit():
            return Message(float(time_ms) - int(parts[0]), parts[1].strip())
    return Message(float(time_ms), text)


def sort_messages(messages: Iterable[Message]) -> tuple[Message, ...]:
    """Messages sorted by time, file order kept among equal times."""
    return tuple(sorted(messages, key=lambda m: m.time_ms))


def first_display_coords(
    messages: Iterable[Message],
) -> tuple[float, float, float, float] | None:
    """The first ``DISPLAY_COORDS`` (else ``GAZE_COORDS``) in ``messages``, or None."""
    gaze = None
    for m in messages:
        word = _first_word(m.text)
        if word == "DISPLAY_COORDS":
            dc = parse_display_coords(m.text)
            if dc is not None:
                return dc
        elif word == "GAZE_COORDS" and gaze is None:
            gaze = parse_display_coords(m.text)
    return gaze


# --------------------------------------------------------------------- reading


def read_recording(
    path: str | os.PathLike[str],
    *,
    samples: bool = False,
    encoding: str = "utf-8",
) -> Recording:
    """Read an EyeLink recording: ``.edf`` (binary) or ``.asc`` (edf2asc text).

    Parameters
    ----------
    path : path
        The file; the format is chosen by its suffix (case-insensitive).
    samples : bool, default False
        Also read the gaze samples (needed for :mod:`vista.gaze.detect`). Without
        them an ASC is still read in one pass, only the sample lines are skipped.
    encoding : str, default "utf-8"
        Text encoding of an ASC file (message texts, image paths).

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    vista.errors.ParseError
        If the file is malformed; the message names the file and line.
    vista.errors.MissingExtraError
        For an EDF when ``eyelinkio`` is not installed (extra ``eyelink``).

    Examples
    --------
    >>> import tempfile, os
    >>> from vista.gaze.asc import AscWriter
    >>> d = tempfile.mkdtemp()
    >>> with AscWriter(os.path.join(d, "r.asc")) as w:
    ...     w.start(1000, eyes="R", rate_hz=1000)
    ...     w.message(1000, "TRIALID 1")
    ...     w.fixation("R", 1010, 1250, 512.0, 384.0, 900)
    ...     w.message(1300, "TRIAL_RESULT 0")
    ...     w.end(1300)
    >>> rec = read_recording(os.path.join(d, "r.asc"))
    >>> len(rec.fixations), rec.trials[0].trial_id, rec.eyes
    (1, '1', 'R')
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".asc":
        from .asc import read_asc

        return read_asc(p, samples=samples, encoding=encoding)
    if suffix == ".edf":
        from .edf import read_edf

        return read_edf(p, samples=samples)
    if not p.exists():
        raise FileNotFoundError(f"no such recording: {p}")
    raise ParseError(
        f"unknown recording format {p.suffix!r}; expected .edf or .asc", path=p
    )


def build_recording(
    *,
    path: str | os.PathLike[str] | None,
    fixations: Fixations,
    saccades: Saccades,
    blinks: Blinks,
    messages: Iterable[Message],
    samples: Samples | None,
    sampling_rate_hz: float | None,
    eyes: str,
    start_ms: float | None = None,
    end_ms: float | None = None,
    fixation_pupils: Any = None,
) -> Recording:
    """Assemble a :class:`Recording` from parsed parts: sort the messages, find the
    display coordinates and the span, rebuild the trials. Used by the readers."""
    msgs = sort_messages(messages)
    display = first_display_coords(msgs)
    times = [t for t in (start_ms, end_ms) if t is not None]
    for arr in (fixations.starts_ms, fixations.ends_ms, saccades.ends_ms, blinks.ends_ms):
        if arr.size:
            times.extend((float(arr.min()), float(arr.max())))
    if msgs:
        times.extend((msgs[0].time_ms, msgs[-1].time_ms))
    if samples is not None and len(samples):
        times.extend((float(samples.times_ms[0]), float(samples.times_ms[-1])))
    t0 = min(times) if times else None
    t1 = max(times) if times else None
    base = None if path is None else Path(path).resolve().parent
    trials = trials_from_messages(msgs, fixations, display_coords=display, base_dir=base,
                                  start_ms=t0, end_ms=t1)
    return Recording(
        path=None if path is None else str(path),
        fixations=fixations,
        saccades=saccades,
        blinks=blinks,
        messages=msgs,
        samples=samples,
        sampling_rate_hz=sampling_rate_hz,
        eyes=eyes,
        display_coords=display,
        trials=trials,
        start_ms=t0,
        end_ms=t1,
        fixation_pupils=fixation_pupils,
    )
