"""``vista view``: one self-contained HTML page to inspect a session, dataset or run.

Per trial the page shows the image with the scanpath playing along a timeline
(play/pause, speed, scrubbing), the transcript words lit as the playhead passes
them, each segment's alignment window (lead and lag) on the timeline, and below,
each segment's human map and, for a run, every model's map with its scores. Arrow
keys move across trials; the session's audio, where it was kept, plays in sync.

The page works offline from one file: images are downscaled JPEGs and maps small
PNGs, embedded as data URIs; the script and styles are inline (no CDN).

:func:`view_data` gathers what the page shows (a JSON-ready dict);
:func:`render_view` turns it into HTML; :func:`write_view` does both and writes the
file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_jsonl, write_atomic
from .._validation import check_int, check_positive
from ..records import Trial

__all__ = ["heat_png", "render_view", "source_kind", "view_data", "write_view"]

DEFAULT_IMAGE_SIDE = 560
DEFAULT_MAP_SIDE = 180


# --------------------------------------------------------------------- encoding


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _fit(shape: tuple[int, int], side: int) -> tuple[int, int]:
    """(height, width) scaled so the longest side is at most ``side``."""
    h, w = shape
    k = min(1.0, side / max(h, w))
    return max(1, round(h * k)), max(1, round(w * k))


def _jpeg(image: np.ndarray, side: int) -> tuple[str, int, int]:
    """The image as a JPEG data URI no larger than ``side`` pixels, and the size it is
    shown at: ``side`` on its longest side (small images are enlarged by the browser,
    not in the file)."""
    from PIL import Image

    h, w = _fit(image.shape[:2], side)
    im = Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=82, optimize=True)
    k = side / max(image.shape[:2])
    return (_data_uri(buf.getvalue(), "image/jpeg"), max(1, round(image.shape[1] * k)),
            max(1, round(image.shape[0] * k)))


# A perceptual ramp (dark purple -> orange -> yellow), a few stops of magma.
_STOPS = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104],
                   [254, 159, 109], [252, 253, 191]], dtype=np.float64)


def _colour(values: np.ndarray) -> np.ndarray:
    pos = np.clip(values, 0, 1) * (len(_STOPS) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_STOPS) - 2)
    frac = (pos - lo)[..., None]
    return (_STOPS[lo] * (1 - frac) + _STOPS[lo + 1] * frac).astype(np.uint8)


def heat_png(image: np.ndarray, values: np.ndarray, *, side: int = DEFAULT_MAP_SIDE) -> str:
    """A map drawn over the grey image as a small PNG data URI.

    The map is scaled from its minimum to its maximum (a constant map draws nothing:
    it has no structure to show), resized to the
    image grid with :func:`vista.imaging.resize_map`, coloured, and blended over the
    grey image with an opacity that grows with the value.

    Examples
    --------
    >>> img = np.zeros((40, 60, 3), dtype=np.uint8)
    >>> heat_png(img, np.eye(4), side=30).startswith("data:image/png;base64,")
    True
    """
    from PIL import Image

    from ..imaging import resize_map

    h, w = _fit(image.shape[:2], side)
    grey = np.asarray(Image.fromarray(image).convert("L").resize((w, h), Image.Resampling.BILINEAR),
                      dtype=np.float64)
    m = resize_map(np.nan_to_num(np.asarray(values, dtype=np.float64)), (h, w))
    low, top = (float(m.min()), float(m.max())) if m.size else (0.0, 0.0)
    m = (m - low) / (top - low) if top > low else np.zeros_like(m)
    alpha = (0.15 + 0.85 * m)[..., None] * (m[..., None] > 0.02)
    base = np.repeat(grey[..., None] * 0.7, 3, axis=2)
    rgb = (base * (1 - alpha) + _colour(m) * alpha).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return _data_uri(buf.getvalue(), "image/png")


# --------------------------------------------------------------------- sources


def source_kind(path: str | os.PathLike[str]) -> str:
    """``"session"``, ``"run"`` or ``"dataset"``, from the files the folder holds.

    Examples
    --------
    >>> from vista.scoring import demo_dataset_path
    >>> source_kind(demo_dataset_path())
    'dataset'
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"{p} is not a folder: expected a session, dataset or run folder")
    if (p / "session.json").is_file():
        return "session"
    if (p / "summary.json").is_file():
        return "run"
    if (p / "triplets.jsonl").is_file():
        return "dataset"
    raise FileNotFoundError(f"{p} holds no session.json, summary.json or triplets.jsonl: not a "
                            "session, run or dataset folder")


