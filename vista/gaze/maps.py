"""From recordings to a dataset folder of human maps: the pipeline behind ``vista maps``.

For each input (a session folder, or a bare EDF/ASC) and each trial:

1. the transcript is split into segments (:mod:`vista.gaze.segments`); a trial
   without a transcript is one free-viewing segment spanning the whole trial;
2. each segment collects the fixations overlapping its time window, weighted by
   the overlap in ms (:mod:`vista.gaze.align`);
3. the fixations are mapped from screen to image pixels through the trial's
   placement; off-image ones are dropped and counted (:mod:`vista.gaze.geometry`);
4. a duration-weighted Gaussian KDE is built on the image grid
   (:func:`vista.gaze.kde.density_map`), sigma converted from degrees of visual
   angle through the screen geometry and the placement's scale;
5. map, fixations and provenance go to the dataset folder
   (:class:`vista.dataset.DatasetWriter`).

:func:`trial_maps` is steps 1-4 for one trial with no file access;
:func:`build_maps` is the whole pipeline.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import LOCK_NAME, FolderLock, read_json, write_atomic
from .._validation import check_option, check_positive
from ..records import Fixations, Placement, Segment, Trial
from .align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS, align_all
from .geometry import screen_to_image
from .kde import density_map
from .maps_plan import (
    DEFAULT_SIGMA_DEG,
    EYE_CHOICES,
    MapsOptions,
    TrialPlan,
    load_sources,
    plan_trials,
    provenance,
)
from .segments import segment

__all__ = [
    "DEFAULT_SIGMA_DEG",
    "MapsOptions",
    "MapsSummary",
    "SegmentMap",
    "build_maps",
    "trial_maps",
]


@dataclass(frozen=True, eq=False)
class SegmentMap:
    """One human map: the segment, the density on the image grid, and what made it.

    ``fixations`` is N×3 float64: x, y in image pixels and weight in ms (the
    overlap with the alignment window); ``index`` is the segment's position in the
    trial's segment list (None for free viewing).
    """

    segment: Segment
    index: int | None
    values: np.ndarray
    fixations: np.ndarray
    n_in_window: int
    n_dropped: int
    window_ms: tuple[float, float]


@dataclass(frozen=True)
class MapsSummary:
    """What :func:`build_maps` wrote: counts, skipped segments and their reasons.

    Built once the run is over, from what each trial returned (a resumed run counts
    the triplets of the earlier run too).
    """

    out: Path
    n_inputs: int = 0
    n_trials: int = 0
    n_triplets: int = 0
    n_free_viewing: int = 0
    n_no_image: int = 0
    skipped: tuple[dict[str, Any], ...] = ()


# ----------------------------------------------------------------- eyes


def _pick_eye(fixations: Fixations, eye: str | None) -> tuple[Fixations, str]:
    present = sorted(set(fixations.eyes.tolist()))
    if eye == "both":
        return fixations, "".join(present) or "none"
    if eye is None:
        eye = "R" if "R" in present else (present[0] if present else "R")
    return fixations.select(fixations.eyes == eye), eye


# ----------------------------------------------------------------- one trial


def trial_maps(
    trial: Trial,
    *,
    image_shape: tuple[int, int],
    sigma_px: float,
    placement: Placement | None = None,
    segmenter: str = "phrase",
    segmenter_params: Mapping[str, Any] | None = None,
    lead_ms: float = DEFAULT_LEAD_MS,
    lag_ms: float = DEFAULT_LAG_MS,
    eye: str | None = None,
    free_viewing_text: str = "free viewing",
) -> tuple[list[SegmentMap], list[dict[str, Any]]]:
    """The human maps of one trial (no file access).

    Parameters
    ----------
    trial : Trial
        Fixations in screen pixels on the tracker clock; ``transcript`` None means
        free viewing.
    image_shape : (int, int)
        ``(height, width)`` of the image grid the maps live on.
    sigma_px : float
        KDE bandwidth in image pixels.
    placement : Placement, optional
        Where the image sat on the screen; default ``trial.placement``.
    segmenter : str, default "phrase"
        A key of :data:`vista.gaze.segments.SEGMENTERS`.
    segmenter_params : mapping, optional
        Passed to the segmenter (e.g. ``{"window_ms": 3000}``).
    lead_ms, lag_ms : float, default 1500 and 0
        The alignment window runs from ``start - lead_ms`` to ``end + lag_ms``.
        Free viewing uses the trial's span with no lead or lag.
    eye : {"L", "R", "both"} or None
        Which eye's fixations to use; None takes the right eye where both were
        recorded, else the one recorded.
    free_viewing_text : str, default "free viewing"
        The text of the one segment of a trial without transcript.

    Returns
    -------
    maps : list of SegmentMap
        One per segment that kept at least one fixation on the image.
    skipped : list of dict
        ``{"trial_id", "segment_index", "text", "reason"}`` for the others.

    Examples
    --------
    >>> from vista.records import Transcript, Word
    >>> fix = Fixations([0, 400], [350, 900], [110.0, 300.0], [60.0, 80.0])
    >>> tr = Trial("1", "img.png", Placement(100, 50, 400, 300), None, fix,
    ...            Transcript((Word("a", 600, 700), Word("dog", 700, 900))))
    >>> maps, skipped = trial_maps(tr, image_shape=(300, 400), sigma_px=10)
    >>> [(m.segment.text, m.fixations[:, 2].tolist()) for m in maps]
    [('a dog', [350.0, 500.0])]
    """
    sigma = check_positive("sigma_px", sigma_px)
    if eye is not None:
        check_option("eye", eye, EYE_CHOICES)
    place = placement if placement is not None else trial.placement
    if place is None:
        raise ValueError(f"trial {trial.trial_id!r} has no placement: where the image was shown "
                         "on the screen is unknown")
    if not free_viewing_text:
        raise ValueError("free_viewing_text must be a non-empty string")
    fixations, _ = _pick_eye(trial.fixations, eye)
    free = trial.transcript is None
    if free:
        t0 = trial.start_ms if trial.start_ms is not None else (
            float(fixations.starts_ms.min()) if len(fixations) else 0.0)
        t1 = trial.end_ms if trial.end_ms is not None else (
            float(fixations.ends_ms.max()) if len(fixations) else 0.0)
        segs = [Segment(free_viewing_text, t0, max(t0, t1))]
        lead, lag = 0.0, 0.0
    else:
        assert trial.transcript is not None
        segs = segment(trial.transcript, segmenter, **dict(segmenter_params or {}))
        lead, lag = lead_ms, lag_ms
    maps: list[SegmentMap] = []
    skipped: list[dict[str, Any]] = []
    for k, (seg, (sel, weights)) in enumerate(
        zip(segs, align_all(fixations, segs, lead_ms=lead, lag_ms=lag), strict=True)
    ):
        index = None if free else k
        # Times are not used by the mapping: carry each fixation's index in them to
        # know which ones stayed on the image.
        idx = np.arange(len(sel), dtype=np.float64)
        on_image, n_dropped = screen_to_image(Fixations(idx, idx, sel.xs, sel.ys, sel.eyes),
                                              place, image_shape)
        if len(on_image) == 0:
            reason = ("no fixation in the window" if len(sel) == 0
                      else f"all {len(sel)} fixations in the window fell off the image")
            skipped.append({"trial_id": trial.trial_id, "segment_index": index,
                            "text": seg.text, "reason": reason})
            continue
        kept = weights[on_image.starts_ms.astype(np.intp)]
        values = density_map(on_image.xs, on_image.ys, kept, shape=image_shape, sigma_px=sigma,
                             dtype=np.float32)
        fix = np.column_stack([on_image.xs, on_image.ys, kept])
        maps.append(SegmentMap(seg, index, values, fix, len(sel), int(n_dropped),
                               (seg.start_ms - lead, seg.end_ms + lag)))
    return maps, skipped


# ----------------------------------------------------------------- the output folder


_WRITTEN = ("triplets.jsonl", "dataset.json", "maps", "images", "fixations")
"""What :class:`~vista.dataset.DatasetWriter` and the pipeline create in ``out``."""


@dataclass
class _Claim:
    """The output folder, claimed with a :class:`~vista._io.FolderLock` for this run."""

    out: Path
    lock: FolderLock
    made_folder: bool
    created: list[str]
    resume: bool
    done: frozenset[str]

    def release(self, *, failed: bool, wrote: int) -> None:
        """Release the lock; after a failure that wrote nothing, remove what this run
        created (an empty dataset would block running it again)."""
        self.lock.release()
        if failed and not self.resume and wrote == 0:
            import shutil

            for name in self.created:
                p = self.out / name
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        if self.made_folder:
            with contextlib.suppress(OSError):
                self.out.rmdir()  # only if empty


def _comparable(prov: Mapping[str, Any]) -> Any:
    keep = {k: v for k, v in prov.items() if k not in ("status", "counts", "skipped")}
    return json.loads(json.dumps(keep))


def _resumable(out: Path, prov: Mapping[str, Any]) -> tuple[bool, frozenset[str]]:
    """Whether ``out`` holds this very command's unfinished dataset (then the ids
    written so far), or is empty; anything else is refused."""
    names = {p.name for p in out.iterdir()} - {LOCK_NAME}
    if not names:
        return False, frozenset()
    if not (out / "dataset.json").is_file() or not (out / "triplets.jsonl").is_file():
        raise FileExistsError(
            f"{out} is not empty and holds no dataset; vista maps writes into a new or empty "
            "folder (choose another --out)")
    info = read_json(out / "dataset.json", expect=dict, what="dataset.json")
    old = info.get("provenance")
    if not isinstance(old, dict) or "status" not in old:
        raise FileExistsError(f"{out} already holds a dataset; choose a new --out folder "
                              "(vista never overwrites a dataset)")
    if old.get("made_by") != "vista maps" or _comparable(old) != _comparable(prov):
        raise FileExistsError(
            f"{out} holds an unfinished dataset made from other inputs or options; run the "
            "command that made it again to finish it, or choose a new --out folder")
    from ..dataset import read_dataset

    return True, frozenset(t.triplet_id for t in read_dataset(out))


def _claim(out: Path, prov: Mapping[str, Any]) -> _Claim:
    """Claim ``out``: a new or empty folder, or this command's unfinished dataset
    (resumed: the triplets written so far are kept and not made again)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        lock = FolderLock(out, command="vista maps")
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    try:
        resume, done = _resumable(out, prov)
    except BaseException:
        _Claim(out, lock, made, [], True, frozenset()).release(failed=True, wrote=0)
        raise
    created = [n for n in _WRITTEN if not (out / n).exists()]
    return _Claim(out, lock, made, created, resume, done)


