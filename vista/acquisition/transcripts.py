"""The transcripts of a session folder: what ``vista transcribe SESSION`` does.

:func:`transcribe_session` is plan -> work -> summarise: the plan reads the journal
once and checks every trial before anything is written (each ``audio`` path must lie
in the session's ``audio/`` folder, every trial id must be in the session's plan); the
work transcribes one trial at a time, each transcript written atomically before its
audio may be deleted; the summary is one :class:`TrialTranscription` per trial.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import (
    check_regular_file,
    file_sha256,
    fsync_dir,
    inside,
    read_json,
    safe_name,
    write_atomic,
)
from ..errors import ParseError
from ..gaze.session_reader import plan_ids, read_journal, read_transcript, transcript_from_dict
from ..records import Transcript
from .session_folder import JOURNAL, META, SessionLock
from .transcribe import _transcribe, load_corrected, retime

__all__ = ["TrialTranscription", "transcribe_session"]


@dataclass(frozen=True)
class TrialTranscription:
    """What :func:`transcribe_session` did for one trial.

    ``status`` is ``"written"`` (a new transcript), ``"exists"`` (kept as it was),
    or ``"no-audio"`` (the trial recorded no audio, or an empty WAV without
    ``audio_start_ms`` because it ended before the first block arrived).
    """

    trial_id: str
    status: str
    transcript_path: Path | None
    n_words: int = 0
    audio_deleted: bool = False


# -------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Job:
    """One trial to consider, checked: its audio (inside ``audio/``) and its target."""

    trial_id: str
    line: int
    audio: Path | None
    audio_rel: str | None
    audio_start_ms: float | None
    target: Path


@dataclass(frozen=True)
class _Options:
    """The choices shared by every trial of one call."""

    asr: dict[str, Any]
    corrected_words: list[str] | None
    corrected_from: str | None
    delete_audio: bool
    force: bool


def _job(session: Path, line: int, row: Mapping[str, Any]) -> _Job:
    journal = session / JOURNAL
    tid = row["trial_id"]  # a string: checked by read_journal
    name = Path("transcripts") / f"{safe_name(tid)}.json"
    inside(session, name, what=f"{journal}:{line}: transcript")  # a transcripts/ link out
    target = session / name
    audio_rel = row.get("audio")
    if not audio_rel:
        return _Job(tid, line, None, None, None, target)
    if not isinstance(audio_rel, str):
        raise ParseError(f"'audio' must be a path string; got {audio_rel!r}", path=journal,
                         line=line)
    # audio is read, and with --delete-audio deleted: it must be the session's own
    audio = inside(session / "audio", session.resolve() / audio_rel,
                   what=f"{journal}:{line}: audio")
    start = row.get("audio_start_ms")
    if start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))):
        raise ParseError(f"'audio_start_ms' must be a number; got {start!r}", path=journal,
                         line=line)
    return _Job(tid, line, audio, audio_rel, None if start is None else float(start), target)


def _plan(session: Path, trial_ids: Sequence[str] | None) -> list[_Job]:
    """The trials of the journal (a trial journalled twice: its last line), checked."""
    if not session.is_dir():
        raise FileNotFoundError(f"session folder {session} does not exist")
    journal = session / JOURNAL
    if not journal.is_file():
        raise FileNotFoundError(f"{journal} is missing: not a vista session folder")
    plan = None
    if (session / META).is_file():
        plan = plan_ids(read_json(session / META, expect=dict, what="session.json"))
    jobs: dict[str, _Job] = {}
    for line, row in read_journal(journal, plan=plan, numbered=True):
        job = _job(session, line, row)
        jobs[job.trial_id] = job
    if trial_ids is None:
        return list(jobs.values())
    wanted = [str(t) for t in trial_ids]
    unknown = [t for t in wanted if t not in jobs]
    if unknown:
        raise ValueError(f"trial_ids: trial {unknown[0]!r} is not in {journal} (its trials: "
                         f"{', '.join(repr(t) for t in jobs) or 'none'})")
    keep = set(wanted)
    return [j for j in jobs.values() if j.trial_id in keep]


# -------------------------------------------------------------------------- work


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    """Write atomically, then fsync the folder: the rename itself is durable before
    any audio is deleted."""
    path.parent.mkdir(exist_ok=True)
    write_atomic(path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    fsync_dir(path.parent)


def _meta(doc: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A transcript's ``meta`` object (empty when it has none)."""
    meta = doc.get("meta") or {}
    if not isinstance(meta, dict):
        raise ParseError(f"'meta' must be an object; got {meta!r}", path=path)
    return meta


