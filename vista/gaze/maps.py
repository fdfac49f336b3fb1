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
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_positive
from ..records import Fixations, Placement, Screen, Segment, Transcript, Trial
from .align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS, _check_ms, align_all
from .geometry import screen_to_image
from .geometry import sigma_px as sigma_deg_to_px
from .kde import density_map
from .segments import SEGMENTERS, segment

__all__ = [
    "DEFAULT_SIGMA_DEG",
    "MapsSummary",
    "SegmentMap",
    "build_maps",
    "trial_maps",
]

DEFAULT_SIGMA_DEG = 1.0
"""Default KDE bandwidth: one degree of visual angle (about the fovea's extent)."""

EYE_CHOICES = ("L", "R", "both")


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


@dataclass
class MapsSummary:
    """What :func:`build_maps` wrote: counts, skipped segments and their reasons."""

    out: Path
    n_inputs: int = 0
    n_trials: int = 0
    n_triplets: int = 0
    n_free_viewing: int = 0
    n_no_image: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)


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


# ----------------------------------------------------------------- inputs


@dataclass
class _Source:
    path: Path
    participant: str
    trials: list[Trial]
    screen: Screen | None
    screen_px: tuple[int, int] | None
    kind: str


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def _trial_base(participant: str, trial_id: str) -> str:
    """The start of a trial's triplet ids: ``PARTICIPANT-TRIAL``, file-name safe."""
    return f"{_safe(participant)}-{_safe(trial_id)}"


def _load_source(
    path: Path, *, screen_mm: tuple[float, float] | None, distance_mm: float | None,
    screen_px: tuple[int, int] | None,
) -> _Source:
    from .session_reader import is_session_dir, read_session

    if is_session_dir(path):
        session = read_session(path)
        screen = session.screen
        px = screen_px or (None if screen is None else (screen.width_px, screen.height_px))
        kind = "session"
        participant = session.participant
        trials = session.trials
    elif path.is_dir():
        raise FileNotFoundError(f"{path} is a folder without session.json: not a session folder")
    else:
        from .recording import read_recording

        rec = read_recording(path)
        screen = None
        px = screen_px
        if px is None and rec.display_coords is not None:
            left, top, right, bottom = rec.display_coords
            px = (round(right - left + 1), round(bottom - top + 1))
        kind = "recording"
        participant = path.stem
        trials = rec.trials
    if screen_mm is not None or distance_mm is not None:
        if screen_mm is None or distance_mm is None:
            raise ValueError("screen_mm and distance_mm go together: pass both "
                             "(--screen-mm W H --distance-mm D)")
        if px is None:
            raise ValueError(f"{path}: the screen's pixel size is unknown (no DISPLAY_COORDS); "
                             "pass --screen-px W H")
        screen = Screen(px[0], px[1], screen_mm[0], screen_mm[1], distance_mm)
    return _Source(path, participant, trials, screen, px, kind)


def _image_shape(path: str) -> tuple[int, int]:
    from PIL import Image

    from ..errors import ParseError

    try:
        with Image.open(path) as im:
            return int(im.size[1]), int(im.size[0])
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ParseError(f"cannot read image: {exc}", path=path) from exc


def _find_image(image_path: str, images_dir: Path | None) -> Path | None:
    p = Path(image_path)
    candidates = []
    if images_dir is not None:
        if not p.is_absolute():
            candidates.append(images_dir / p)
        candidates.append(images_dir / Path(image_path.replace("\\", "/")).name)
    candidates.append(p)
    for c in candidates:
        if c.is_file():
            return c
    return None


def _blank_image(writer: Any, shape: tuple[int, int]) -> str:
    from PIL import Image

    h, w = shape
    rel = f"images/blank-{w}x{h}.png"
    target = writer.root / rel
    if not target.exists():
        import io

        from ..dataset import write_atomic

        buf = io.BytesIO()
        Image.new("RGB", (w, h), (128, 128, 128)).save(buf, format="PNG")
        write_atomic(target, buf.getvalue())
    return rel


