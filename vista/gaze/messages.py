"""The EyeLink message protocol: the messages vista sends and reads, written once.

A session sends, per trial (SR Research's Data Viewer conventions)::

    TRIALID <id>
    !V TRIAL_VAR <name> <value>
    !V IMGLOAD CENTER <path> <x> <y> [<width> <height>]     (or TOP_LEFT x y, or FILL)
    DISPLAY_COORDS <left> <top> <right> <bottom>            inclusive pixels
    SYNCTIME                                                image onset
    TRIAL_RESULT <code>

and a message may be in the *offset form* ``<offset> <text>``: the event it marks came
``offset`` ms before the message was sent.

This module formats and parses these messages, holds the one placement rule of
``!V IMGLOAD`` (:func:`imgload_placement`: ``left = x - width / 2`` for ``CENTER``,
as Data Viewer reads it) and rebuilds the trials of a recording from its messages
(:func:`trials_from_messages`). The display, the simulated tracker and the readers all
use it, so what is sent is what is read back.

Paths in ``!V IMGLOAD`` messages come from files: they are read (an image header, for
the placement) but never written to.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..records import Fixations, Message, Placement, Trial

__all__ = [
    "check_message_text",
    "first_display_coords",
    "format_display_coords",
    "format_imgload",
    "imgload_placement",
    "offset_message",
    "parse_display_coords",
    "parse_imgload",
    "placement_from_imgload",
    "sort_messages",
    "trials_from_messages",
]

IMGLOAD_MODES = ("FILL", "CENTER", "TOP_LEFT")

DisplayCoords = tuple[float, float, float, float]
ImgLoad = tuple[str, str, tuple[float, ...]]

_FORBIDDEN = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL"}
_CONTROL_CATEGORIES = ("Cc", "Zl", "Zp")  # controls, line and paragraph separators


def first_word(text: str) -> str:
    """The first whitespace-separated word of a message ('' for a blank one)."""
    return text.split(None, 1)[0] if text.strip() else ""


def check_message_text(text: str, *, what: str = "message") -> str:
    """``text`` if it can be one message line; a newline, carriage return, tab, NUL or
    any other control character (which the ASC reader refuses) raises a ValueError
    naming ``what`` (an EDF or ASC line would be split or a path read back wrong).

    Examples
    --------
    >>> check_message_text("TRIALID 1")
    'TRIALID 1'
    >>> check_message_text("images/a\\tb.png", what="image path")
    Traceback (most recent call last):
    ...
    ValueError: image path 'images/a\\tb.png' holds a tab; EyeLink messages are one line of words
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a string; got {text!r}")
    for ch in text:
        if ch in _FORBIDDEN or unicodedata.category(ch) in _CONTROL_CATEGORIES:
            name = _FORBIDDEN.get(ch, f"the control character U+{ord(ch):04X}")
            raise ValueError(f"{what} {text!r} holds {name}; EyeLink messages are one line "
                             "of words")
    return text


# ------------------------------------------------------------------ DISPLAY_COORDS


def format_display_coords(width_px: int, height_px: int) -> str:
    """The ``DISPLAY_COORDS`` message of a ``width_px`` × ``height_px`` screen.

    Examples
    --------
    >>> format_display_coords(1920, 1080)
    'DISPLAY_COORDS 0 0 1919 1079'
    """
    return f"DISPLAY_COORDS 0 0 {int(width_px) - 1} {int(height_px) - 1}"


