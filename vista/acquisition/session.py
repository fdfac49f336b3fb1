"""The lab session: the protocol loop that turns a folder of images into a session folder.

One call, :func:`run_session`, runs a whole session: participant, screen geometry,
calibration and validation, then one trial per image (drift check, ``TRIALID``,
``!V TRIAL_VAR``, ``!V IMGLOAD``, ``DISPLAY_COORDS``, image on with ``SYNCTIME``,
audio on, wait for a key or the time limit, ``TRIAL_RESULT 0``), and the data file
transfer at the end. The folder layout is described in the README (*The session folder*).

Crash safety:

- each completed trial is one line of ``trials.jsonl``, flushed and fsynced before
  the next trial starts;
- ``resume=True`` continues an interrupted session: trials already in the journal
  are skipped, the rest run in a new tracker data file (``recording-2.asc`` or
  ``.edf``), listed in ``session.json``; the interrupted part's data file is
  recovered from the tracker where it still has it;
- an existing session folder is never overwritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .._validation import as_rng, check_option, check_positive
from ..dataset import write_atomic
from ..errors import ParseError
from ..records import Screen
from .display import fit_placement, imgload_message
from .tracker import Tracker

__all__ = [
    "IMAGE_SUFFIXES",
    "SessionSummary",
    "find_session",
    "list_images",
    "make_tracker",
    "read_journal",
    "run_session",
]

FORMAT = "vista-session"
FORMAT_VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TRACKER_KINDS = ("simulated", "dummy", "eyelink")
ORDERS = ("sorted", "shuffled")


@dataclass(frozen=True)
class SessionSummary:
    """What :func:`run_session` did.

    ``completed`` counts the trials in the journal (all parts), ``ran`` those run by
    this call; ``recordings`` are the data files received, relative to ``path``.
    """

    path: Path
    participant: str
    completed: int
    total: int
    ran: int
    recordings: tuple[str, ...]
    status: str


# --------------------------------------------------------------------------- helpers


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


def _check_participant(participant: str) -> str:
    if not isinstance(participant, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", participant):
        raise ValueError(
            "participant must be 1-64 letters, digits, '_' or '-' (it names files), "
            f"starting with a letter or digit; got {participant!r}"
        )
    return participant


def _edf_name(participant: str, part: int) -> str:
    """The tracker-side data file name: at most 8 letters, digits or '_'.

    Examples
    --------
    >>> _edf_name("P01", 1), _edf_name("subject-0042", 12)
    ('P01_1', 't0042_12')
    """
    suffix = f"_{part}"
    stem = re.sub(r"[^A-Za-z0-9]", "", participant) or "vista"
    keep = max(8 - len(suffix), 1)
    return (stem[-keep:] + suffix)[-8:]  # the end of an id is what tells participants apart


def _recording_file(part: int, suffix: str) -> str:
    return ("recording" if part == 1 else f"recording-{part}") + suffix


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_journal(path: str | os.PathLike[str], *, repair: bool = False) -> list[dict[str, Any]]:
    """The trials of a session's ``trials.jsonl`` (one dict per completed trial).

    A last line cut short by a crash (no newline at its end, or not valid JSON) is
    not a completed trial: it is ignored, and with ``repair`` removed from the file.
    A bad line elsewhere raises :class:`~vista.errors.ParseError` naming the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is unfinished (or empty)
    torn = lines[-1] != b""
    out: list[dict[str, Any]] = []
    for i, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(complete) and not torn:
                torn = True
                complete = complete[:-1]
                break
            raise ParseError(f"invalid journal line: {exc.msg}", path=path, line=i) from exc
        if not isinstance(item, dict) or "trial_id" not in item:
            raise ParseError("journal line is not a trial object with a trial_id", path=path, line=i)
        out.append(item)
    if torn and repair:
        write_atomic(path, b"".join(line + b"\n" for line in complete))
    return out