def _placement_from_messages(trial: Trial, image_file: Path) -> Placement | None:
    """The placement of a ``!V IMGLOAD CENTER|TOP_LEFT`` whose image the reader could not
    open (a display-PC path), now that the image was found under ``--images``."""
    from .recording import parse_imgload, placement_from_imgload

    for m in trial.messages:
        parsed = parse_imgload(m.text)
        if parsed is not None:
            mode, _, numbers = parsed
            return placement_from_imgload(mode, numbers, image_file, None)
    return None


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
) -> MapsSummary:
    """Turn session folders and EyeLink recordings into a dataset folder of human maps.

    Parameters
    ----------
    inputs : sequence of path
        Session folders (holding ``session.json``), ``.edf`` or ``.asc`` files.
    out : path
        The dataset folder to create; an existing dataset is never overwritten.
    sigma_deg : float, optional
        KDE bandwidth in degrees of visual angle; default 1.0 when ``sigma_px`` is
        not given. Converted per trial: ``sigma_deg * screen.px_per_degree *
        (image px per screen px of the placement)``.
    sigma_px : float, optional
        KDE bandwidth in image pixels, used as is for every trial (no screen
        geometry needed). Give ``sigma_deg`` or ``sigma_px``, not both.
    lead_ms, lag_ms : float, default 1500 and 0
        Alignment window: from ``lead_ms`` before a segment starts to ``lag_ms``
        after it ends.
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

    Returns
    -------
    MapsSummary

    Raises
    ------
    ValueError
        If the bandwidth cannot be converted to pixels (no screen geometry: the
        message names the options to pass), or options conflict.
    FileNotFoundError
        If an input or a trial's image is missing (pass ``images_dir``).
    FileExistsError
        If ``out`` already holds a dataset.

    Notes
    -----
    A trial without an image (a recording with no ``!V IMGLOAD`` or ``image``
    variable, like most test recordings) gets its map on the whole screen's grid,
    with a grey placeholder image ``images/blank-WxH.png`` and ``meta.image_missing
    = true``. Segments with no fixation on the image are skipped and listed in
    ``dataset.json`` (``provenance.skipped``).
    """
    from .. import __version__
    from ..dataset import DatasetWriter

    if not inputs:
        raise ValueError("inputs must name at least one session folder, EDF or ASC file")
    if sigma_deg is not None and sigma_px is not None:
        raise ValueError("give sigma_deg or sigma_px, not both")
    sig_px = None if sigma_px is None else check_positive("sigma_px", sigma_px)
    sig_deg = None if sig_px is not None else check_positive(
        "sigma_deg", DEFAULT_SIGMA_DEG if sigma_deg is None else sigma_deg)
    check_option("segmenter", segmenter, SEGMENTERS)
    lead_ms, lag_ms = _check_ms("lead_ms", lead_ms), _check_ms("lag_ms", lag_ms)
    # the segmenter checks its parameters before looking at the words: try them now,
    # not halfway through writing the dataset
    segment(Transcript(()), segmenter, **dict(segmenter_params or {}))
    if eye is not None:
        check_option("eye", eye, EYE_CHOICES)
    if free_viewing_text is not None and not free_viewing_text.strip():
        raise ValueError("free_viewing_text must not be empty")
    out_path = Path(out)
    if (out_path / "triplets.jsonl").exists():
        raise FileExistsError(f"{out_path} already holds a dataset; choose a new --out folder "
                              "(vista never overwrites a dataset)")
    img_dir = None if images_dir is None else Path(images_dir)
    if img_dir is not None and not img_dir.is_dir():
        raise FileNotFoundError(f"images_dir {img_dir} is not a folder")

    sources = []
    for p in inputs:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such input: {path}")
        sources.append(_load_source(path, screen_mm=screen_mm, distance_mm=distance_mm,
                                    screen_px=screen_px))
    if eye in ("L", "R"):
        for s in sources:
            recorded = {e for t in s.trials for e in t.fixations.eyes.tolist()}
            if recorded and eye not in recorded:
                raise ValueError(
                    f"{s.path}: eye={eye!r} but its fixations are of eye "
                    f"{', '.join(sorted(recorded))} only; choose --eye "
                    f"{' or '.join(sorted(recorded))} (or leave it out)")
    owners: dict[str, Path] = {}
    for s in sources:
        key = _safe(s.participant)
        if key in owners:
            raise ValueError(f"{owners[key]} and {s.path} both give participant "
                             f"{s.participant!r}: triplet ids would collide; rename one "
                             "(session.json 'participant', or the recording's file name)")
        owners[key] = s.path
    if sig_deg is not None:
        for s in sources:
            if s.screen is None:
                raise ValueError(
                    f"{s.path}: no screen geometry to convert sigma_deg={sig_deg} to pixels; "
                    "pass --screen-mm W H and --distance-mm D (the display's visible size "
                    "and the viewing distance), or give the bandwidth as --sigma-px")

    provenance: dict[str, Any] = {
        "made_by": "vista maps",
        "vista_version": __version__,
        "inputs": [{"path": str(s.path), "kind": s.kind, "participant": s.participant,
                    "screen": None if s.screen is None else s.screen.to_dict(),
                    "px_per_degree": None if s.screen is None else s.screen.px_per_degree}
                   for s in sources],
        "kde": {"kernel": "isotropic Gaussian, duration-weighted", "sigma_deg": sig_deg,
                "sigma_px": sig_px,
                "sigma_px_rule": ("given in image pixels" if sig_px is not None else
                                  "sigma_deg * px_per_degree * image px per screen px"),
                "boundary": "mass outside the image dropped, map renormalised to sum 1",
                "pixel_centres": "integer coordinates", "dtype": "float32"},
        "alignment": {"lead_ms": float(lead_ms), "lag_ms": float(lag_ms),
                      "weight": "overlap of each fixation with the window, ms",
                      "free_viewing": "whole trial span, no lead or lag"},
        "segmenter": {"name": segmenter, "params": dict(segmenter_params or {})},
        "eye": eye or "right eye of binocular data, else the recorded eye",
        "images": "copied" if copy_images else "referenced",
        # until the last map is written: a run stopped halfway leaves a readable
        # dataset of the maps so far, and says so
        "status": "incomplete: vista maps did not finish (interrupted or failed)",
    }
    plans = [_plan_trial(src, trial, sig_deg=sig_deg, sig_px=sig_px, images_dir=img_dir,
                         free_viewing_text=free_viewing_text)
             for src in sources for trial in src.trials]
    # a trial id that comes again in one input (a repeated TRIALID, e.g. a trial run
    # again after recalibration) gets its own triplet ids: -rep2, -rep3, ...
    seen: dict[str, int] = {}
    for k, plan in enumerate(plans):
        key = _trial_base(plan.src.participant, plan.trial.trial_id)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            plans[k] = dataclasses.replace(plan, occurrence=seen[key])
    summary = MapsSummary(out=out_path, n_inputs=len(sources), n_trials=len(plans))
    created = [n for n in _WRITTEN if not (out_path / n).exists()]
    out_existed = out_path.exists()
    try:
        with DatasetWriter(out_path, name=name, provenance=provenance) as writer:
            for plan in plans:
                _write_trial(writer, plan, summary, sig_deg=sig_deg, lead_ms=lead_ms,
                             lag_ms=lag_ms, segmenter=segmenter,
                             segmenter_params=segmenter_params, eye=eye,
                             copy_images=copy_images)
            provenance["counts"] = {"trials": summary.n_trials, "triplets": summary.n_triplets,
                                    "free_viewing": summary.n_free_viewing,
                                    "trials_without_image": summary.n_no_image,
                                    "skipped_segments": len(summary.skipped)}
            provenance["skipped"] = summary.skipped
            del provenance["status"]
            writer.update_provenance(provenance)
    except BaseException:
        if summary.n_triplets == 0:  # an empty dataset would block running it again
            _remove_created(out_path, created, out_existed)
        raise
    return summary