def _norm_xy(xs: Any, ys: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image pixel coordinates (centres at integers) as fractions of the image."""
    h, w = shape
    return (np.asarray(xs, dtype=np.float64) + 0.5) / w, (np.asarray(ys, dtype=np.float64) + 0.5) / h


def _fixation_rows(trial: Trial, shape: tuple[int, int], eye: str | None) -> list[list[Any]]:
    from ..gaze.geometry import screen_to_image_xy

    fix = trial.fixations
    present = set(fix.eyes.tolist())
    pick = eye if eye is not None else ("R" if "R" in present or not present else sorted(present)[0])
    fix = fix.select(fix.eyes == pick)
    u, v = screen_to_image_xy(fix.xs, fix.ys, trial.placement, shape)
    nx, ny = _norm_xy(u, v, shape)
    return [[float(a), float(b), round(float(x), 4), round(float(y), 4)]
            for a, b, x, y in zip(fix.starts_ms, fix.ends_ms, nx, ny, strict=True)
            if np.isfinite(x) and np.isfinite(y)]


def _journal_rows(root: Path) -> dict[str, dict[str, Any]]:
    """The lines of a session's ``trials.jsonl`` by trial id (a torn last line left
    out, as :func:`~vista.gaze.session_reader.read_session` does)."""
    return {str(r.get("trial_id")): r for _, r in read_jsonl(root / "trials.jsonl",
                                                             torn_tail="drop")}


def _audio(root: Path, row: dict[str, Any], embed: bool) -> dict[str, Any] | None:
    name, start = row.get("audio"), row.get("audio_start_ms")
    if not name or start is None:
        return None
    p = Path(str(name))
    p = p if p.is_absolute() else root / p
    if not p.is_file():
        return None
    src = _data_uri(p.read_bytes(), "audio/wav") if embed else p.resolve().as_uri()
    return {"src": src, "start_ms": float(start)}


def _session_trials(path: Path, *, lead_ms: float, lag_ms: float, sigma_deg: float,
                    segmenter: str, image_side: int, map_side: int, embed_audio: bool,
                    eye: str | None) -> list[dict[str, Any]]:
    from ..gaze.session_reader import read_session

    session = read_session(path)
    rows = _journal_rows(path)
    out = []
    for trial in session.trials:
        rec = _trial_record(trial, image_side=image_side, eye=eye)
        rec["segments"] = _session_segments(trial, rec, lead_ms=lead_ms, lag_ms=lag_ms,
                                            sigma_deg=sigma_deg, segmenter=segmenter,
                                            map_side=map_side, eye=eye)
        rec["audio"] = _audio(path, rows.get(trial.trial_id, {}), embed_audio)
        rec["_base"] = session.recording.parent
        rec["meta"] = f"participant {session.participant} · trial {trial.trial_id}" + (
            f" · {len(rec['fixations'])} fixations" if rec["fixations"] else "")
        out.append(rec)
    return out


def _trial_record(trial: Trial, *, image_side: int, eye: str | None) -> dict[str, Any]:
    from ..imaging import load_image

    image = None
    if trial.image_path is not None and Path(trial.image_path).is_file():
        image = load_image(trial.image_path)
    rec: dict[str, Any] = {
        "id": trial.trial_id, "label": f"trial {trial.trial_id}",
        "image_name": Path(trial.image_path).name if trial.image_path else "",
        "image": None, "width": image_side, "height": round(image_side * 0.75),
        "timed": trial.start_ms is not None and trial.end_ms is not None,
        "t0": trial.start_ms, "t1": trial.end_ms, "fixations": [], "words": [],
        "segments": [], "audio": None, "areas": [], "_image": image, "_trial": trial,
    }
    if image is not None:
        rec["image"], rec["width"], rec["height"] = _jpeg(image, image_side)
        rec["fixations"] = _fixation_rows(trial, image.shape[:2], eye)
    if trial.transcript is not None:
        rec["words"] = [[w.text, w.start_ms, w.end_ms] for w in trial.transcript.words]
    return rec


def _session_segments(trial: Trial, rec: dict[str, Any], *, lead_ms: float, lag_ms: float,
                      sigma_deg: float, segmenter: str, map_side: int,
                      eye: str | None) -> list[dict[str, Any]]:
    """Each segment of the trial with its window and the human map made as
    ``vista maps`` makes it (where the image and placement are known)."""
    from ..gaze.geometry import sigma_px
    from ..gaze.maps import trial_maps
    from ..gaze.segments import segment

    image = rec["_image"]
    if trial.transcript is None:
        return []
    segs = segment(trial.transcript, segmenter)
    maps: dict[int, Any] = {}
    if image is not None and trial.placement is not None and trial.screen is not None:
        sig = sigma_px(sigma_deg, trial.screen, trial.placement, image.shape[:2])
        made, _ = trial_maps(trial, image_shape=image.shape[:2], sigma_px=sig, segmenter=segmenter,
                             lead_ms=lead_ms, lag_ms=lag_ms, eye=eye)
        maps = {m.index: m.values for m in made if m.index is not None}
    return [{"text": s.text, "start": s.start_ms, "end": s.end_ms,
             "window_start": s.start_ms - lead_ms, "window_end": s.end_ms + lag_ms,
             "human_map": heat_png(image, maps[k], side=map_side) if k in maps else None,
             "models": []} for k, s in enumerate(segs)]


# --------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class _GazeSource:
    """Where a dataset's trials came from: a session folder or a recording."""

    name: str
    trials: list[Trial]
    journal: dict[str, dict[str, Any]]
    root: Path