def _delete_audio(job: _Job) -> bool:
    """Delete the trial's WAV, after recording ``meta.audio_deleted`` in its transcript."""
    if job.audio is None or not job.audio.exists():
        return False
    check_regular_file(job.audio, what="audio")
    doc = read_json(job.target, expect=dict, what="transcript")
    meta = doc["meta"] = _meta(doc, job.target)
    if not meta.get("audio_deleted"):
        meta["audio_deleted"] = True
        _write(job.target, doc)
    job.audio.unlink()
    return True


def _kept_correction(job: _Job) -> tuple[list[str] | None, str | None]:
    """``--force`` without ``--corrected``: the words of a hand correction made
    earlier, re-timed onto the new recognition rather than lost (None if none)."""
    try:
        old = read_json(job.target, expect=dict)
        old_meta = old.get("meta") or {}
        if old_meta.get("asr") is not None:
            return [str(w["text"]) for w in old["words"]], old_meta.get("corrected_from")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # unreadable: replaced, as --force says
    return None, None


def _asr_words(job: _Job, opts: _Options) -> tuple[Transcript, dict[str, Any]]:
    """The recogniser's words: those kept in the existing transcript when only the
    correction changes, else a fresh recognition of the audio."""
    if opts.corrected_words is not None and job.target.exists():
        old = read_json(job.target, expect=dict, what="transcript")
        old_meta = _meta(old, job.target)
        asr_doc = old_meta.get("asr") or {"source": old.get("source"), "words": old.get("words")}
        asr = transcript_from_dict(asr_doc, job.target)
        return asr, {k: v for k, v in old_meta.items() if k not in ("asr", "corrected_from")}
    assert job.audio is not None and job.audio_start_ms is not None
    if not job.audio.is_file():
        raise FileNotFoundError(f"trial {job.trial_id!r}: audio file {job.audio} does not exist")
    asr, meta = _transcribe(job.audio, audio_start_ms=job.audio_start_ms, **opts.asr)
    meta.update(audio=job.audio_rel, audio_sha256=file_sha256(job.audio, what="audio"),
                audio_start_ms=job.audio_start_ms)
    return asr, meta


def _transcribe_trial(job: _Job, opts: _Options, session: Path) -> TrialTranscription:
    tid = job.trial_id
    if job.audio is None:
        return TrialTranscription(tid, "no-audio", None)
    if job.target.exists() and not opts.force:
        if opts.corrected_words is not None:
            raise FileExistsError(
                f"trial {tid!r} already has {job.target}; add --force (force=True) to replace "
                "it with the corrected transcript (the ASR words are kept in its meta.asr)")
        deleted = _delete_audio(job) if opts.delete_audio else False
        n = len(read_transcript(job.target).words)
        return TrialTranscription(tid, "exists", job.target, n, deleted)
    if job.audio_start_ms is None:
        if not job.audio.is_file() or job.audio.stat().st_size <= 44:
            # the trial ended before the first block of audio arrived: nothing was said
            return TrialTranscription(tid, "no-audio", None)
        raise ParseError(f"trial {tid!r} has audio but no audio_start_ms",
                         path=session / JOURNAL, line=job.line)
    words, corrected_from = opts.corrected_words, opts.corrected_from
    if words is None and job.target.exists():
        words, corrected_from = _kept_correction(job)
    asr, meta = _asr_words(job, opts)
    transcript = asr
    if words is not None:
        transcript = retime(words, asr)
        meta.update(asr=asr.to_dict(), corrected_from=corrected_from)
    meta.update(vista_version=__version__, trial_id=tid)
    meta["audio_deleted"] = bool(opts.delete_audio or meta.get("audio_deleted", False))
    _write(job.target, {**transcript.to_dict(), "meta": meta})
    deleted = False
    if opts.delete_audio and job.audio.exists():
        job.audio.unlink()
        deleted = True
    return TrialTranscription(tid, "written", job.target, len(transcript.words), deleted)