def _append_journal(path: Path, entry: Mapping[str, Any]) -> None:
    line = (json.dumps(entry, separators=(", ", ": ")) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def find_session(root: str | os.PathLike[str], participant: str) -> Path:
    """The newest unfinished session of ``participant`` under ``root``
    (``ROOT/PARTICIPANT-YYYYmmdd-HHMMSS`` with status ``"recording"``)."""
    root = Path(root)
    candidates = []
    for p in sorted(root.glob(f"{participant}-*")):
        meta = p / "session.json"
        if not meta.is_file():
            continue
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("participant") == participant and data.get("status") != "complete":
            candidates.append(p)
    if not candidates:
        raise FileNotFoundError(
            f"no unfinished session of participant {participant!r} under {root}; "
            "name the session folder with --out"
        )
    return candidates[-1]


def make_tracker(
    kind: str,
    screen: Screen,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    rng: Any = None,
    speed: float | None = 1.0,
    address: str = "100.1.1.1",
    display: Any = None,
    start_ms: float = 0.0,
) -> Tracker:
    """A tracker by name: ``"simulated"``, ``"dummy"`` (pylink dummy mode) or
    ``"eyelink"`` (the Host PC at ``address``)."""
    check_option("tracker", kind, TRACKER_KINDS)
    if kind == "simulated":
        from .simulate import SimulatedTracker

        return SimulatedTracker(screen, speed=speed, rng=rng, data_dir=data_dir, start_ms=start_ms)
    from .eyelink import EyeLinkTracker

    return EyeLinkTracker(screen, address=None if kind == "dummy" else address, display=display,
                          data_dir=data_dir)


def _tracker_info(tracker: Any) -> dict[str, Any]:
    describe = getattr(tracker, "describe", None)
    if callable(describe):
        return dict(describe())
    return {
        "kind": getattr(tracker, "kind", type(tracker).__name__),
        "sampling_rate_hz": getattr(tracker, "sampling_rate_hz", None),
        "eye": getattr(tracker, "eye", None),
    }


def _jsonable(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --------------------------------------------------------------------------- session


def run_session(
    images: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    participant: str,
    screen: Screen,
    tracker: Tracker | str | None = None,
    address: str = "100.1.1.1",
    out: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] = "sessions",
    resume: bool = False,
    time_limit_s: float = 10.0,
    display: Any = None,
    audio: str | os.PathLike[str] | None = None,
    order: str = "sorted",
    rng: Any = None,
    speed: float | None = None,
    inter_trial_s: float = 0.0,
    drift_check: bool = True,
    end_key: Sequence[str] = ("space", "return"),
    on_trial: Callable[[Mapping[str, Any]], None] | None = None,
) -> SessionSummary:
    """Run (or resume) a recording session and write its session folder.

    Parameters
    ----------
    images : path or sequence of paths
        A folder of images (:func:`list_images`) or the image files, in order.
    participant : str
        Participant id (letters, digits, ``_``, ``-``); names the folder and the
        tracker's data file.
    screen : Screen
        Display geometry: resolution, size in mm, viewing distance.
    tracker : Tracker, str or None
        A connected-or-not :class:`~vista.acquisition.tracker.Tracker`, or a name for
        :func:`make_tracker`: ``"simulated"``, ``"dummy"``, ``"eyelink"``. None: the
        session's own kind when resuming, else ``"simulated"``. A resumed session
        must use the kind it was recorded with. A simulated or dummy tracker made here
        keeps its data files in ``SESSION/.tracker`` so a crashed part can be
        recovered on resume.
    address : str
        EyeLink Host PC address for ``tracker="eyelink"`` (default ``100.1.1.1``).
    out : path, optional
        The session folder. Default ``ROOT/PARTICIPANT-YYYYmmdd-HHMMSS`` (UTC); with
        ``resume``, the newest unfinished session of the participant under ``root``.
    root : path
        Where default session folders go (``"sessions"``).
    resume : bool
        Continue the interrupted session at ``out`` instead of starting one.
    time_limit_s : float
        Longest a trial lasts, seconds (default 10); a key (``end_key``) ends it
        sooner. A simulated participant presses the key one second after their
        last word.
    display : StimulusDisplay, bool or None
        Where images are shown. ``None``: a full-screen display for a real or dummy
        tracker, none for a simulated one; ``False``: none (the placement is still
        computed by :func:`~vista.acquisition.display.fit_placement`); ``True``: a
        full-screen display. A display passed in is opened if it is not, and left
        open.
    audio : str or path, optional
        Speech source: ``"microphone"`` (default device), ``"tts"`` (a simulated
        participant's phrases spoken by espeak-ng) or a WAV file played as the
        microphone. ``None``: no audio; a simulated participant's words are then
        written as the transcript (source ``"simulated"``).
    order : {"sorted", "shuffled"}
        Trial order: by file name, or shuffled with ``rng`` (stored in session.json,
        so a resumed session keeps it).
    rng : Generator, int or None
        Seed for the shuffle and the simulated participant.
    speed : float or None
        Pacing of a simulated tracker made here: simulated ms per real ms (1: real
        time, for watching on a display). Default None: as fast as possible. The
        recording does not depend on it.
    inter_trial_s : float
        Real seconds of blank screen between trials (default 0).
    drift_check : bool
        Run a drift check before each trial (default True).
    end_key : sequence of str
        pygame key names that end a trial (default space and return; Escape always
        stops the session after the current trial).
    on_trial : callable, optional
        Called with each journal line after it is on disk (progress reports).

    Returns
    -------
    SessionSummary

    Raises
    ------
    FileExistsError
        If the session folder exists (and ``resume`` is False), or with ``resume``
        when the session is already complete.
    FileNotFoundError
        If the images folder has no images, or ``resume`` finds no session.
    """
    participant = _check_participant(participant)
    if not isinstance(screen, Screen):
        raise TypeError(f"screen must be a Screen record; got {screen!r}")
    time_limit_ms = check_positive("time_limit_s", time_limit_s) * 1000.0
    check_positive("inter_trial_s", inter_trial_s, allow_zero=True)
    check_option("order", order, ORDERS)
    gen = as_rng(rng)

    # -- the folder: new, or the one to resume ------------------------------------
    if resume:
        session_dir = Path(out) if out is not None else find_session(root, participant)
        meta = _read_meta(session_dir)
        if meta.get("participant") != participant:
            raise ValueError(
                f"participant {participant!r} does not match the session at {session_dir} "
                f"(participant {meta.get('participant')!r})"
            )
        if meta.get("status") == "complete":
            raise FileExistsError(f"session {session_dir} is already complete; nothing to resume")
        stored = meta.get("screen") or {}
        diff = {k: (stored.get(k), v) for k, v in screen.to_dict().items() if stored.get(k) != v}
        if diff:
            what = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in diff.items())
            raise ValueError(
                f"screen differs from the session's: {what}; resume with the same screen "
                "geometry (--screen-px, --screen-mm, --distance-mm)"
            )
        plan = [dict(p) for p in meta["plan"]]
        for item in plan:
            if not Path(item["image"]).is_file():
                raise FileNotFoundError(f"image of trial {item['trial_id']} is missing: {item['image']}")
    else:
        image_list = list_images(images) if isinstance(images, (str, os.PathLike)) else [
            Path(p).resolve() for p in images
        ]
        for p in image_list:
            if not p.is_file():
                raise FileNotFoundError(f"image not found: {p}")
        if not image_list:
            raise ValueError("images must name at least one image")
        if order == "shuffled":
            image_list = [image_list[i] for i in gen.permutation(len(image_list))]
        if out is None:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
            session_dir = Path(root) / f"{participant}-{stamp}"
        else:
            session_dir = Path(out)
        if session_dir.exists() and (not session_dir.is_dir() or any(session_dir.iterdir())):
            raise FileExistsError(
                f"session folder {session_dir} already exists; vista never overwrites a session "
                "(use --resume to continue it, or choose another --out)"
            )
        session_dir.mkdir(parents=True, exist_ok=True)
        images_dir = (
            Path(images).resolve() if isinstance(images, (str, os.PathLike)) else image_list[0].parent
        )
        plan = [{"trial_id": str(i + 1), "image": str(p)} for i, p in enumerate(image_list)]
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "vista_version": __version__,
            "participant": participant,
            "created": _now_iso(),
            "tracker": {},
            "screen": screen.to_dict(),
            "calibration": None,
            "recording": None,
            "recordings": [],
            "images_dir": str(images_dir),
            "time_limit_s": time_limit_ms / 1000.0,
            "order": order,
            "plan": plan,
            "status": "recording",
        }
        _write_json_atomic(session_dir / "session.json", meta)
        _fsync_dir(session_dir.parent)

    journal_path = session_dir / "trials.jsonl"
    done = read_journal(journal_path, repair=True)
    done_ids = {str(t["trial_id"]) for t in done}
    todo = [p for p in plan if p["trial_id"] not in done_ids]
    part = len(meta["recordings"]) + 1

    # -- the tracker and display ---------------------------------------------------
    recorded_kind = (meta.get("tracker") or {}).get("kind")
    if tracker is None:
        tracker = recorded_kind if resume and recorded_kind in TRACKER_KINDS else "simulated"
    own_tracker = isinstance(tracker, str)
    kind = tracker if isinstance(tracker, str) else str(getattr(tracker, "kind", "custom"))
    if resume and recorded_kind and kind != recorded_kind:
        raise ValueError(
            f"session {session_dir} was recorded with the {recorded_kind} tracker; resume it "
            f"with the same kind (got {kind})"
        )
    own_display = False
    disp = display
    if display is None:
        disp = kind != "simulated"
    if disp is True:
        from .display import StimulusDisplay

        disp = StimulusDisplay(screen)
        own_display = True
    elif disp is False:
        disp = None
    if isinstance(tracker, str):
        last_end = max((float(t.get("end_ms") or 0.0) for t in done), default=0.0)
        trk: Any = make_tracker(
            tracker, screen, data_dir=session_dir / ".tracker", rng=gen, speed=speed,
            display=disp, start_ms=last_end + 60_000.0 if done else 0.0, address=address,
        )
    else:
        trk = tracker
    suffix = trk.data_suffix

    ran = 0
    received: list[str] = []
    try:
        if disp is not None:
            disp.open()  # idempotent: a display the caller opened stays as it is
        trk.connect()
        meta["tracker"] = _tracker_info(trk)

        # an interrupted part's data file: fetch it if the tracker still has it
        for rec in meta["recordings"]:
            if not rec.get("received"):
                try:
                    got = Path(trk.receive_data_file(session_dir / rec["file"], name=rec["tracker_file"]))
                except (OSError, TypeError, RuntimeError) as exc:
                    rec["error"] = f"not recovered: {exc}"
                else:
                    rec["file"] = got.name
                    rec["received"] = True
                    rec["recovered"] = True

        if not todo:
            return _finish(session_dir, meta, trk, participant, len(plan), 0, received, own_tracker)

        # the data file first, so calibration and validation results are in it too
        edf = _edf_name(participant, part)
        this: dict[str, Any] = {"file": _recording_file(part, suffix), "tracker_file": edf,
                                "received": False, "started": _now_iso()}
        meta["recordings"].append(this)
        meta["recording"] = meta["recordings"][0]["file"]
        _write_json_atomic(session_dir / "session.json", meta)
        trk.open_data_file(edf)
        W, H = screen.width_px, screen.height_px
        trk.send_message(f"DISPLAY_COORDS 0 0 {W - 1} {H - 1}")
        trk.send_message(f"VISTA_SESSION participant {participant} part {part}")

        calibration = trk.calibrate()
        cal: dict[str, Any] = {k: _jsonable(v) for k, v in calibration.items()}
        cal["time"] = _now_iso()
        meta.setdefault("calibrations", []).append(cal)
        meta["calibration"] = {k: v for k, v in cal.items() if k != "time"}
        _write_json_atomic(session_dir / "session.json", meta)
        cx, cy = W / 2.0, H / 2.0

        for k, item in enumerate(todo):
            entry = _run_trial(
                trk, item, screen=screen, display=disp, session_dir=session_dir,
                time_limit_ms=time_limit_ms, audio=audio, drift=drift_check, centre=(cx, cy),
                end_keys=tuple(end_key), recording=this["file"],
            )
            _append_journal(journal_path, entry)
            ran += 1
            if on_trial is not None:
                on_trial(entry)
            if entry.get("aborted"):
                break
            if inter_trial_s and k + 1 < len(todo):
                if disp is not None:
                    disp.clear()
                time.sleep(inter_trial_s)

        trk.close_data_file()
        got = _receive_with_retries(trk, session_dir / this["file"])
        this["file"] = got.name
        this["received"] = True
        received.append(got.name)
        meta["recording"] = meta["recordings"][0]["file"]
        return _finish(session_dir, meta, trk, participant, len(plan), ran, received, own_tracker)
    except BaseException:
        if not resume and not meta["recordings"] and not (session_dir / "trials.jsonl").exists():
            _discard_unstarted(session_dir)  # nothing was recorded: leave no stale session
            meta = {}
        raise
    finally:
        if meta:
            _write_json_atomic(session_dir / "session.json", meta)
        if own_tracker:
            try:
                trk.close()
            except Exception:  # the session's own result matters more than a close error
                pass
        if own_display and disp is not None:
            disp.close()