_WRITTEN = ("triplets.jsonl", "dataset.json", "maps", "images", "fixations")
"""What :class:`~vista.dataset.DatasetWriter` and the pipeline create in ``out``."""


def _remove_created(out: Path, created: Sequence[str], out_existed: bool) -> None:
    """Remove what a failed run created before it wrote any triplet."""
    import shutil

    for name in created:
        p = out / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    if not out_existed:
        with contextlib.suppress(OSError):
            out.rmdir()  # only if empty


@dataclass(frozen=True)
class _Plan:
    """Everything a trial needs before its maps are computed, checked up front so a
    bad trial stops the run before anything is written."""

    src: _Source
    trial: Trial
    image_file: Path | None
    shape: tuple[int, int]
    placement: Placement
    sigma_px: float
    text: str
    occurrence: int = 1


def _plan_trial(
    src: _Source, trial: Trial, *, sig_deg: float | None, sig_px: float | None,
    images_dir: Path | None, free_viewing_text: str | None,
) -> _Plan:
    where = f"{src.path}, trial {trial.trial_id!r}"
    image_file: Path | None = None
    if trial.image_path:
        image_file = _find_image(trial.image_path, images_dir)
        if image_file is None:
            hint = "" if images_dir is not None else "; pass --images DIR"
            raise FileNotFoundError(f"{where}: image {trial.image_path!r} not found{hint}")
        shape = _image_shape(str(image_file))
        placement = trial.placement or _placement_from_messages(trial, image_file)
        if placement is None:
            raise ValueError(f"{where}: the image's placement on the screen is unknown "
                             "(no !V IMGLOAD with a position, no placement in trials.jsonl)")
    else:
        if src.screen_px is None:
            raise ValueError(f"{where}: no image and no screen size to put the map on; "
                             "pass --screen-px W H")
        w, h = src.screen_px
        shape = (h, w)
        placement = Placement(0.0, 0.0, float(w), float(h))
    if sig_px is not None:
        sigma = sig_px
    else:
        assert src.screen is not None and sig_deg is not None
        sigma = sigma_deg_to_px(sig_deg, src.screen, placement, shape)
    text = free_viewing_text or (image_file.stem if image_file is not None
                                 else f"trial {trial.trial_id}")
    return _Plan(src, trial, image_file, shape, placement, sigma, text)


