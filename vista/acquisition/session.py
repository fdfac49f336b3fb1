"""The lab session: the protocol loop that turns a folder of images into a session folder.

One call, :func:`run_session`, runs a whole session from a :class:`SessionConfig`:
participant, screen geometry, calibration and validation, then one trial per image
(:func:`~vista.acquisition.trial.run_trial`), and the data file transfer at the end.
It is four steps: plan (a new session) or resume (an interrupted one), both of which
check every input before the first side effect; one step per trial; and finish.
The folder layout is described in the README (*The session folder*).

Crash safety:

- each completed trial is one line of ``trials.jsonl``, flushed and fsynced before
  the next trial starts;
- ``resume=True`` continues an interrupted session: trials already in the journal
  are skipped, the rest run in a new tracker data file (``recording-2.asc`` or
  ``.edf``), listed in ``session.json``; the interrupted part's data file is
  recovered from the tracker where it still has it;
- an existing session folder is never overwritten, and nothing is written outside it.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import fsync_dir, inside
from .._validation import as_rng, check_option
from ..gaze.messages import format_display_coords
from ..gaze.session_reader import plan_ids, read_journal
from ..records import Screen
from .session_config import DEFAULT_TRACKER, TRACKER_KINDS, SessionConfig, check_inputs
from .session_folder import (
    FORMAT,
    FORMAT_VERSION,
    JOURNAL,
    LOCK,
    SessionLock,
    append_trial,
    discard_unstarted,
    edf_name,
    find_session,
    now_iso,
    read_meta,
    recording_file,
    write_meta,
)
from .tracker import Tracker
from .trial import TrialSettings, jsonable, run_trial

__all__ = ["SessionConfig", "SessionSummary", "make_tracker", "run_session"]

OnTrial = Callable[[Mapping[str, Any]], None]


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


# --------------------------------------------------------------------------- plan


@dataclass
class _Run:
    """The working state of one :func:`run_session` call."""

    config: SessionConfig
    session_dir: Path
    meta: dict[str, Any]
    done: list[dict[str, Any]]
    kind: str
    new: bool
    lock: SessionLock

    @property
    def plan(self) -> list[dict[str, str]]:
        return list(self.meta["plan"])

    @property
    def todo(self) -> list[dict[str, str]]:
        done_ids = {str(t["trial_id"]) for t in self.done}
        return [p for p in self.plan if p["trial_id"] not in done_ids]


def _kind(config: SessionConfig, tracker: Any, recorded: str | None) -> str:
    """The tracker kind of this run; a resumed session must keep its own."""
    if tracker is not None:
        kind = str(getattr(tracker, "kind", "custom"))
    else:
        kind = config.tracker or recorded or DEFAULT_TRACKER
    if recorded and kind != recorded:
        raise ValueError(f"this session was recorded with the {recorded} tracker; resume it "
                         f"with the same kind (got {kind})")
    if tracker is None and kind not in TRACKER_KINDS:
        raise ValueError(f"this session was recorded with a {kind} tracker, which vista "
                         "cannot make by name; pass that tracker to resume it")
    return kind


def _plan(config: SessionConfig, tracker: Any, gen: Any) -> _Run:
    """A new session: every input checked, then the folder and its session.json."""
    kind = _kind(config, tracker, None)
    files = check_inputs(config, kind)
    assert files is not None
    if config.order == "shuffled":
        files = [files[i] for i in gen.permutation(len(files))]
    if config.out is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        session_dir = config.root / f"{config.participant}-{stamp}"
    else:
        session_dir = config.out
    if session_dir.exists() and (not session_dir.is_dir() or any(session_dir.iterdir())):
        raise FileExistsError(
            f"session folder {session_dir} already exists; vista never overwrites a session "
            "(use --resume to continue it, or choose another --out)"
        )
    images_dir = config.images.resolve() if isinstance(config.images, Path) else files[0].parent
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION, "vista_version": __version__,
        "participant": config.participant, "created": now_iso(), "tracker": {},
        "screen": config.screen.to_dict(), "calibration": None, "recording": None,
        "recordings": [], "images_dir": str(images_dir),
        "time_limit_s": config.time_limit_s, "order": config.order,
        "plan": [{"trial_id": str(i + 1), "image": str(p)} for i, p in enumerate(files)],
        "status": "recording",
    }
    session_dir.mkdir(parents=True, exist_ok=True)  # the first side effect
    lock = SessionLock(session_dir)
    if any(p.name != LOCK for p in session_dir.iterdir()):  # another run got here first
        lock.release()
        raise FileExistsError(f"session folder {session_dir} was created by another run; "
                              "vista never overwrites a session")
    write_meta(session_dir, meta)
    fsync_dir(session_dir.parent)
    return _Run(config, session_dir, meta, [], kind, new=True, lock=lock)


def _resume(config: SessionConfig, tracker: Any) -> _Run:
    """An interrupted session: its session.json, journal, images and the options of
    this call checked against each other before anything is written."""
    session_dir = config.out if config.out is not None else find_session(
        config.root, config.participant)
    meta = read_meta(session_dir)
    if meta.get("participant") != config.participant:
        raise ValueError(
            f"participant {config.participant!r} does not match the session at {session_dir} "
            f"(participant {meta.get('participant')!r})"
        )
    if meta.get("status") == "complete":
        raise FileExistsError(f"session {session_dir} is already complete; nothing to resume")
    stored = meta.get("screen") or {}
    diff = {k: (stored.get(k), v) for k, v in config.screen.to_dict().items()
            if stored.get(k) != v}
    if diff:
        what = ", ".join(f"{k} {a} (now {b})" for k, (a, b) in diff.items())
        raise ValueError(
            f"screen differs from session {session_dir}'s: {what}; resume with the same "
            "screen geometry (--screen-px, --screen-mm, --distance-mm)"
        )
    _check_same_images(config, meta, session_dir)
    for item in meta["plan"]:
        if not Path(item["image"]).is_file():
            raise FileNotFoundError(f"image of trial {item['trial_id']} is missing: {item['image']}")
    plan = plan_ids(meta)
    read_journal(session_dir / JOURNAL, plan=plan)
    recorded = (meta.get("tracker") or {}).get("kind")
    if not isinstance(recorded, str) and tracker is None and config.tracker is None:
        raise ValueError(f"{session_dir / 'session.json'} does not say which tracker recorded "
                         "the session; name it (--simulate, --dummy or --eyelink)")
    kind = _kind(config, tracker, recorded if isinstance(recorded, str) else None)
    check_inputs(config, kind)
    lock = SessionLock(session_dir)  # the first side effect; then drop a torn journal line
    try:
        if read_meta(session_dir) != meta:
            raise FileExistsError(f"session {session_dir} changed while it was checked (another "
                                  "run?); run the command again")
        done = read_journal(session_dir / JOURNAL, repair=True, plan=plan)
    except BaseException:
        lock.release()
        raise
    return _Run(config, session_dir, meta, done, kind, new=False, lock=lock)


def _check_same_images(config: SessionConfig, meta: Mapping[str, Any], session_dir: Path) -> None:
    """With ``resume``, images given again must be those the session was planned
    from: a resumed session never silently takes another folder."""
    if config.images is None:
        return
    if isinstance(config.images, Path):
        same = str(config.images.resolve()) == str(meta.get("images_dir"))
        given = str(config.images)
    else:
        same = {str(p.resolve()) for p in config.images} == {p["image"] for p in meta["plan"]}
        given = ", ".join(str(p) for p in config.images)
    if not same:
        raise ValueError(
            f"images {given} differ from those session {session_dir} was planned from "
            f"({meta.get('images_dir')}); resume without --images, or start a new session"
        )


# --------------------------------------------------------------------------- run


def _devices(run: _Run, tracker: Any, display: Any, gen: Any) -> tuple[Any, Any, bool, bool]:
    """The tracker and display of this run: those passed in, or made here (then
    closed here). Returns ``(tracker, display, own_tracker, own_display)``."""
    config = run.config
    disp = display
    if display is None:
        disp = config.display if config.display is not None else run.kind != "simulated"
    own_display = disp is True
    if disp is True:
        from .display import StimulusDisplay

        disp = StimulusDisplay(config.screen)
    elif disp is False:
        disp = None
    if tracker is not None:
        return tracker, disp, False, own_display
    last_end = max((float(t.get("end_ms") or 0.0) for t in run.done), default=0.0)
    data_dir = inside(run.session_dir, ".tracker", what="the tracker's data folder")
    trk = make_tracker(
        run.kind, config.screen, data_dir=data_dir, rng=gen,
        speed=config.speed, display=disp, start_ms=last_end + 60_000.0 if run.done else 0.0,
        address=config.address,
    )
    return trk, disp, True, own_display


def _recover_parts(trk: Any, run: _Run) -> None:
    """An interrupted part's data file: fetched if the tracker still has it."""
    for rec in run.meta["recordings"]:
        if rec.get("received"):
            continue
        target = inside(run.session_dir, rec["file"], what="recording file")
        try:
            got = Path(trk.receive_data_file(target, name=rec["tracker_file"]))
        except (OSError, TypeError, RuntimeError) as exc:
            rec["error"] = f"not recovered: {exc}"
        else:
            rec["file"] = got.name
            rec["received"] = True
            rec["recovered"] = True