def parse_display_coords(text: str) -> DisplayCoords | None:
    """``(left, top, right, bottom)`` from a ``DISPLAY_COORDS`` (or ``GAZE_COORDS``)
    message, else None.

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


def first_display_coords(messages: Iterable[Message]) -> DisplayCoords | None:
    """The first ``DISPLAY_COORDS`` (else ``GAZE_COORDS``) in ``messages``, or None."""
    gaze = None
    for m in messages:
        word = first_word(m.text)
        if word == "DISPLAY_COORDS":
            dc = parse_display_coords(m.text)
            if dc is not None:
                return dc
        elif word == "GAZE_COORDS" and gaze is None:
            gaze = parse_display_coords(m.text)
    return gaze


# ------------------------------------------------------------------ !V IMGLOAD


def format_imgload(path: str | os.PathLike[str], placement: Placement) -> str:
    """The Data Viewer ``!V IMGLOAD CENTER path x y width height`` message for an
    image shown at ``placement`` (x, y: the centre, ``left + width / 2``).

    A path holding a newline, carriage return, tab or NUL is refused (ValueError): it
    would not be read back as the same path.

    Examples
    --------
    >>> format_imgload("/im/a.png", Placement(240, 0, 1440, 1080))
    '!V IMGLOAD CENTER /im/a.png 960 540 1440 1080'
    """
    text = check_message_text(os.fspath(path), what="image path")
    cx = placement.left + placement.width / 2
    cy = placement.top + placement.height / 2
    return f"!V IMGLOAD CENTER {text} {cx:g} {cy:g} {placement.width:g} {placement.height:g}"


def _is_number(token: str) -> bool:
    try:
        return math.isfinite(float(token))
    except ValueError:
        return False


def parse_imgload(text: str) -> ImgLoad | None:
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
    if mode not in IMGLOAD_MODES:
        return None
    for k in (4, 2):
        if len(rest) > k and all(_is_number(p) for p in rest[-k:]):
            return mode, " ".join(rest[:-k]), tuple(float(p) for p in rest[-k:])
    return None


def imgload_placement(
    mode: str,
    numbers: Sequence[float],
    *,
    image_size: tuple[float, float] | None = None,
    display: DisplayCoords | None = None,
) -> Placement | None:
    """The placement rule of ``!V IMGLOAD`` (Data Viewer's), pure.

    Parameters
    ----------
    mode : {"FILL", "CENTER", "TOP_LEFT"}
    numbers : sequence of float
        The message's ``x y`` or ``x y width height``.
    image_size : (width, height), optional
        The image file's size, used when the message gives no width and height.
    display : (left, top, right, bottom), optional
        ``DISPLAY_COORDS`` (inclusive), the area ``FILL`` covers.

    Returns
    -------
    Placement or None
        None where it cannot be known (``FILL`` without a display, no size).

    Examples
    --------
    >>> imgload_placement("CENTER", (960, 540, 1024, 768))
    Placement(left=448.0, top=156.0, width=1024, height=768)
    >>> imgload_placement("FILL", (), display=(0, 0, 799, 599))
    Placement(left=0, top=0, width=800.0, height=600.0)
    """
    if mode == "FILL":
        if display is None:
            return None
        left, top, right, bottom = display
        return Placement(left, top, right - left + 1.0, bottom - top + 1.0)
    if len(numbers) < 2:
        return None
    x, y = numbers[0], numbers[1]
    if len(numbers) == 4:
        w, h = numbers[2], numbers[3]
    elif image_size is not None:
        w, h = float(image_size[0]), float(image_size[1])
    else:
        return None
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        return None
    if mode == "CENTER":
        return Placement(x - w / 2.0, y - h / 2.0, w, h)
    return Placement(x, y, w, h)


def image_file_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) from an image file's header (:func:`vista.imaging.image_size`), or
    None when it is not a readable regular file (a FIFO or a folder is never opened), not
    an image, or over the pixel limit."""
    from .. import imaging

    try:
        h, w = imaging.image_size(path)
    except (OSError, ValueError):  # ParseError is a ValueError
        return None
    return w, h


def placement_from_imgload(
    mode: str,
    numbers: tuple[float, ...],
    image_file: str | os.PathLike[str],
    display: DisplayCoords | None,
) -> Placement | None:
    """:func:`imgload_placement`, with the size read from ``image_file``'s header when
    the message gives none (the file is only read).

    Examples
    --------
    >>> placement_from_imgload("CENTER", (960, 540, 1024, 768), Path("x.png"), None)
    Placement(left=448.0, top=156.0, width=1024, height=768)
    """
    size = None
    if mode != "FILL" and len(numbers) != 4:
        size = image_file_size(image_file)
    return imgload_placement(mode, numbers, image_size=size, display=display)


# ------------------------------------------------------------------ offsets, order


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


# ------------------------------------------------------------------ trials


TrialGroup = tuple[str, list[Message], float | None, float | None]


def group_trials(
    messages: Sequence[Message], *, start_ms: float | None = None,
    end_ms: float | None = None,
) -> list[TrialGroup]:
    """``(trial id, messages, open time, close time)`` per trial (the rule of
    :func:`trials_from_messages`); one group ``"1"`` for a recording with no
    ``TRIALID``."""
    msgs = list(messages)
    opens = [i for i, m in enumerate(msgs) if first_word(m.text) == "TRIALID"]
    rec_start = start_ms if start_ms is not None else (msgs[0].time_ms if msgs else None)
    rec_end = end_ms if end_ms is not None else (msgs[-1].time_ms if msgs else None)
    if not opens:
        return [("1", msgs, rec_start, rec_end)]
    groups: list[TrialGroup] = []
    for k, i in enumerate(opens):
        nxt = opens[k + 1] if k + 1 < len(opens) else len(msgs)
        tid = msgs[i].text.strip()[len("TRIALID"):].strip() or str(k + 1)
        stop = nxt
        close: float | None = None
        for j in range(i + 1, nxt):
            if first_word(msgs[j].text) == "TRIAL_RESULT":
                stop = j + 1
                close = msgs[j].time_ms
                break
        if close is None:
            close = msgs[nxt].time_ms if nxt < len(msgs) else rec_end
        groups.append((tid, msgs[i:stop], msgs[i].time_ms, close))
    return groups


def _resolve(path_text: str, base_dir: Path | None) -> Path:
    p = Path(path_text)
    if not p.is_absolute() and base_dir is not None:
        return base_dir / p
    return p


def _shown_path(text: str, base: Path | None) -> tuple[str, Path]:
    """(image_path as the trial reports it, the path to read the header from)."""
    resolved = _resolve(text, base)
    try:
        exists = resolved.exists()
    except (OSError, ValueError):  # a name too long, a NUL: not a file
        exists = False
    return (str(resolved) if exists else text), resolved


def _scan_trial(
    tmsgs: Sequence[Message], display: DisplayCoords | None,
) -> tuple[dict[str, str], DisplayCoords | None, ImgLoad | None, float | None]:
    variables: dict[str, str] = {}
    imgload: ImgLoad | None = None
    sync: float | None = None
    for m in tmsgs:
        word = first_word(m.text)
        if word == "!V":
            parts = m.text.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TRIAL_VAR":
                variables[parts[2]] = parts[3].strip() if len(parts) > 3 else ""
            elif imgload is None:
                imgload = parse_imgload(m.text)
        elif word == "DISPLAY_COORDS":
            display = parse_display_coords(m.text) or display
        elif word == "SYNCTIME" and sync is None:
            sync = m.time_ms
    return variables, display, imgload, sync


def _build_trial(group: TrialGroup, fixations: Fixations, display: DisplayCoords | None,
                 base: Path | None) -> Trial:
    tid, tmsgs, t0, t1 = group
    variables, display, imgload, sync = _scan_trial(tmsgs, display)
    image_path: str | None = None
    placement: Placement | None = None
    if imgload is not None:
        mode, text, numbers = imgload
        image_path, resolved = _shown_path(text, base)
        placement = placement_from_imgload(mode, numbers, resolved, display)
    elif "image" in variables:
        image_path, _ = _shown_path(variables["image"], base)
    span_start = sync if sync is not None else t0
    starts = fixations.starts_ms
    if span_start is None or t1 is None:
        mask = np.ones(starts.size, dtype=bool)
    else:
        mask = (starts >= span_start) & (starts < t1)
    return Trial(
        trial_id=tid, image_path=image_path, placement=placement, screen=None,
        fixations=fixations.select(mask), messages=tuple(tmsgs), variables=variables,
        start_ms=None if span_start is None else float(span_start),
        end_ms=None if t1 is None else float(t1),
    )


def trials_from_messages(
    messages: Sequence[Message],
    fixations: Fixations,
    *,
    display_coords: DisplayCoords | None = None,
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
    groups = group_trials(messages, start_ms=start_ms, end_ms=end_ms)
    return [_build_trial(g, fixations, display_coords, base) for g in groups]