def _write_trial(
    writer: Any, plan: _Plan, summary: MapsSummary, *, sig_deg: float | None, lead_ms: float,
    lag_ms: float, segmenter: str, segmenter_params: Mapping[str, Any] | None,
    eye: str | None, copy_images: bool,
) -> None:
    src, trial, image_file, shape = plan.src, plan.trial, plan.image_file, plan.shape
    if image_file is None:
        summary.n_no_image += 1
    maps, skipped = trial_maps(trial, image_shape=shape, sigma_px=plan.sigma_px,
                               placement=plan.placement, segmenter=segmenter,
                               segmenter_params=segmenter_params, lead_ms=lead_ms,
                               lag_ms=lag_ms, eye=eye, free_viewing_text=plan.text)
    for s in skipped:
        summary.skipped.append({"participant": src.participant, **s})
    if not maps:
        return
    if image_file is None:
        image_ref = _blank_image(writer, shape)
    elif copy_images:
        try:
            image_ref = writer.add_image(image_file)
        except FileExistsError:  # another image of the same name: tell them apart by content
            import hashlib

            digest = hashlib.sha1(image_file.read_bytes()).hexdigest()[:10]
            image_ref = writer.add_image(
                image_file, name=f"{image_file.stem}-{digest}{image_file.suffix}")
    else:
        image_ref = str(image_file.resolve())
    _, eye_used = _pick_eye(trial.fixations, eye)
    base = _trial_base(src.participant, trial.trial_id)
    if plan.occurrence > 1:
        base += f"-rep{plan.occurrence}"
    for m in maps:
        tid = f"{base}-fv" if m.index is None else f"{base}-{m.index:03d}"
        meta = {
            "participant": src.participant, "trial_id": trial.trial_id,
            "source": str(src.path), "segment_index": m.index,
            "segment_text": m.segment.text, "segment_start_ms": m.segment.start_ms,
            "segment_end_ms": m.segment.end_ms, "window_start_ms": m.window_ms[0],
            "window_end_ms": m.window_ms[1], "n_fixations": int(m.fixations.shape[0]),
            "n_in_window": m.n_in_window, "n_dropped_off_image": m.n_dropped,
            "fixation_ms": float(m.fixations[:, 2].sum()), "sigma_px": plan.sigma_px,
            "sigma_deg": sig_deg, "eye": eye_used, "free_viewing": m.index is None,
            "image_missing": image_file is None,
            "image_source": None if image_file is None else str(image_file),
        }
        if plan.occurrence > 1:
            meta["trial_occurrence"] = plan.occurrence  # the trial id's 2nd, 3rd... trial
        writer.add(tid, image=image_ref, text=m.segment.text,
                   human_map=m.values.astype(np.float32), meta=meta, fixations=m.fixations)
        summary.n_triplets += 1
        if m.index is None:
            summary.n_free_viewing += 1