def _find_source(ds_root: Path, source: Any, cache: dict[str, Any]) -> _GazeSource | None:
    """The session folder or EyeLink recording a triplet came from (``meta.source``),
    where it can be found (as given, or relative to the dataset, its parent or the
    working folder) and read."""
    from ..gaze.io import read_recording
    from ..gaze.session_reader import is_session_dir, read_session

    if not source:
        return None
    key = str(source)
    if key in cache:
        return cache[key]
    cache[key] = None
    p = Path(key)
    for cand in ([p] if p.is_absolute() else [ds_root / p, ds_root.parent / p, Path.cwd() / p]):
        try:
            if is_session_dir(cand):
                s = read_session(cand)
                cache[key] = _GazeSource(f"session {s.participant}", list(s.trials),
                                         _journal_rows(cand), cand)
            elif cand.is_file() and cand.suffix.lower() in (".edf", ".asc"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rec = read_recording(cand)
                cache[key] = _GazeSource(f"recording {cand.name}", list(rec.trials), {},
                                         cand.parent)
            else:
                continue
        except (OSError, ValueError):
            cache[key] = None
        break
    return cache[key]


def _groups(triplets: Sequence[Any]) -> list[tuple[tuple[str, str], list[Any]]]:
    """Triplets grouped by trial (source and trial id), in dataset order; a triplet
    without a trial id is a group of its own."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for t in triplets:
        meta = t.meta
        key = ((str(meta.get("source", meta.get("participant", ""))), str(meta["trial_id"]))
               if meta.get("trial_id") is not None else ("", t.triplet_id))
        groups.setdefault(key, []).append(t)
    return list(groups.items())


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _dataset_trials(ds: Any, *, image_side: int, map_side: int, embed_audio: bool,
                    eye: str | None, run: Any = None) -> list[dict[str, Any]]:
    from ..imaging import load_image

    sources: dict[str, Any] = {}
    out = []
    for (_, tid), triplets in _groups(ds.triplets):
        first = triplets[0]
        source = _find_source(ds.root, first.meta.get("source"), sources)
        trial = None if source is None else next(
            (t for t in source.trials if t.trial_id == tid), None)
        image = load_image(first.image_path) if Path(first.image_path).is_file() else None
        if source is not None and trial is not None:
            rec = _trial_record(trial, image_side=image_side, eye=eye)
            rec["audio"] = _audio(source.root, source.journal.get(tid, {}), embed_audio)
            rec["_base"] = source.root
            rec["words"] = rec["words"] or _segment_words(triplets)
        else:
            rec = _untimed_record(first, triplets, ds, image, image_side)
        rec["id"] = tid if len(tid) < 40 else first.triplet_id
        rec["label"] = (f"{first.meta.get('participant')} · {tid}"
                        if first.meta.get("participant") else rec["label"])
        rec["segments"] = [_triplet_segment(t, ds, image, map_side, run) for t in triplets]
        rec["meta"] = (f"{len(triplets)} segment(s) · " + (
            f"gaze from {source.name}" if source is not None and trial is not None
            else "fixation times not available (its session or recording not found)"))
        out.append(rec)
    _unique_ids(out)
    return out


def _untimed_record(first: Any, triplets: Sequence[Any], ds: Any, image: Any,
                    image_side: int) -> dict[str, Any]:
    """A trial rebuilt from its triplets alone: segment times from their metadata,
    fixation positions (without times) from the stored fixations."""
    rec: dict[str, Any] = {"id": first.triplet_id, "label": first.triplet_id,
                           "image_name": Path(first.image_path).name, "image": None,
                           "width": image_side, "height": round(image_side * 0.75),
                           "fixations": [], "words": [], "audio": None, "areas": []}
    times = [(_num(t.meta.get("window_start_ms")), _num(t.meta.get("window_end_ms")))
             for t in triplets]
    lows = [a for a, _ in times if a is not None]
    highs = [b for _, b in times if b is not None]
    rec["timed"] = bool(lows and highs)
    rec["t0"], rec["t1"] = (min(lows), max(highs)) if rec["timed"] else (None, None)
    if image is not None:
        rec["image"], rec["width"], rec["height"] = _jpeg(image, image_side)
        shape = image.shape[:2]
        for t in triplets:
            fix = ds.load_fixations(t)
            if fix is None:
                continue
            nx, ny = _norm_xy(fix[:, 0], fix[:, 1], shape)
            rec["fixations"] += [[None, None, round(float(x), 4), round(float(y), 4)]
                                 for x, y in zip(nx, ny, strict=True)]
    rec["words"] = _segment_words(triplets)
    return rec


def _segment_words(triplets: Sequence[Any]) -> list[list[Any]]:
    """The segments' texts as the words of a trial without transcript."""
    words = []
    for t in triplets:
        a, b = _num(t.meta.get("segment_start_ms")), _num(t.meta.get("segment_end_ms"))
        if a is not None and b is not None:
            words.append([t.text, a, b])
    return words


def _triplet_segment(t: Any, ds: Any, image: Any, map_side: int, run: Any) -> dict[str, Any]:
    human = None
    if image is not None and Path(t.human_map_path).is_file():
        human = heat_png(image, ds.load_map(t), side=map_side)
    seg = {"text": t.text, "triplet_id": t.triplet_id,
           "start": _num(t.meta.get("segment_start_ms")), "end": _num(t.meta.get("segment_end_ms")),
           "window_start": _num(t.meta.get("window_start_ms")),
           "window_end": _num(t.meta.get("window_end_ms")),
           "human_map": human, "models": []}
    if seg["start"] is None or seg["end"] is None:
        seg["start"] = seg["end"] = None
    if seg["window_start"] is None or seg["window_end"] is None:
        seg["window_start"] = seg["window_end"] = None
    if run is not None:
        seg["models"] = [_model_entry(run, t, m, image, map_side) for m in run.models]
    return seg


def _unique_ids(trials: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for rec in trials:
        n = seen.get(rec["id"], 0)
        seen[rec["id"]] = n + 1
        if n:
            rec["id"] = f"{rec['id']}-{n + 1}"


# --------------------------------------------------------------------- runs


class _RunView:
    """What the viewer needs of a run: the dataset, the models, the scores and the
    maps, through the scoring package's public ``Run``."""

    def __init__(self, path: Path) -> None:
        from ..scoring import Run

        self.run = Run(path)
        self.dataset = self.run.dataset
        self.models: list[str] = list(self.run.models)
        self.metrics: list[str] = list(self.run.metrics)
        self.scores = _scores_dict(self.run.scores)

    def triplets(self) -> list[Any]:
        ids = {tid for tid, _ in self.scores}
        return [t for t in self.dataset.triplets if t.triplet_id in ids]


def _scores_dict(scores: Any) -> dict[tuple[str, str], dict[str, float]]:
    """``{(triplet_id, model): {metric: value}}`` from the run's scores (a dict, or a
    long DataFrame with triplet_id, model, metric and value columns)."""
    if isinstance(scores, dict):
        return {k: dict(v) for k, v in scores.items()}
    out: dict[tuple[str, str], dict[str, float]] = {}
    for row in scores.itertuples(index=False):
        out.setdefault((str(row.triplet_id), str(row.model)), {})[str(row.metric)] = float(row.value)
    return out


def _model_entry(run: _RunView, t: Any, model: str, image: Any, map_side: int) -> dict[str, Any]:
    scores = run.scores.get((t.triplet_id, model), {})
    values = None
    if image is not None:
        try:
            values = run.run.model_map(t, model)
        except (OSError, ValueError):
            values = None
    return {"name": model,
            "map": None if values is None else heat_png(image, values, side=map_side),
            "scores": {m: (None if m not in scores or not np.isfinite(scores[m])
                           else float(scores[m])) for m in run.metrics}}


# --------------------------------------------------------------------- the page


def view_data(
    source: str | os.PathLike[str], *, lead_ms: float | None = None, lag_ms: float | None = None,
    sigma_deg: float = 1.0, segmenter: str = "phrase", image_side: int = DEFAULT_IMAGE_SIDE,
    map_side: int = DEFAULT_MAP_SIDE, embed_audio: bool = True, eye: str | None = None,
    areas: str | os.PathLike[str] | None = None, ias_space: str = "screen",
) -> dict[str, Any]:
    """What the viewer page shows, as a JSON-ready dict.

    Parameters
    ----------
    source : path
        A session folder (``session.json``), a dataset folder (``triplets.jsonl``) or a
        score run folder (``summary.json``).
    lead_ms, lag_ms : float, optional
        A session's alignment window around each segment (defaults of ``vista maps``:
        1500 and 0 ms). A dataset or run shows the windows its maps were made with.
    sigma_deg : float
        KDE bandwidth of a session's human maps, degrees.
    segmenter : str
        How a session's transcripts are split into segments.
    image_side, map_side : int
        Longest side, pixels, of the embedded images and maps.
    embed_audio : bool
        Embed a session's audio in the page (else link the WAV files by path).
    eye : {"L", "R"} or None
        Which eye's fixations; None: the right eye where both were recorded.
    areas : "messages", "scene" or path, optional
        Interest areas outlined on the images (see
        :func:`vista.gaze.areas.trial_areas`): the recording's ``!V IAREA`` messages,
        the scene files, an ``.ias`` file or folder, or a region CSV. Default: none.
    ias_space : {"screen", "image"}
        Coordinates of the ``.ias`` files.

    Returns
    -------
    dict
        ``{"title", "kind", "map_width", "trials": [...]}``; each trial has ``id``,
        ``label``, ``image`` (data URI), ``width``, ``height``, ``timed``, ``t0``, ``t1``
        (tracker clock; the timeline's span), ``onset`` (the trial's start, image
        onset), ``fixations`` (``[start, end, x, y]``, x and y as fractions of
        the image), ``words`` (``[text, start, end]``), ``segments`` (text, times,
        window, human map, models) and ``audio``.
    """
    from ..gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS

    check_int("image_side", image_side, minimum=16)
    check_int("map_side", map_side, minimum=16)
    check_positive("sigma_deg", sigma_deg)
    lead = DEFAULT_LEAD_MS if lead_ms is None else check_positive("lead_ms", lead_ms, allow_zero=True)
    lag = DEFAULT_LAG_MS if lag_ms is None else check_positive("lag_ms", lag_ms, allow_zero=True)
    p = Path(source)
    kind = source_kind(p)
    if kind == "session":
        trials = _session_trials(p, lead_ms=lead, lag_ms=lag, sigma_deg=sigma_deg,
                                 segmenter=segmenter, image_side=image_side, map_side=map_side,
                                 embed_audio=embed_audio, eye=eye)
    elif kind == "dataset":
        from ..dataset import read_dataset

        trials = _dataset_trials(read_dataset(p), image_side=image_side, map_side=map_side,
                                 embed_audio=embed_audio, eye=eye)
    else:
        run = _RunView(p)
        ds = run.dataset
        view_ds = type(ds)(root=ds.root, triplets=run.triplets(), info=ds.info)
        trials = _dataset_trials(view_ds, image_side=image_side, map_side=map_side,
                                 embed_audio=embed_audio, eye=eye, run=run)
    for rec in trials:
        if areas is not None:
            rec["areas"] = _area_shapes(rec, areas, ias_space)
        for private in ("_image", "_trial", "_base"):
            rec.pop(private, None)
        _cover_windows(rec)
    return {"title": f"vista view · {kind} {p.resolve().name}", "kind": kind,
            "map_width": map_side, "trials": trials}


def _area_shapes(rec: dict[str, Any], areas: str | os.PathLike[str],
                 ias_space: str) -> list[dict[str, Any]]:
    """The trial's interest areas as outlines in fractions of the image (a trial
    whose image or trial record is unknown has none)."""
    from ..gaze.areas import trial_areas
    from ..gaze.geometry import screen_to_image_xy

    trial, image = rec.get("_trial"), rec.get("_image")
    if trial is None or image is None:
        return []
    found = trial_areas(trial, ias=None if str(areas) == "messages" else areas,
                        ias_space=ias_space, base_dir=rec.get("_base"))
    shape = image.shape[:2]
    out = []
    for a in found:
        u, v = screen_to_image_xy([p[0] for p in a.points], [p[1] for p in a.points],
                                  trial.placement, shape)
        fx, fy = _norm_xy(u, v, shape)
        out.append({"label": a.label, "shape": a.shape, "start": a.start_ms, "end": a.end_ms,
                    "points": [[round(float(x), 4), round(float(y), 4)]
                               for x, y in zip(fx, fy, strict=True)]})
    return out


def _cover_windows(rec: dict[str, Any]) -> None:
    """Widen a trial's timeline to hold its segments' windows (a lead can start
    before the image appeared)."""
    rec["onset"] = rec["t0"]
    if not rec["timed"]:
        return
    starts = [s["window_start"] for s in rec["segments"] if s["window_start"] is not None]
    ends = [s["window_end"] for s in rec["segments"] if s["window_end"] is not None]
    rec["t0"] = min([rec["t0"], *starts])
    rec["t1"] = max([rec["t1"], *ends])


def render_view(data: dict[str, Any]) -> str:
    """The HTML page for :func:`view_data`'s dict (one string, no outside resources).

    Examples
    --------
    >>> page = render_view({"title": "empty", "kind": "dataset", "map_width": 180,
    ...                     "trials": []})
    >>> page.startswith("<!doctype html>"), "<title>empty</title>" in page
    (True, True)
    """
    from ._page import BODY, CSS, SCRIPT

    payload = json.dumps(data, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(str(data.get('title', 'vista view')))}</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n{BODY}\n"
            f"<script id=\"vista-data\" type=\"application/json\">{payload}</script>\n"
            f"<script>{SCRIPT}</script>\n</body>\n</html>\n")


def write_view(source: str | os.PathLike[str], out: str | os.PathLike[str], *,
               overwrite: bool = False, **options: Any) -> dict[str, Any]:
    """Write the viewer page of ``source`` to ``out`` (refusing an existing file
    unless ``overwrite``); ``options`` go to :func:`view_data`.

    Returns
    -------
    dict
        ``{"path", "kind", "trials", "segments", "bytes"}``.
    """
    target = Path(out)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another --out (nothing is overwritten)")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder {target.parent} of --out does not exist")
    data = view_data(source, **options)
    page = render_view(data).encode("utf-8")
    write_atomic(target, page)
    return {"path": str(target), "kind": data["kind"], "trials": len(data["trials"]),
            "segments": sum(len(t["segments"]) for t in data["trials"]), "bytes": len(page)}
