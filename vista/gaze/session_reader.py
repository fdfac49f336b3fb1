"""Read a session folder (README, *The session folder*) into trials.

The session log is authoritative: the screen comes from ``session.json``; each
trial's image, placement, time span and transcript from its ``trials.jsonl`` line
and ``transcripts/ID.json``. Only the fixations (and messages) come from the
recording, read with :func:`vista.gaze.io.read_recording`.

:func:`read_journal` and :func:`read_transcript` are the one reader of their file:
``vista record --resume`` and ``vista transcribe`` (:mod:`vista.acquisition`, which
writes these files) read them through here too.
"""

from __future__ import annotations

import os
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import inside, read_json, read_jsonl, safe_name
from ..errors import ParseError
from ..records import Placement, Screen, Transcript, Trial
from .recording import Recording

__all__ = ["Session", "is_session_dir", "plan_ids", "read_journal", "read_session",
           "read_transcript", "transcript_from_dict"]


@dataclass(frozen=True)
class Session:
    """A session folder read into memory.

    Attributes
    ----------
    root : Path
        The session folder.
    participant : str
        From ``session.json`` (else the folder's name).
    screen : Screen or None
        From ``session.json``.
    trials : list of Trial
        One per ``trials.jsonl`` line, in order; fixations are those of the
        recording that start within the trial's span (all eyes).
    recording : Path
        The EDF or ASC the fixations came from.
    eyes : str
        The eyes in the recording: ``"L"``, ``"R"`` or ``"LR"``.
    info : dict
        ``session.json`` as read.
    """

    root: Path
    participant: str
    screen: Screen | None
    trials: list[Trial]
    recording: Path
    eyes: str = "R"
    info: dict[str, Any] = field(default_factory=dict)


def is_session_dir(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder holding ``session.json``."""
    p = Path(path)
    return p.is_dir() and (p / "session.json").is_file()


def _screen(info: dict[str, Any], path: Path) -> Screen | None:
    raw = info.get("screen")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ParseError(f"'screen' must be an object; got {raw!r}", path=path)
    try:
        return Screen(int(raw["width_px"]), int(raw["height_px"]), float(raw["width_mm"]),
                      float(raw["height_mm"]), float(raw["distance_mm"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"invalid 'screen': {exc}", path=path) from exc


def _find_recording(root: Path, info: dict[str, Any], named: Any = None,
                    where: str | None = None) -> Path:
    """The recording file a trial line names (``recording``: a resumed session has
    several parts; ``where`` is that line), else the one session.json names, else the
    default names."""
    if not named:
        named, where = info.get("recording"), str(root / "session.json")
    if named:
        if not isinstance(named, str):
            raise ParseError(f"'recording' must be a file name; got {named!r}", path=where)
        p = inside(root, named, what=f"{where}: recording")
        if not p.is_file():
            raise FileNotFoundError(f"session {root} names recording {p}, which is missing")
        return p
    for name in ("recording.edf", "recording.asc"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"no recording.edf or recording.asc in session folder {root}")


def _resolve_image(text: str | None, root: Path, images_dir: str | None) -> str | None:
    if not text:
        return None
    p = Path(text)
    if p.is_absolute():
        return str(p)
    for base in (root, Path(images_dir) if images_dir else None):
        if base is not None and (base / p).exists():
            return str(base / p)
    return str(root / p)


def plan_ids(info: Mapping[str, Any]) -> set[str] | None:
    """The trial ids of ``session.json``'s plan (None for a session without one)."""
    plan = info.get("plan")
    if not isinstance(plan, list):
        return None
    return {str(p.get("trial_id")) for p in plan if isinstance(p, dict)}


def read_journal(path: str | os.PathLike[str], *, repair: bool = False,
                 plan: Container[str] | None = None, numbered: bool = False) -> list[Any]:
    """The trials of a session's ``trials.jsonl`` (one dict per completed trial;
    ``(line number, dict)`` pairs with ``numbered``).

    A last line cut short by a crash (no newline at its end, or not valid JSON) is
    not a completed trial: it is ignored, and with ``repair`` removed from the file
    (``vista record --resume``, ``vista transcribe`` and ``vista maps`` alike).
    A bad line elsewhere, a line without a ``trial_id`` (a string, or an integer read
    as one), a ``start_ms``/``end_ms`` that is no tracker time, or (given ``plan``,
    the trial ids of session.json) a trial id the plan does not hold (its maps would
    be phantoms) raises :class:`~vista.errors.ParseError` naming the line.
    """
    rows = read_jsonl(path, torn_tail="repair" if repair else "drop", missing_ok=True)
    out: list[Any] = []
    for line, row in rows:
        tid = row.get("trial_id")
        if isinstance(tid, int) and not isinstance(tid, bool):
            tid = row["trial_id"] = str(tid)
        if not isinstance(tid, str) or not tid:
            raise ParseError(f"journal line has no trial_id string (got {tid!r})",
                             path=path, line=line)
        for key in ("start_ms", "end_ms"):
            value = row.get(key)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))
                                      or not 0 <= value < 2**32):
                raise ParseError(f"{key} must be a tracker time, 0 to 2**32 ms; got {value!r}",
                                 path=path, line=line)
        if plan is not None and tid not in plan:
            raise ParseError(f"trial {tid!r} is not in the session's plan (session.json); "
                             "the journal does not belong to this session", path=path, line=line)
        out.append((line, row) if numbered else row)
    return out