def _discard_unstarted(session_dir: Path) -> None:
    """Remove a session folder that holds only this run's session.json (and empty
    tracker folders), so that the same command can be run again after, say, a
    failed connection."""
    tracker_dir = session_dir / ".tracker"
    if tracker_dir.is_dir() and not any(tracker_dir.iterdir()):
        tracker_dir.rmdir()
    if {p.name for p in session_dir.iterdir()} == {"session.json"}:
        (session_dir / "session.json").unlink()
        session_dir.rmdir()


def _finish(
    session_dir: Path, meta: dict[str, Any], trk: Any, participant: str, total: int,
    ran: int, received: list[str], own_tracker: bool,
) -> SessionSummary:
    done = read_journal(session_dir / "trials.jsonl")
    done_ids = {str(t["trial_id"]) for t in done}
    complete = all(p["trial_id"] in done_ids for p in meta["plan"])
    meta["status"] = "complete" if complete else "recording"
    if complete:
        meta["completed"] = _now_iso()
    _write_json_atomic(session_dir / "session.json", meta)
    return SessionSummary(
        path=session_dir, participant=participant, completed=len(done_ids), total=total,
        ran=ran, recordings=tuple(r["file"] for r in meta["recordings"] if r.get("received")),
        status=meta["status"],
    )


