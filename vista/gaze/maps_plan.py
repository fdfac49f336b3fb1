"""The plan of a ``vista maps`` run: its options, its inputs and one checked plan per
trial, all made before the dataset folder is touched (:func:`vista.gaze.maps.build_maps`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import check_option, check_range
from ..errors import ParseError
from ..records import Placement, Screen, Transcript, Trial
from .geometry import sigma_px as sigma_deg_to_px
from .segments import SEGMENTERS, segment

__all__ = ["DEFAULT_SIGMA_DEG", "EYE_CHOICES", "MAPS_RANGES", "MapsOptions"]

DEFAULT_SIGMA_DEG = 1.0
"""Default KDE bandwidth: one degree of visual angle (about the fovea's extent)."""

EYE_CHOICES = ("L", "R", "both")

MAPS_RANGES: dict[str, tuple[float, float]] = {
    "sigma_deg": (0.0, 20.0),
    "sigma_px": (0.0, 10000.0),
    "lead_ms": (-60000.0, 60000.0),
    "lag_ms": (-60000.0, 60000.0),
}
"""Accepted values of the numeric options (bandwidths exclude 0): a bandwidth up to
20 degrees or 10000 image pixels, a lead or lag up to a minute either way."""


@dataclass(frozen=True)
class MapsOptions:
    """The checked options of one :func:`~vista.gaze.maps.build_maps` run.

    ``sigma_deg``, ``lead_ms``, ``lag_ms`` and ``segmenter`` are the human-side
    choices a sweep varies; exactly one of ``sigma_deg`` and ``sigma_px`` is set.
    """

    sigma_deg: float | None
    sigma_px: float | None
    lead_ms: float
    lag_ms: float
    segmenter: str
    segmenter_params: dict[str, Any] = field(default_factory=dict)
    eye: str | None = None
    free_viewing_text: str | None = None
    copy_images: bool = True

    @classmethod
    def check(cls, *, sigma_deg: float | None, sigma_px: float | None, lead_ms: float,
              lag_ms: float, segmenter: str, segmenter_params: Mapping[str, Any] | None,
              eye: str | None, free_viewing_text: str | None,
              copy_images: bool) -> MapsOptions:
        """Every option checked, each message naming the option."""
        if sigma_deg is not None and sigma_px is not None:
            raise ValueError("give sigma_deg or sigma_px, not both")
        sig_px = None if sigma_px is None else _bounded("sigma_px", sigma_px)
        sig_deg = None if sig_px is not None else _bounded(
            "sigma_deg", DEFAULT_SIGMA_DEG if sigma_deg is None else sigma_deg)
        check_option("segmenter", segmenter, SEGMENTERS)
        params = dict(segmenter_params or {})
        # the segmenter checks its parameters before looking at the words: try them now,
        # not halfway through writing the dataset
        segment(Transcript(()), segmenter, **params)
        if eye is not None:
            check_option("eye", eye, EYE_CHOICES)
        if free_viewing_text is not None and not free_viewing_text.strip():
            raise ValueError("free_viewing_text must not be empty")
        return cls(sig_deg, sig_px, _ms("lead_ms", lead_ms), _ms("lag_ms", lag_ms), segmenter,
                   params, eye, free_viewing_text, bool(copy_images))


def _bounded(name: str, value: Any) -> float:
    low, high = MAPS_RANGES[name]
    return check_range(name, value, low, high, low_open=True)


def _ms(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number of milliseconds; got {value!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite; got {value!r}")
    low, high = MAPS_RANGES[name]
    return check_range(name, value, low, high, unit="ms")


# ----------------------------------------------------------------- inputs


@dataclass
class Source:
    """One input read: a session folder or a bare recording."""

    path: Path
    participant: str
    trials: list[Trial]
    screen: Screen | None
    screen_px: tuple[int, int] | None
    kind: str


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def trial_base(participant: str, trial_id: str) -> str:
    """The start of a trial's triplet ids: ``PARTICIPANT-TRIAL``, file-name safe (the
    ids of 0.1.0, kept so that datasets stay identical; two trials that give the same
    base are told apart by ``-rep2``, ``-rep3``, ...)."""
    return f"{_safe(participant)}-{_safe(trial_id)}"


def load_source(
    path: Path, *, screen_mm: tuple[float, float] | None, distance_mm: float | None,
    screen_px: tuple[int, int] | None, strict: bool = False,
) -> Source:
    """One input read (``strict``: see :func:`vista.gaze.io.read_recording`)."""
    from .session_reader import is_session_dir, read_session

    if is_session_dir(path):
        session = read_session(path, strict=strict)
        screen = session.screen
        px = screen_px or (None if screen is None else (screen.width_px, screen.height_px))
        kind = "session"
        participant = session.participant
        trials = session.trials
    elif path.is_dir():
        raise FileNotFoundError(f"{path} is a folder without session.json: not a session folder")
    else:
        from .io import read_recording

        rec = read_recording(path, strict=strict)
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
    return Source(path, participant, trials, screen, px, kind)


def load_sources(inputs: Sequence[str | os.PathLike[str]], opts: MapsOptions, *,
                 screen_mm: tuple[float, float] | None, distance_mm: float | None,
                 screen_px: tuple[int, int] | None, strict: bool = False) -> list[Source]:
    """Every input read and checked against the options and each other."""
    if not inputs:
        raise ValueError("inputs must name at least one session folder, EDF or ASC file")
    sources = []
    for p in inputs:
        path = Path(p)
        if not path.exists():
            raise FileNotFoundError(f"no such input: {path}")
        sources.append(load_source(path, screen_mm=screen_mm, distance_mm=distance_mm,
                                   screen_px=screen_px, strict=strict))
    owners: dict[str, Path] = {}
    for s in sources:
        recorded = {e for t in s.trials for e in t.fixations.eyes.tolist()}
        if opts.eye in ("L", "R") and recorded and opts.eye not in recorded:
            raise ValueError(
                f"{s.path}: eye={opts.eye!r} but its fixations are of eye "
                f"{', '.join(sorted(recorded))} only; choose --eye "
                f"{' or '.join(sorted(recorded))} (or leave it out)")
        key = _safe(s.participant)
        if key in owners:
            raise ValueError(f"{owners[key]} and {s.path} both give participant "
                             f"{s.participant!r}: triplet ids would collide; rename one "
                             "(session.json 'participant', or the recording's file name)")
        owners[key] = s.path
        if opts.sigma_deg is not None and s.screen is None:
            raise ValueError(
                f"{s.path}: no screen geometry to convert sigma_deg={opts.sigma_deg} to "
                "pixels; pass --screen-mm W H and --distance-mm D (the display's visible "
                "size and the viewing distance), or give the bandwidth as --sigma-px")
    return sources


# ----------------------------------------------------------------- trials


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


@dataclass(frozen=True)
class TrialPlan:
    """Everything a trial needs before its maps are computed, checked up front so a
    bad trial stops the run before anything is written."""

    src: Source
    trial: Trial
    image_file: Path | None
    shape: tuple[int, int]
    placement: Placement
    sigma_px: float
    text: str
    occurrence: int = 1

    @property
    def base(self) -> str:
        """The start of this trial's triplet ids."""
        base = trial_base(self.src.participant, self.trial.trial_id)
        return base if self.occurrence == 1 else f"{base}-rep{self.occurrence}"


def plan_trial(src: Source, trial: Trial, opts: MapsOptions,
               images_dir: Path | None) -> TrialPlan:
    from ..imaging import image_size

    where = f"{src.path}, trial {trial.trial_id!r}"
    image_file: Path | None = None
    if trial.image_path:
        image_file = _find_image(trial.image_path, images_dir)
        if image_file is None:
            hint = "" if images_dir is not None else "; pass --images DIR"
            raise FileNotFoundError(f"{where}: image {trial.image_path!r} not found{hint}")
        try:
            shape = image_size(image_file)
        except ParseError as exc:
            raise ParseError(f"image of {where}: {exc.message}", path=exc.path) from None
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
    if opts.sigma_px is not None:
        sigma = opts.sigma_px
    else:
        assert src.screen is not None and opts.sigma_deg is not None
        sigma = sigma_deg_to_px(opts.sigma_deg, src.screen, placement, shape)
        if not 0 < sigma < float("inf"):
            raise ValueError(f"{where}: sigma_deg={opts.sigma_deg} is {sigma} image pixels "
                             f"with this screen ({src.screen}); check its geometry")
    text = opts.free_viewing_text or (image_file.stem if image_file is not None
                                      else f"trial {trial.trial_id}")
    return TrialPlan(src, trial, image_file, shape, placement, sigma, text)


def plan_trials(sources: Sequence[Source], opts: MapsOptions,
                images_dir: Path | None) -> list[TrialPlan]:
    """One plan per trial of every input. A trial id that comes again in one input (a
    repeated TRIALID, e.g. a trial run again after recalibration) gets its own
    triplet ids: -rep2, -rep3, ..."""
    plans = [plan_trial(src, trial, opts, images_dir) for src in sources for trial in src.trials]
    seen: dict[str, int] = {}
    for k, plan in enumerate(plans):
        key = trial_base(plan.src.participant, plan.trial.trial_id)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            plans[k] = dataclasses.replace(plan, occurrence=seen[key])
    return plans


def provenance(sources: Sequence[Source], opts: MapsOptions) -> dict[str, Any]:
    """What ``dataset.json`` records about how the maps were made."""
    from .. import __version__

    return {
        "made_by": "vista maps",
        "vista_version": __version__,
        "inputs": [{"path": str(s.path), "kind": s.kind, "participant": s.participant,
                    "screen": None if s.screen is None else s.screen.to_dict(),
                    "px_per_degree": None if s.screen is None else s.screen.px_per_degree}
                   for s in sources],
        "kde": {"kernel": "isotropic Gaussian, duration-weighted", "sigma_deg": opts.sigma_deg,
                "sigma_px": opts.sigma_px,
                "sigma_px_rule": ("given in image pixels" if opts.sigma_px is not None else
                                  "sigma_deg * px_per_degree * image px per screen px"),
                "boundary": "mass outside the image dropped, map renormalised to sum 1",
                "pixel_centres": "integer coordinates", "dtype": "float32"},
        "alignment": {"lead_ms": float(opts.lead_ms), "lag_ms": float(opts.lag_ms),
                      "weight": "overlap of each fixation with the window, ms",
                      "free_viewing": "whole trial span, no lead or lag"},
        "segmenter": {"name": opts.segmenter, "params": dict(opts.segmenter_params)},
        "eye": opts.eye or "right eye of binocular data, else the recorded eye",
        "images": "copied" if opts.copy_images else "referenced",
        # until the last map is written: a run stopped halfway leaves a readable
        # dataset of the maps so far, and says so
        "status": "incomplete: vista maps did not finish (interrupted or failed)",
    }