def transcript_from_dict(doc: Any, path: str | os.PathLike[str]) -> Transcript:
    """``Transcript.from_dict(doc)``; a document that is not one is a
    :class:`~vista.errors.ParseError` naming ``path`` and the field at fault."""
    try:
        return Transcript.from_dict(doc)
    except KeyError as exc:
        raise ParseError(f"not a transcript: missing field {exc.args[0]!r}",
                         path=path) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ParseError(f"not a transcript: {exc}", path=path) from None


def read_transcript(path: str | os.PathLike[str]) -> Transcript:
    """Read a ``transcripts/TRIAL_ID.json`` file (extra keys such as ``meta`` ignored).

    Raises
    ------
    vista.errors.ParseError
        Invalid JSON, or a document without its ``words`` (each with ``text``,
        ``start_ms``, ``end_ms``); the file and the field are named.
    """
    return transcript_from_dict(read_json(path, expect=dict, what="transcript"), path)


def _transcript(root: Path, journal: Path, lineno: int, tid: str,
                row: dict[str, Any]) -> Transcript | None:
    """The trial's transcript: the file its line names, else ``transcripts/ID.json``
    (written by `vista transcribe` afterwards, without touching the journal)."""
    tp = inside(root, Path("transcripts") / f"{safe_name(tid)}.json",
                what=f"{journal}:{lineno}: transcript")
    named = row.get("transcript")
    if named:
        if not isinstance(named, str):
            raise ParseError(f"'transcript' must be a path; got {named!r}", path=journal,
                             line=lineno)
        tp = inside(root, named, what=f"{journal}:{lineno}: transcript")
        if not tp.exists():
            raise FileNotFoundError(
                f"{journal}:{lineno}: transcript {tp} of trial {tid!r} is missing")
    if not tp.exists() and not tp.is_symlink():
        return None
    return read_transcript(tp)


