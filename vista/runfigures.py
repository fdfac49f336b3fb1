"""The figures of a scoring run (``vista figure``): planned, drawn in worker
processes and written into a folder that the command claims.

File names come from ids through :func:`vista._io.safe_name` (injective, one path
component), so a triplet id or image path can neither leave the folder nor give two
figures one name. A folder given with ``out`` is written only when it is new, empty or
a figure folder of the same run (it holds :data:`MARKER`); there, only files the
marker lists are replaced.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import FolderLock, read_json, safe_name, write_atomic, write_json_atomic
from .errors import ParseError
from .viz import (
    DEFAULT_DPI,
    _check_alpha,
    _check_cmap,
    encode_formats,
    figure_dpi,
    image_panel,
    leaderboard,
    triplet_figure,
)

__all__ = ["MARKER", "FigureTask", "image_groups", "render", "run_rows", "save_run_figures"]

MARKER = ".vista-figures.json"
"""The file that makes a folder a figure folder: the run it belongs to and every
figure file vista wrote there."""

MAX_DPI = 600
"""Highest ``dpi`` accepted (a 8×20 inch panel at 600 dpi is already 58 megapixels)."""

MAX_JOBS = 256
"""Most worker processes a call may start."""

IMAGE_PANEL_IN = 2.2
TRIPLET_PANEL_IN = 2.6

_DRAW: dict[str, Callable[..., Any]] = {
    "image": image_panel, "triplet": triplet_figure, "leaderboard": leaderboard}


@dataclass(frozen=True)
class FigureTask:
    """One figure to draw: ``kind`` (``image``, ``triplet`` or ``leaderboard``), the file
    stem, the drawing function's arguments, and how to encode it."""

    kind: str
    name: str
    formats: tuple[str, ...]
    dpi: int
    args: Mapping[str, Any] = field(default_factory=dict)
    palette: bool = False


def draw(task: FigureTask) -> dict[str, bytes]:
    """Draw one task and encode it in each of its formats (runs in a worker)."""
    fig = _DRAW[task.kind](**task.args)
    return encode_formats(fig, task.formats, dpi=task.dpi, palette=task.palette)


def _context() -> Any:
    """fork where it is safe (this process runs one thread: the command line), so the
    workers share the imported matplotlib; else a fork server (a notebook's kernel runs
    threads) or spawn, whose workers import this module first."""
    import multiprocessing as mp
    import threading

    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return mp.get_context("spawn")


def render(tasks: Iterable[FigureTask], *, jobs: int | None = None,
           ) -> Iterator[tuple[FigureTask, dict[str, bytes]]]:
    """``(task, {format: bytes})`` for each task, in order, drawn by ``jobs`` worker
    processes (default: one per CPU; 1 draws in this process). At most two tasks per
    worker are in flight, so memory stays bounded however many figures a run has."""
    workers = min(os.cpu_count() or 1, MAX_JOBS) if jobs is None else int(jobs)
    if not 1 <= workers <= MAX_JOBS:
        raise ValueError(f"jobs must be from 1 to {MAX_JOBS}; got {jobs!r}")
    if workers == 1:
        for task in tasks:
            yield task, draw(task)
        return
    from concurrent.futures import Future, ProcessPoolExecutor

    pending: collections.deque[tuple[FigureTask, Future[dict[str, bytes]]]] = collections.deque()
    with ProcessPoolExecutor(workers, mp_context=_context()) as pool:
        for task in tasks:
            pending.append((task, pool.submit(draw, task)))
            if len(pending) >= 2 * workers:
                done, fut = pending.popleft()
                yield done, fut.result()
        while pending:
            done, fut = pending.popleft()
            yield done, fut.result()


def image_groups(run: Any) -> list[tuple[str, list[Any]]]:
    """The run's scored triplets grouped by image, each with its figure label: the
    image file's stem when every image of the run has its own stem, else each
    image's path under the dataset folder (or its absolute path outside it)."""
    by_image: dict[str, list[Any]] = {}
    for t in run.scored_triplets():
        by_image.setdefault(os.path.realpath(t.image_path), []).append(t)
    stems = [Path(p).stem for p in by_image]
    if len(set(stems)) == len(stems):
        return [(stem, group) for stem, group in zip(stems, by_image.values(), strict=True)]
    root = Path(run.dataset.root).resolve()
    out = []
    for p, group in by_image.items():
        path = Path(p)
        label = path.relative_to(root).as_posix() if root in path.parents else path.as_posix()
        out.append((label, group))
    return out