def _start_part(trk: Any, run: _Run) -> dict[str, Any]:
    """Open this part's data file (first, so calibration and validation are in it
    too), calibrate, and log both in session.json."""
    meta, config = run.meta, run.config
    part = len(meta["recordings"]) + 1
    edf = edf_name(config.participant, part)
    this: dict[str, Any] = {"file": recording_file(part, trk.data_suffix), "tracker_file": edf,
                            "received": False, "started": now_iso()}
    meta["recordings"].append(this)
    meta["recording"] = meta["recordings"][0]["file"]
    write_meta(run.session_dir, meta)
    trk.open_data_file(edf)
    trk.send_message(format_display_coords(config.screen.width_px, config.screen.height_px))
    trk.send_message(f"VISTA_SESSION participant {config.participant} part {part}")
    cal: dict[str, Any] = {k: jsonable(v) for k, v in trk.calibrate().items()}
    cal["time"] = now_iso()
    meta.setdefault("calibrations", []).append(cal)
    meta["calibration"] = {k: v for k, v in cal.items() if k != "time"}
    write_meta(run.session_dir, meta)
    return this


def _run_trials(trk: Any, disp: Any, run: _Run, this: Mapping[str, Any],
                on_trial: OnTrial | None) -> int:
    """The trials still to do, each durably in the journal before the next; stops
    after a trial ended by Escape. Returns how many ran."""
    config = run.config
    settings = TrialSettings(
        screen=config.screen, session_dir=run.session_dir,
        time_limit_ms=config.time_limit_s * 1000.0, audio=config.audio,
        drift_check=config.drift_check, end_keys=config.end_keys, recording=this["file"])
    todo = run.todo
    ran = 0
    for k, item in enumerate(todo):
        entry = run_trial(trk, item, settings, disp)
        append_trial(run.session_dir, entry)
        run.done.append(entry)
        ran += 1
        if on_trial is not None:
            on_trial(entry)
        if entry.get("aborted"):
            break
        if config.inter_trial_s and k + 1 < len(todo):
            if disp is not None:
                disp.clear()
            time.sleep(config.inter_trial_s)
    return ran