def _receive_with_retries(trk: Any, destination: Path, attempts: int = 3) -> Path:
    last: BaseException | None = None
    for i in range(attempts):
        try:
            return Path(trk.receive_data_file(destination))
        except OSError as exc:
            if isinstance(exc, (FileExistsError, FileNotFoundError)):
                raise
            last = exc
            time.sleep(0.5 * (i + 1))
    assert last is not None
    raise last


def _read_meta(session_dir: Path) -> dict[str, Any]:
    path = session_dir / "session.json"
    if not path.is_file():
        raise FileNotFoundError(f"not a session folder (no session.json): {session_dir}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
    if meta.get("format") != FORMAT:
        raise ParseError(f"not a vista session (format {meta.get('format')!r})", path=path)
    if "plan" not in meta:
        raise ParseError("session.json has no trial plan; it cannot be resumed", path=path)
    meta.setdefault("recordings", [])
    return dict(meta)


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return int(im.height), int(im.width)


def _run_trial(
    trk: Any, item: Mapping[str, Any], *, screen: Screen, display: Any, session_dir: Path,
    time_limit_ms: float, audio: str | os.PathLike[str] | None, drift: bool,
    centre: tuple[float, float], end_keys: tuple[str, ...], recording: str,
) -> dict[str, Any]:
    trial_id, image = str(item["trial_id"]), str(item["image"])
    W, H = screen.width_px, screen.height_px

    drift_error: float | None = None
    if drift:
        if display is not None:
            display.clear(flip=False)
            display.draw_target(*centre)
        drift_error = _jsonable(trk.drift_check(*centre))

    trk.start_recording()
    trk.send_message(f"TRIALID {trial_id}")
    trk.send_message(f"!V TRIAL_VAR image {Path(image).name}")
    trk.send_message(f"!V TRIAL_VAR trial {trial_id}")
    size = _image_size(image)
    if display is not None:
        placement = display.show_image(image)
    else:
        placement = fit_placement(size, (W, H), fit="fit")
    trk.send_message(imgload_message(image, placement))
    trk.send_message(f"DISPLAY_COORDS 0 0 {W - 1} {H - 1}")
    onset = float(trk.tracker_time_ms())
    trk.send_message("SYNCTIME")

    recorder = _start_audio(trk, audio, session_dir, trial_id) if audio is not None else None
    key = _wait(trk, display, onset, time_limit_ms, end_keys)
    audio_fields: dict[str, Any] = {}
    if recorder is not None:
        if str(audio) != "microphone":
            recorder.wait(timeout=60.0)  # a file source: let it deliver what it holds
        record = recorder.stop()
        audio_fields = record.trial_fields(session_dir)
        tts_file = getattr(recorder.source, "path", None)
        if str(audio) == "tts" and tts_file is not None:
            Path(tts_file).unlink(missing_ok=True)  # the speech is in the recording now
    end = float(trk.tracker_time_ms())
    trk.send_message("TRIAL_RESULT 0")
    trk.stop_recording()
    if display is not None:
        display.clear()

    entry: dict[str, Any] = {
        "trial_id": trial_id,
        "image": image,
        "image_size": [size[0], size[1]],
        "placement": placement.to_dict(),
        "start_ms": onset,
        "end_ms": end,
        "recording": recording,
        "audio": None,
        "audio_start_ms": None,
        "audio_latency_ms": None,
        "audio_overflows": None,
        "transcript": None,
        "drift_error_deg": drift_error,
        "ended_by": key or "time_limit",
    }
    entry.update(audio_fields)
    spoken = getattr(trk, "spoken_transcript", None)
    if callable(spoken):
        transcript = spoken()
        if transcript is not None:
            folder = session_dir / ("transcripts" if recorder is None else "simulated")
            folder.mkdir(exist_ok=True)
            path = folder / f"{trial_id}.json"
            _write_json_atomic(path, transcript.to_dict())
            entry["transcript" if recorder is None else "simulated_transcript"] = path.relative_to(
                session_dir).as_posix()
    scene = getattr(trk, "current_scene", None)
    if callable(scene) and scene() is not None:
        entry["scene"] = scene()[0].to_dict()  # what the simulated participant talked about
    if key in ("escape", "quit"):
        entry["aborted"] = True
    return entry


def _wait(
    trk: Any, display: Any, onset: float, limit_ms: float, end_keys: tuple[str, ...]
) -> str | None:
    """Until a key or the time limit (tracker clock); returns the key or None."""
    pressed = getattr(trk, "participant_pressed_key", None)
    while True:
        now = float(trk.tracker_time_ms())
        if now - onset >= limit_ms:
            return None
        if display is not None:
            key = display.poll_key()
            if key is not None and (key in end_keys or key in ("escape", "quit")):
                return key
        if callable(pressed) and pressed():
            return "simulated"
        sleeper = getattr(trk, "sleep", None)
        step = min(10.0, limit_ms - (now - onset))
        if callable(sleeper):
            sleeper(max(step, 1.0))
        else:
            time.sleep(max(step, 1.0) / 1000.0)


def _start_audio(trk: Any, audio: str | os.PathLike[str], session_dir: Path, trial_id: str) -> Any:
    from .audio import AudioRecorder, FileSource

    folder = session_dir / "audio"
    folder.mkdir(exist_ok=True)
    wav = folder / f"{trial_id}.wav"
    # a file plays at the simulated clock's pace; as fast as it can with no pacing
    speed = getattr(trk, "speed", None) or math.inf
    source: Any
    if str(audio) == "microphone":
        source = None
    elif str(audio) == "tts":
        source = FileSource(_tts_wav(trk, folder / f".{trial_id}.tts.wav"), speed=speed)
    else:
        source = FileSource(audio, speed=speed)
    recorder = AudioRecorder(wav, tracker=trk, source=source)
    recorder.start()
    deadline = time.monotonic() + 5.0  # audio on before the trial goes on (AUDIO_START sent)
    while not recorder.started and time.monotonic() < deadline:
        time.sleep(0.002)
    return recorder


def _tts_wav(trk: Any, path: Path, *, gap_ms: float = 150.0) -> Path:
    """The simulated participant's phrases spoken by espeak-ng, each at its planned
    start (ms after now, the image onset) or, where the previous phrase is still
    being spoken, ``gap_ms`` after it, into a new WAV file at ``path``."""
    import numpy as np

    from .audio import WavWriter
    from .tts import speak

    phrases = getattr(trk, "spoken_phrases", None)
    planned = phrases() if callable(phrases) else []
    if not planned:
        raise ValueError("audio='tts' needs a simulated participant (tracker='simulated')")
    rate = 16000
    onset = float(trk.tracker_time_ms())
    pieces = []
    end = 0
    for start_ms, text in planned:
        samples = np.asarray(speak(text, samplerate=rate), dtype=np.int16).reshape(-1)
        first = max(round(max(0.0, start_ms - onset) * rate / 1000.0), end + round(gap_ms * rate / 1000.0))
        pieces.append((first, samples))
        end = first + samples.size
    out = np.zeros(end + rate // 2, dtype=np.int16)
    for first, samples in pieces:
        out[first:first + samples.size] = samples
    if path.exists():
        path.unlink()
    with WavWriter(path, samplerate=rate, channels=1) as w:
        w.write(out)
    return path
