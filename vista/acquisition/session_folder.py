"""The session folder on disk: ``session.json`` (the plan and the log) and the
``trials.jsonl`` journal, written through :mod:`vista._io` (the journal is read by
:func:`vista.gaze.session_reader.read_journal`, for ``vista maps`` and ``--resume`` alike).

Every path read from these files that vista writes to (a recording file recovered
on resume) must resolve inside the session folder; every trial line must belong to
the plan. Problems are :class:`~vista.errors.ParseError` naming the file and line.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import append_jsonl, fsync_dir, inside, read_json, write_json_atomic
from ..errors import ParseError
from ..gaze.messages import check_message_text

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SessionLock",
    "append_trial",
    "find_session",
    "read_meta",
    "write_meta",
]

FORMAT = "vista-session"
FORMAT_VERSION = 1
META = "session.json"
JOURNAL = "trials.jsonl"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def edf_name(participant: str, part: int) -> str:
    """The tracker-side data file name: at most 8 letters, digits or '_'.

    Examples
    --------
    >>> edf_name("P01", 1), edf_name("subject-0042", 12)
    ('P01_1', 't0042_12')
    """
    suffix = f"_{part}"
    stem = re.sub(r"[^A-Za-z0-9]", "", participant) or "vista"
    keep = max(8 - len(suffix), 1)
    return (stem[-keep:] + suffix)[-8:]  # the end of an id is what tells participants apart


def recording_file(part: int, suffix: str) -> str:
    return ("recording" if part == 1 else f"recording-{part}") + suffix


def write_meta(session_dir: Path, meta: Mapping[str, Any]) -> None:
    write_json_atomic(session_dir / META, dict(meta))


def append_trial(session_dir: Path, entry: Mapping[str, Any]) -> None:
    """One completed trial, appended to the journal and fsynced before returning."""
    append_jsonl(session_dir / JOURNAL, entry)


def _check_plan(plan: Any, path: Path) -> list[dict[str, str]]:
    if not isinstance(plan, list) or not plan:
        raise ParseError("'plan' must be a non-empty list of trials; it cannot be resumed",
                         path=path)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for k, item in enumerate(plan):
        ok = (isinstance(item, dict) and isinstance(item.get("trial_id"), str)
              and isinstance(item.get("image"), str) and item["trial_id"] not in seen)
        if not ok:
            raise ParseError(f"plan item {k} must be an object with a new 'trial_id' and an "
                             f"'image' string; got {item!r}", path=path)
        try:
            check_message_text(item["image"], what=f"plan item {k}: image")
        except ValueError as exc:
            raise ParseError(str(exc), path=path) from None
        seen.add(item["trial_id"])
        out.append({"trial_id": item["trial_id"], "image": item["image"]})
    return out


def _check_recordings(session_dir: Path, recordings: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(recordings, list):
        raise ParseError(f"'recordings' must be a list; got {recordings!r}", path=path)
    for k, rec in enumerate(recordings):
        if not (isinstance(rec, dict) and isinstance(rec.get("file"), str)
                and isinstance(rec.get("tracker_file"), str)):
            raise ParseError(f"recordings[{k}] must be an object with 'file' and "
                             f"'tracker_file' strings; got {rec!r}", path=path)
        target = inside(session_dir, rec["file"], what=f"{path}: recordings[{k}].file")
        if target.parent != session_dir.resolve():
            raise ParseError(f"recordings[{k}].file {rec['file']!r} must be a file name in "
                             "the session folder", path=path)
    return [dict(r) for r in recordings]


def read_meta(session_dir: Path) -> dict[str, Any]:
    """``session.json`` of a session to resume, checked: a vista session object with
    a plan of trials and recording files inside the folder."""
    path = session_dir / META
    if not path.is_file():
        raise FileNotFoundError(f"not a session folder (no session.json): {session_dir}")
    meta = read_json(path, expect=dict, what="session.json")
    if meta.get("format") != FORMAT:
        raise ParseError(f"not a vista session (format {meta.get('format')!r})", path=path)
    if "plan" not in meta:
        raise ParseError("session.json has no trial plan; it cannot be resumed", path=path)
    meta["plan"] = _check_plan(meta["plan"], path)
    meta["recordings"] = _check_recordings(session_dir, meta.get("recordings", []), path)
    for key, kind, name in (("tracker", dict, "an object"), ("screen", dict, "an object"),
                            ("calibrations", list, "a list")):
        if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
            raise ParseError(f"'{key}' must be {name}; got {meta[key]!r}", path=path)
    if meta.get("calibrations", 0) is None:
        del meta["calibrations"]
    return meta


def find_session(root: str | os.PathLike[str], participant: str) -> Path:
    """The newest unfinished session of ``participant`` under ``root``
    (``ROOT/PARTICIPANT-YYYYmmdd-HHMMSS`` with status ``"recording"``)."""
    root = Path(root)
    candidates = []
    for p in sorted(root.glob(f"{participant}-*")):
        if not (p / META).is_file():
            continue
        try:
            data = read_json(p / META, expect=dict)
        except (OSError, ValueError):
            continue  # not a session of this participant we could resume
        if data.get("participant") == participant and data.get("status") != "complete":
            candidates.append(p)
    if not candidates:
        raise FileNotFoundError(
            f"no unfinished session of participant {participant!r} under {root}; "
            "name the session folder with --out"
        )
    return candidates[-1]


def discard_unstarted(session_dir: Path) -> None:
    """Remove a session folder that holds only this run's session.json (and empty
    tracker folders), so that the same command can be run again after, say, a
    failed connection."""
    tracker_dir = session_dir / ".tracker"
    if tracker_dir.is_dir() and not any(tracker_dir.iterdir()):
        tracker_dir.rmdir()
    if {p.name for p in session_dir.iterdir()} <= {META}:
        (session_dir / META).unlink(missing_ok=True)
        session_dir.rmdir()
        fsync_dir(session_dir.parent)


LOCK = ".vista-session.lock"


class SessionLock:
    """One run at a time in a session folder: an exclusive ``flock`` on
    ``SESSION/.vista-session.lock`` held while a run writes the session.

    The operating system releases the lock when the process ends, however it ends, so
    ``--resume`` after a crash or SIGKILL needs nothing cleared by hand; a second run
    started while the first is alive (another terminal, a second ``--resume``) is
    refused. Where ``flock`` does not exist the lock is a no-op.
    """

    def __init__(self, session_dir: Path) -> None:
        from ..errors import FolderBusyError

        self.path = session_dir / LOCK
        self._fd: int | None = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise FolderBusyError(
                    f"session {session_dir} is being recorded by another vista process; "
                    "wait for it to finish (or stop it) before running this one") from None
            # A holder that released (and unlinked) the file between our open and our
            # flock leaves us locking an orphan: lock the file that is there now instead.
            if self._same_file(fd):
                self._fd = fd
                return
            os.close(fd)

    def _same_file(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)