def transcribe_session(
    session_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    trial_ids: Sequence[str] | None = None,
    corrected: str | os.PathLike[str] | None = None,
    delete_audio: bool = False,
    force: bool = False,
    language: str = "en",
    beam_size: int = 5,
    trim_silence: bool = True,
    device: str = "cpu",
    compute_type: str = "int8",
    cpu_threads: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[TrialTranscription]:
    """Transcribe the trials of a session folder into ``transcripts/TRIAL_ID.json``.

    For each trial line of ``trials.jsonl`` with ``audio`` (in the order recorded),
    the WAV is transcribed onto the tracker clock (:func:`~vista.acquisition.transcribe.transcribe`)
    and written atomically as ``Transcript.to_dict()`` plus a ``meta`` object (model,
    versions, options, the audio file and its SHA-256, ``audio_deleted``).
    ``trials.jsonl`` is an append-only journal and is never rewritten: the
    transcript file's existence is what marks a trial transcribed. An existing
    transcript is kept unless ``force``; so an interrupted run can simply be run again.

    Parameters
    ----------
    session_dir : str or path-like
        A session folder written by ``vista record``.
    model : str or path-like, optional
        ASR model id or folder (:func:`~vista.acquisition.transcribe.load_model`);
        default the bundled tiny.en.
    trial_ids : sequence of str, optional
        Only these trials (all by default); an unknown id raises ValueError.
    corrected : str or path-like, optional
        A hand-corrected transcript (:func:`~vista.acquisition.transcribe.load_corrected`)
        for the one trial in ``trial_ids``; it is re-timed
        (:func:`~vista.acquisition.transcribe.retime`) onto the ASR words of the
        existing transcript (its ``meta.asr`` if it was corrected before) or of a
        fresh recognition. The ASR words are kept in ``meta.asr``.
    delete_audio : bool, default False
        Delete each trial's WAV once its transcript is durably on disk (written,
        fsynced, renamed, folder fsynced); ``meta.audio_deleted`` records it. Also
        applies to trials transcribed earlier. Only files inside the session's
        ``audio/`` folder are ever deleted.
    force : bool, default False
        Replace existing transcripts: recognise the audio again. A transcript that
        holds a hand correction keeps its corrected words, re-timed onto the new
        recognition (pass ``corrected`` to replace the words too).
    language, beam_size, trim_silence, device, compute_type, cpu_threads
        See :func:`~vista.acquisition.transcribe.transcribe`.
    progress : callable, optional
        Called as ``progress(done, total)`` with the number of trials considered so
        far and in all: once before the first (``done`` 0) and after each trial. For
        progress bars; it must not raise.

    Returns
    -------
    list of TrialTranscription
        One per trial considered, in journal order.

    Raises
    ------
    vista.errors.PathError
        A journal ``audio`` path outside the session's ``audio/`` folder (line named).
    vista.errors.ParseError
        A malformed session.json or journal line, or a trial not in the plan.
    vista.errors.FolderBusyError
        If ``vista record`` (or another transcription) is writing the session.
    """
    session = Path(session_dir)
    jobs = _plan(session, trial_ids)
    words = None
    if corrected is not None:
        if trial_ids is None or len(set(trial_ids)) != 1:
            raise ValueError("corrected needs exactly one trial (--trial ID)")
        words = load_corrected(corrected)
    opts = _Options(
        asr={"model": model, "language": language, "beam_size": beam_size,
             "trim_silence": trim_silence, "device": device, "compute_type": compute_type,
             "cpu_threads": cpu_threads},
        corrected_words=words,
        corrected_from=None if corrected is None else str(Path(corrected).resolve()),
        delete_audio=bool(delete_audio), force=bool(force))
    lock = SessionLock(session)  # not while `vista record` or another transcribe writes it
    try:
        results: list[TrialTranscription] = []
        if progress is not None:
            progress(0, len(jobs))
        for job in jobs:
            results.append(_transcribe_trial(job, opts, session))
            if progress is not None:
                progress(len(results), len(jobs))
        return results
    finally:
        lock.release()