# ----------------------------------------------------------------- the pipeline


def build_maps(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    sigma_deg: float | None = None,
    sigma_px: float | None = None,
    lead_ms: float = DEFAULT_LEAD_MS,
    lag_ms: float = DEFAULT_LAG_MS,
    segmenter: str = "phrase",
    segmenter_params: Mapping[str, Any] | None = None,
    screen_mm: tuple[float, float] | None = None,
    distance_mm: float | None = None,
    screen_px: tuple[int, int] | None = None,
    images_dir: str | os.PathLike[str] | None = None,
    eye: str | None = None,
    free_viewing_text: str | None = None,
    copy_images: bool = True,
    name: str | None = None,
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MapsSummary:
    """Turn session folders and EyeLink recordings into a dataset folder of human maps.

    Plan -> work -> summarise: every option, input and trial is checked (and each
    trial's image size and bandwidth worked out) before the output folder is touched;
    then each trial's maps are written; then the counts are summed into the summary
    and ``dataset.json``. The human-side choices a sweep varies are ``sigma_deg``,
    ``lead_ms``, ``lag_ms`` and ``segmenter`` (with ``segmenter_params``).

    Parameters
    ----------
    inputs : sequence of path
        Session folders (holding ``session.json``), ``.edf`` or ``.asc`` files.
    out : path
        The dataset folder: new or empty; or this same command's unfinished dataset
        (a run that was stopped), which is then finished. Anything else is refused,
        and two runs cannot write into one folder (it is locked while a run writes).
    sigma_deg : float, optional
        KDE bandwidth in degrees of visual angle, in (0, 20]; default 1.0 when
        ``sigma_px`` is not given. Converted per trial: ``sigma_deg *
        screen.px_per_degree * (image px per screen px of the placement)``.
    sigma_px : float, optional
        KDE bandwidth in image pixels, in (0, 10000], used as is for every trial (no
        screen geometry needed). Give ``sigma_deg`` or ``sigma_px``, not both.
    lead_ms, lag_ms : float, default 1500 and 0
        Alignment window: from ``lead_ms`` before a segment starts to ``lag_ms``
        after it ends; each in [-60000, 60000] ms.
    segmenter : str, default "phrase"
        How transcripts are split; a key of :data:`vista.gaze.segments.SEGMENTERS`.
    segmenter_params : mapping, optional
        Passed to the segmenter (``{"window_ms": 3000}`` for ``"window"``).
    screen_mm : (float, float), optional
        Visible screen width and height in mm, with ``distance_mm``: the screen of
        a bare recording (overrides a session's screen).
    distance_mm : float, optional
        Eye-to-screen distance in mm.
    screen_px : (int, int), optional
        Screen resolution, where the recording has no ``DISPLAY_COORDS``.
    images_dir : path, optional
        Folder to look up trial images in (by relative path, then by file name);
        needed when a recording names images by their path on the display PC.
    eye : {"L", "R", "both"}, optional
        Which eye's fixations to use; default: the right eye of binocular data.
    free_viewing_text : str, optional
        Text of the one map of a trial without transcript; default the image file's
        stem, or ``"trial ID"`` for a trial without image.
    copy_images : bool, default True
        Copy images into ``out/images/`` (self-contained dataset); False stores
        their absolute paths instead.
    name : str, optional
        Dataset name recorded in ``dataset.json``; default the folder's name.
    strict : bool, default False
        What an inconsistent recording gives (:func:`vista.gaze.io.read_recording`):
        a :class:`~vista.gaze.checks.RecordingWarning` naming the file, or with
        ``strict`` a :class:`~vista.errors.ParseError` before anything is written.
    progress : callable, optional
        Called as ``progress(done, total)`` with the number of trials done and planned:
        once before the first trial (``done`` 0) and after each trial's maps are
        written. For progress bars; it must not raise.

    Returns
    -------
    MapsSummary

    Raises
    ------
    ValueError
        If the bandwidth cannot be converted to pixels (no screen geometry: the
        message names the options to pass), or options conflict or are out of range.
    FileNotFoundError
        If an input or a trial's image is missing (pass ``images_dir``).
    FileExistsError
        If ``out`` holds anything but a new, empty or resumable folder.
    vista.errors.FolderBusyError
        If another run holds ``out``.
    vista.errors.ParseError
        If an input is malformed (file and line named), or with ``strict``
        inconsistent.

    Notes
    -----
    A trial without an image (a recording with no ``!V IMGLOAD`` or ``image``
    variable, like most test recordings) gets its map on the whole screen's grid,
    with a grey placeholder image ``images/blank-WxH.png`` and ``meta.image_missing
    = true``. Segments with no fixation on the image are skipped and listed in
    ``dataset.json`` (``provenance.skipped``).
    """
    from ..dataset import DatasetWriter

    opts = MapsOptions.check(
        sigma_deg=sigma_deg, sigma_px=sigma_px, lead_ms=lead_ms, lag_ms=lag_ms,
        segmenter=segmenter, segmenter_params=segmenter_params, eye=eye,
        free_viewing_text=free_viewing_text, copy_images=copy_images)
    img_dir = None if images_dir is None else Path(images_dir)
    if img_dir is not None and not img_dir.is_dir():
        raise FileNotFoundError(f"images_dir {img_dir} is not a folder")
    sources = load_sources(inputs, opts, screen_mm=screen_mm, distance_mm=distance_mm,
                           screen_px=screen_px, strict=strict)
    plans = plan_trials(sources, opts, img_dir)
    prov = provenance(sources, opts)
    claim = _claim(Path(out), prov)
    results: list[_TrialResult] = []
    try:
        with DatasetWriter(claim.out, name=name, provenance=prov,
                           append=claim.resume) as writer:
            if progress is not None:
                progress(0, len(plans))
            for plan in plans:
                results.append(_write_trial(writer, plan, opts, claim.done))
                if progress is not None:
                    progress(len(results), len(plans))
            summary = _summarise(claim.out, len(sources), len(plans), results)
            final = {k: v for k, v in prov.items() if k != "status"}
            final["counts"] = {"trials": summary.n_trials, "triplets": summary.n_triplets,
                               "free_viewing": summary.n_free_viewing,
                               "trials_without_image": summary.n_no_image,
                               "skipped_segments": len(summary.skipped)}
            final["skipped"] = list(summary.skipped)
            writer.update_provenance(final)
    except BaseException:
        claim.release(failed=True, wrote=sum(r.n_written for r in results))
        raise
    claim.release(failed=False, wrote=summary.n_triplets)
    return summary


# ----------------------------------------------------------------- one trial's files


@dataclass(frozen=True)
class _TrialResult:
    """What one trial gave: its triplets (``n_written`` of them written by this run),
    free-viewing maps among them, whether it had no image, its skipped segments."""

    n_triplets: int
    n_written: int
    n_free_viewing: int
    no_image: bool
    skipped: tuple[dict[str, Any], ...]


def _summarise(out: Path, n_inputs: int, n_trials: int,
               results: Sequence[_TrialResult]) -> MapsSummary:
    return MapsSummary(
        out=out, n_inputs=n_inputs, n_trials=n_trials,
        n_triplets=sum(r.n_triplets for r in results),
        n_free_viewing=sum(r.n_free_viewing for r in results),
        n_no_image=sum(r.no_image for r in results),
        skipped=tuple(s for r in results for s in r.skipped))


def _blank_image(writer: Any, shape: tuple[int, int]) -> str:
    from PIL import Image

    h, w = shape
    rel = f"images/blank-{w}x{h}.png"
    target = writer.root / rel
    if not target.exists():
        import io

        buf = io.BytesIO()
        Image.new("RGB", (w, h), (128, 128, 128)).save(buf, format="PNG")
        write_atomic(target, buf.getvalue())
    return rel


def _image_ref(writer: Any, plan: TrialPlan, copy_images: bool) -> str:
    """Where the dataset's triplets find the trial's image."""
    image_file = plan.image_file
    if image_file is None:
        return _blank_image(writer, plan.shape)
    if not copy_images:
        return str(image_file.resolve())
    try:
        return str(writer.add_image(image_file))
    except FileExistsError:  # another image of the same name: tell them apart by content
        import hashlib

        digest = hashlib.sha1(image_file.read_bytes()).hexdigest()[:10]
        return str(writer.add_image(
            image_file, name=f"{image_file.stem}-{digest}{image_file.suffix}"))


def _triplet_meta(plan: TrialPlan, m: SegmentMap, opts: MapsOptions,
                  eye_used: str) -> dict[str, Any]:
    src, image_file = plan.src, plan.image_file
    meta = {
        "participant": src.participant, "trial_id": plan.trial.trial_id,
        "source": str(src.path), "segment_index": m.index,
        "segment_text": m.segment.text, "segment_start_ms": m.segment.start_ms,
        "segment_end_ms": m.segment.end_ms, "window_start_ms": m.window_ms[0],
        "window_end_ms": m.window_ms[1], "n_fixations": int(m.fixations.shape[0]),
        "n_in_window": m.n_in_window, "n_dropped_off_image": m.n_dropped,
        "fixation_ms": float(m.fixations[:, 2].sum()), "sigma_px": plan.sigma_px,
        "sigma_deg": opts.sigma_deg, "eye": eye_used, "free_viewing": m.index is None,
        "image_missing": image_file is None,
        "image_source": None if image_file is None else str(image_file),
    }
    if plan.occurrence > 1:
        meta["trial_occurrence"] = plan.occurrence  # the trial id's 2nd, 3rd... trial
    return meta


def _write_trial(writer: Any, plan: TrialPlan, opts: MapsOptions,
                 done: frozenset[str]) -> _TrialResult:
    """Compute one trial's maps and write those not written by an earlier run."""
    maps, skipped = trial_maps(
        plan.trial, image_shape=plan.shape, sigma_px=plan.sigma_px, placement=plan.placement,
        segmenter=opts.segmenter, segmenter_params=opts.segmenter_params, lead_ms=opts.lead_ms,
        lag_ms=opts.lag_ms, eye=opts.eye, free_viewing_text=plan.text)
    written = 0
    if maps:
        image_ref = _image_ref(writer, plan, opts.copy_images)
        _, eye_used = _pick_eye(plan.trial.fixations, opts.eye)
        for m in maps:
            tid = f"{plan.base}-fv" if m.index is None else f"{plan.base}-{m.index:03d}"
            if tid in done:
                continue
            writer.add(tid, image=image_ref, text=m.segment.text,
                       human_map=m.values.astype(np.float32),
                       meta=_triplet_meta(plan, m, opts, eye_used), fixations=m.fixations)
            written += 1
    return _TrialResult(
        n_triplets=len(maps), n_written=written,
        n_free_viewing=sum(m.index is None for m in maps), no_image=plan.image_file is None,
        skipped=tuple({"participant": plan.src.participant, **s} for s in skipped))