def run_rows(run: Any, triplets: Sequence[Any], models: Sequence[str], *,
             metrics: Sequence[str] = ("ncc", "auc_borji")) -> list[dict[str, Any]]:
    """The rows of :func:`vista.viz.image_panel` for ``triplets``: text, human map, each
    model's map (float32) and its scores for ``metrics``."""
    rows = []
    for t in triplets:
        maps = {m: run.model_map(t, m) for m in models}
        rows.append({
            "text": t.text,
            "human": run.dataset.load_map(t),
            "maps": {m: None if v is None else np.asarray(v, dtype=np.float32)
                     for m, v in maps.items()},
            "scores": {m: {k: v for k, v in run.scores.get((t.triplet_id, m), {}).items()
                           if k in metrics} for m in models},
        })
    return rows


@dataclass(frozen=True)
class _Plan:
    """What a call will draw, by file stem, before any map is loaded."""

    leaderboards: list[str]
    images: list[tuple[str, list[Any]]]
    triplets: list[Any]

    def stems(self) -> list[str]:
        return ([f"leaderboard-{safe_name(m)}" for m in self.leaderboards]
                + [f"image-{safe_name(label)}" for label, _ in self.images]
                + [f"triplet-{safe_name(t.triplet_id)}" for t in self.triplets])


def _check_options(run: Any, *, models: Sequence[str] | None, triplets: Sequence[str] | None,
                   cmap: str, alpha: float, formats: Sequence[str], dpi: int,
                   jobs: int | None) -> list[str]:
    """Every option checked against the run before any file is touched; the models."""
    _check_cmap(cmap)
    _check_alpha(alpha)
    for f in formats:
        if f not in ("png", "pdf", "svg"):
            raise ValueError(f"formats must hold 'png', 'pdf' or 'svg'; got {f!r}")
    if not formats:
        raise ValueError("formats must name at least one format")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 30 <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be a whole number from 30 to {MAX_DPI}; got {dpi!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int)
                             or not 1 <= jobs <= MAX_JOBS):
        raise ValueError(f"jobs must be a whole number from 1 to {MAX_JOBS}; got {jobs!r}")
    chosen = list(models) if models else run.models
    for m in chosen:
        if m not in run.models:
            raise ValueError(f"models must be among the run's models {run.models}; got {m!r}")
    ids = {t.triplet_id for t in run.dataset}
    for tid in triplets or ():
        if tid not in ids:
            raise ValueError(f"triplets: no triplet {tid!r} in the run's dataset "
                             f"{run.dataset.root}")
    return chosen