def read_session(path: str | os.PathLike[str], *, strict: bool = False) -> Session:
    """Read a session folder written by ``vista record``.

    Parameters
    ----------
    path : path
        The folder holding ``session.json``, ``trials.jsonl``, the recording and
        ``transcripts/``.
    strict : bool, default False
        Passed to :func:`vista.gaze.io.read_recording` for each recording part: an
        inconsistent recording is a :class:`~vista.gaze.checks.RecordingWarning`
        (default) or, with ``strict``, a :class:`~vista.errors.ParseError`.

    Returns
    -------
    Session

    Raises
    ------
    FileNotFoundError
        If the folder, ``session.json``, ``trials.jsonl``, the recording or a
        transcript named in ``trials.jsonl`` is missing.
    vista.errors.ParseError
        For invalid JSON or an invalid trial line (file and line named); with
        ``strict``, for an inconsistent recording.

    Examples
    --------
    >>> import tempfile, json, pathlib
    >>> from vista.gaze.asc import AscWriter
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "session.json").write_text(json.dumps({"participant": "P1"}))
    >>> _ = (d / "trials.jsonl").write_text(json.dumps({"trial_id": "1", "start_ms": 0,
    ...                                                  "end_ms": 1000}) + "\\n")
    >>> with AscWriter(d / "recording.asc") as w:
    ...     w.start(0, eyes="R", rate_hz=1000)
    ...     w.fixation("R", 10, 300, 512.0, 384.0, 900)
    ...     w.end(1000)
    >>> s = read_session(d)
    >>> s.participant, [len(t.fixations) for t in s.trials]
    ('P1', [1])
    """
    from .io import read_recording

    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"session folder {root} does not exist")
    info_path = root / "session.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} is missing: not a session folder")
    info = read_json(info_path, expect=dict, what="session.json")
    screen = _screen(info, info_path)
    journal = root / "trials.jsonl"
    if not journal.is_file():
        raise FileNotFoundError(f"{journal} is missing: the session has no trials")
    recordings: dict[Path, Recording] = {}

    def recording_for(named: Any, where: str | None = None) -> Recording:
        path = _find_recording(root, info, named, where)
        if path not in recordings:
            recordings[path] = read_recording(path, strict=strict)
        return recordings[path]

    first = recording_for(None)
    images_dir = info.get("images_dir")
    trials = [_trial(root, journal, lineno, row, screen, recording_for, images_dir)
              for lineno, row in read_journal(journal, plan=plan_ids(info), numbered=True)]
    participant = info.get("participant") or root.name
    if not isinstance(participant, str):
        raise ParseError(f"'participant' must be a string; got {participant!r}", path=info_path)
    return Session(root=root, participant=participant, screen=screen, trials=trials,
                   recording=Path(first.path or ""), eyes=first.eyes, info=info)


def _trial(root: Path, journal: Path, lineno: int, row: dict[str, Any],
           screen: Screen | None, recording_for: Any, images_dir: Any) -> Trial:
    """One journal line as a Trial: the line's fields, its transcript, and the gaze of
    the recording part it was recorded in."""
    tid = row["trial_id"]  # a string: checked by read_journal
    try:
        t0 = None if row.get("start_ms") is None else float(row["start_ms"])
        t1 = None if row.get("end_ms") is None else float(row["end_ms"])
        pl = row.get("placement")
        placement = None if pl is None else Placement(
            float(pl["left"]), float(pl["top"]), float(pl["width"]), float(pl["height"]))
        image = row.get("image")
        if image is not None and not isinstance(image, str):
            raise TypeError(f"'image' must be a path string; got {image!r}")
    except KeyError as exc:
        raise ParseError(f"invalid trial: missing field {exc.args[0]!r}", path=journal,
                         line=lineno) from exc
    except (TypeError, ValueError) as exc:
        raise ParseError(f"invalid trial: {exc}", path=journal, line=lineno) from exc
    transcript = _transcript(root, journal, lineno, tid, row)
    # Each trial's gaze comes from the part it was recorded in; an unfinished
    # copy of the trial in an earlier part (run again after --resume) is ignored.
    recording = recording_for(row.get("recording"), f"{journal}:{lineno}")
    starts = recording.fixations.starts_ms
    if t0 is not None and t1 is not None:
        mask = (starts >= t0) & (starts < t1)  # half-open, as in read_recording
    else:
        mask = np.ones(starts.size, dtype=bool)
    rec_trial = next((t for t in recording.trials if t.trial_id == tid), None)
    return Trial(
        trial_id=tid,
        image_path=_resolve_image(image, root, images_dir if isinstance(images_dir, str) else None),
        placement=placement,
        screen=screen,
        fixations=recording.fixations.select(mask),
        transcript=transcript,
        messages=() if rec_trial is None else rec_trial.messages,
        variables={} if rec_trial is None else dict(rec_trial.variables),
        start_ms=t0,
        end_ms=t1,
    )