def _end_part(trk: Any, run: _Run, this: dict[str, Any]) -> None:
    """Close this part's data file and receive it into the session folder."""
    trk.close_data_file()
    target = inside(run.session_dir, this["file"], what="recording file")
    got = _receive_with_retries(trk, target)
    this["file"] = got.name
    this["received"] = True
    run.meta["recording"] = run.meta["recordings"][0]["file"]


def _finish(run: _Run, ran: int) -> SessionSummary:
    """The session's status from its journal (session.json is written by
    :func:`run_session` on the way out)."""
    meta = run.meta
    done_ids = {str(t["trial_id"]) for t in read_journal(run.session_dir / JOURNAL)}
    complete = all(p["trial_id"] in done_ids for p in meta["plan"])
    meta["status"] = "complete" if complete else "recording"
    if complete:
        meta["completed"] = now_iso()
    return SessionSummary(
        path=run.session_dir, participant=run.config.participant, completed=len(done_ids),
        total=len(meta["plan"]), ran=ran,
        recordings=tuple(r["file"] for r in meta["recordings"] if r.get("received")),
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


def _as_config(config: Any, tracker: Any, display: Any,
               options: dict[str, Any]) -> tuple[SessionConfig, Any, Any]:
    """The call's SessionConfig, and the live tracker and display objects (None for
    those made here). ``run_session(images, participant=..., ...)``, the 0.1.0
    form, builds the record from its keywords."""
    if isinstance(tracker, str):
        options["tracker"], tracker = tracker, None
    if display is None or isinstance(display, bool):
        if display is not None:
            options["display"] = display
        display = None
    if isinstance(config, SessionConfig):
        if options:
            raise TypeError(f"run_session got a SessionConfig and options "
                            f"{', '.join(sorted(options))}; put them in the config")
        return config, tracker, display
    return SessionConfig(images=config, **options), tracker, display


def run_session(
    config: SessionConfig | str | os.PathLike[str] | Any = None,
    /,
    *,
    tracker: Tracker | str | None = None,
    display: Any = None,
    on_trial: OnTrial | None = None,
    **options: Any,
) -> SessionSummary:
    """Run (or resume) a recording session and write its session folder.

    Parameters
    ----------
    config : SessionConfig
        What to run (:class:`~vista.acquisition.session_config.SessionConfig`). The
        0.1.0 form, the images followed by the record's fields as keywords
        (``run_session(images, participant="P01", screen=screen, ...)``), still works.
    tracker : Tracker, str or None
        A connected-or-not :class:`~vista.acquisition.tracker.Tracker` to use (left
        open), or None to make the config's kind (:func:`make_tracker`; a simulated or
        dummy tracker made here keeps its data files in ``SESSION/.tracker`` so a
        crashed part can be recovered on resume). A resumed session must use the
        kind it was recorded with.
    display : StimulusDisplay or None
        A display to show the images on (opened if it is not, and left open); None:
        the config's ``display`` setting.
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
        If the images folder has no images, an image or the audio file is missing,
        or ``resume`` finds no session.
    vista.errors.ParseError
        An image or WAV that does not read, a session.json or journal line that is
        malformed (file and line named), a journal trial that is not in the plan.
    ValueError
        Options out of range, a resume whose screen, images or tracker differ.
    """
    cfg, live_tracker, live_display = _as_config(config, tracker, display, dict(options))
    gen = as_rng(cfg.rng)
    run = _resume(cfg, live_tracker) if cfg.resume else _plan(cfg, live_tracker, gen)
    trk: Any = None
    disp: Any = None
    own_tracker = own_display = False
    ran = 0
    try:
        trk, disp, own_tracker, own_display = _devices(run, live_tracker, live_display, gen)
        if disp is not None:
            disp.open()  # idempotent: a display the caller opened stays as it is
        trk.connect()
        run.meta["tracker"] = _tracker_info(trk)
        _recover_parts(trk, run)
        if run.todo:
            this = _start_part(trk, run)
            ran = _run_trials(trk, disp, run, this, on_trial)
            _end_part(trk, run, this)
        return _finish(run, ran)
    except BaseException:
        if run.new and not run.meta["recordings"] and not (run.session_dir / JOURNAL).exists():
            run.lock.release()
            discard_unstarted(run.session_dir)  # nothing was recorded: leave no stale session
            run.meta = {}
        raise
    finally:
        if run.meta:
            write_meta(run.session_dir, run.meta)
        run.lock.release()
        if own_tracker and trk is not None:
            try:
                trk.close()
            except Exception:  # the session's own result matters more than a close error
                pass
        if own_display and disp is not None:
            disp.close()