def _claim(folder: Path, run_root: Path, *, default: bool) -> tuple[FolderLock, set[str]]:
    """Claim ``folder`` for this run's figures; return the lock and the files an
    earlier call listed there (replaceable). Refuses a file, a non-empty folder that
    is not a figure folder, and the figure folder of another run."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder; choose another --out")
    marker = folder / MARKER
    listed: set[str] = set()
    if marker.exists():
        info = read_json(marker, expect=dict, what="figure folder marker")
        # RUN/figures is the run's own, wherever the run folder has moved since
        if info.get("run") != str(run_root) and not default:
            raise FileExistsError(f"{folder} holds the figures of another run "
                                  f"({info.get('run')}); choose another --out")
        files = info.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise ParseError("'files' must be a list of file names", path=marker)
        listed = set(files)
    elif folder.is_dir() and any(folder.iterdir()) and not default:
        raise FileExistsError(f"{folder} is not empty and is not a vista figure folder (it "
                              f"has no {MARKER}); choose a new or empty --out folder")
    folder.mkdir(parents=True, exist_ok=True)
    return FolderLock(folder, command="vista figure"), listed


def _write_marker(folder: Path, run_root: Path, names: Iterable[str]) -> None:
    from . import __version__

    write_json_atomic(folder / MARKER, {
        "format": "vista-figures", "version": 1, "run": str(run_root),
        "vista_version": __version__, "files": sorted(set(names))})


def _tasks(run: Any, plan: _Plan, chosen: Sequence[str], *, cmap: str, alpha: float,
           formats: tuple[str, ...], dpi: int) -> Iterator[FigureTask]:
    """The figures of ``plan`` with their data, loaded one figure at a time."""
    style = {"cmap": cmap, "alpha": alpha}
    for metric in plan.leaderboards:
        yield FigureTask("leaderboard", f"leaderboard-{safe_name(metric)}", formats, dpi,
                         {"summary": run.summary, "metric": metric})
    for label, group in plan.images:
        image = run.dataset.load_image(group[0])
        yield FigureTask("image", f"image-{safe_name(label)}", formats,
                         figure_dpi(image.shape[1], IMAGE_PANEL_IN, dpi=dpi),
                         {"image": image, "rows": run_rows(run, group, chosen), "title": label,
                          "panel_size": IMAGE_PANEL_IN, **style})
    for t in plan.triplets:
        row = run_rows(run, [t], chosen)[0]
        image = run.dataset.load_image(t)
        yield FigureTask("triplet", f"triplet-{safe_name(t.triplet_id)}", formats,
                         figure_dpi(image.shape[1], TRIPLET_PANEL_IN, dpi=dpi),
                         {"image": image, "human": row["human"], "model_maps": row["maps"],
                          "text": t.text, "scores": row["scores"],
                          "panel_size": TRIPLET_PANEL_IN, **style})


def save_run_figures(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    triplets: Sequence[str] | None = (),
    images: bool = True,
    leaderboards: bool = True,
    models: Sequence[str] | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    formats: Sequence[str] = ("png", "pdf"),
    dpi: int = DEFAULT_DPI,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Draw a scoring run's figures into ``out`` (default ``RUN_DIR/figures``).

    Parameters
    ----------
    run_dir : path
        A finished ``vista score`` output folder.
    out : path, optional
        Figure folder: new, empty, or one this function wrote for the same run (it
        holds :data:`MARKER`), where the figures it listed are redrawn. Default
        ``RUN_DIR/figures``, the run's own, where figures are always redrawn.
    triplets : sequence of str or None, optional
        Triplet ids drawn one figure each (``triplet-ID``); None draws every scored
        triplet; empty (default) none.
    images : bool, optional
        Draw one panel per image (``image-NAME``), one row per segment (default True).
    leaderboards : bool, optional
        Draw one bar chart per metric (``leaderboard-METRIC``) (default True).
    models : sequence of str, optional
        Models drawn in the map figures (default: all of the run's).
    cmap, alpha
        See :func:`vista.viz.overlay`.
    formats : sequence of str, optional
        File formats (default png and pdf).
    dpi : int, optional
        Highest raster resolution, 30 to 600 (default 300, for print). Figures that
        show an image use one dot per image pixel up to it (:func:`vista.viz.figure_dpi`).
    jobs : int, optional
        Worker processes drawing figures (default: one per CPU; 1: none).
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of figures (each in all its
        formats), before the first and after each.

    Returns
    -------
    list of Path
        The files written. ``ID`` and ``NAME`` in their names are encoded with
        :func:`vista._io.safe_name`.

    Raises
    ------
    ValueError
        A bad option, or a model or triplet the run does not have (before any file
        is written).
    FileExistsError
        ``out`` is a file, a non-empty folder that is not a figure folder, the figure
        folder of another run, or holds a file this call would write that no earlier
        call wrote.
    vista.errors.FolderBusyError
        Another process is writing figures into the folder.
    """
    from .scoring import Run

    run = Run(run_dir)
    fmts = tuple(dict.fromkeys(formats))
    chosen = _check_options(run, models=models, triplets=triplets, cmap=cmap, alpha=alpha,
                            formats=fmts, dpi=dpi, jobs=jobs)
    scored = run.scored_triplets()
    plan = _Plan(list(run.metrics) if leaderboards else [],
                 image_groups(run) if images else [],
                 scored if triplets is None else [run.dataset[tid] for tid in triplets])
    default = out is None or Path(out).resolve() == (run.root / "figures").resolve()
    folder = run.root / "figures" if out is None else Path(out)
    names = [f"{stem}.{fmt}" for stem in plan.stems() for fmt in fmts]
    lock, listed = _claim(folder, run.root.resolve(), default=default)
    written: list[Path] = []
    try:
        clash = [n for n in names if n not in listed and (folder / n).exists()]
        if clash and not default:
            raise FileExistsError(f"{folder / clash[0]} exists and was not written by vista "
                                  "figure; move it away or choose another --out")
        _write_marker(folder, run.root.resolve(), listed | set(names))
        tasks = _tasks(run, plan, chosen, cmap=cmap, alpha=alpha, formats=fmts, dpi=dpi)
        total = len(plan.stems())
        if progress is not None:
            progress(0, total)
        for i, (task, files) in enumerate(render(tasks, jobs=jobs), start=1):
            for fmt, data in files.items():
                write_atomic(folder / f"{task.name}.{fmt}", data)
                written.append(folder / f"{task.name}.{fmt}")
            if progress is not None:
                progress(i, total)
    finally:
        lock.release()
    return written
