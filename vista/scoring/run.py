"""Score models against a dataset of human maps: per-triplet scores, then a summary
with bootstrap intervals, in the layout of VISTA's Table 1.

:func:`score` is the one entry point (``vista score`` is a thin wrapper): plan (options,
dataset, rows, all checked before a file is written), score rows (one task per image
and row, run by an executor; the run folder journals each row), summarise. See
:mod:`vista.scoring.runfolder` for the run folder's layout.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..metrics import get_metric
from .controls import with_controls
from .executor import ImageResult, ImageTask, make_executor, parse_executor
from .plan import Plan, check_options, fixation_pool, make_plan, resolve_rows
from .results import ScoreResult
from .runfolder import MapCache, RunFolder, file_sha256, iter_groups, map_cache_key
from .sources import jsonable
from .stats_summary import choose_resample, cluster_labels, holm_comparisons, statistics
from .summary import summarise, write_outputs

__all__ = ["score"]

Row = dict[str, Any]
Progress = Callable[[int, int], None]

RNG_RECIPE = ("numpy default_rng([seed, hash(triplet id), hash(metric name)]) per triplet "
              "and metric, hash = the first 8 bytes of sha256(UTF-8 text) as a little-endian "
              "integer; bootstrap default_rng([seed, 1|2|3]) for interval|paper|paired")


def score(
    dataset: Any,
    models: Sequence[Any],
    *,
    metrics: Iterable[str] = (),
    out: str | os.PathLike[str] | None = None,
    rng: np.random.Generator | int | None = 0,
    n_boot: int = 1000,
    paper: bool = False,
    interval: str = "percentile",
    confidence: float = 0.95,
    cache: bool = True,
    skip_bad: bool = False,
    weights: str | Mapping[str, str] | None = None,
    device: str | None = None,
    precision: str = "fp32",
    executor: Any = "serial",
    progress: Progress | None = None,
    resample: str | None = None,
    control: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ScoreResult:
    """Score models against a dataset's human maps.

    Parameters
    ----------
    dataset : Dataset or path
        A dataset folder (see :mod:`vista.dataset`) or a dataset already read.
    models : sequence
        Rows: ``NAME[:RECIPE][/METHOD]`` of an explainer (``"blip-itm-base"``,
        ``"clip/legrad"``), ``"center"``, ``"uniform"``, ``"observers"``,
        ``"external:DIR"`` (see :func:`vista.scoring.sources.resolve_source`), or source
        objects (:class:`vista.scoring.sources.MapSource`). The first model is the
        reference of the paired comparisons.
    metrics : iterable of str, optional
        Metrics computed in addition to :data:`DEFAULT_METRICS` (``ncc``, ``auc_borji``).
    out : path, optional
        Run folder (see :mod:`vista.scoring.runfolder`). None keeps everything in memory
        (and caches nothing).
    rng : int, Generator or None, optional
        Seed in [0, 2**63 - 1] (default 0). Each triplet's random draws (AUC sampling)
        come from a generator seeded by (seed, triplet id, metric), so every model is
        scored on the same draws, and a resumed run gives the numbers of an
        uninterrupted one. A Generator or None is turned into a recorded integer seed.
    n_boot : int, optional
        Bootstrap resamples for the intervals and paired differences, in [2, 100000]
        (default 1000), and at most 250 million resample indices (n_boot × triplets).
    paper : bool, optional
        Also compute the five paper-mode bootstrap values (VISTA's Table 1 brackets).
    interval : {"percentile", "bca"}, optional
        Bootstrap interval type (default percentile).
    confidence : float, optional
        Interval coverage in (0, 1) (default 0.95).
    cache : bool, optional
        Read and write cached model maps under ``OUT/maps/MODEL/`` (default True).
    skip_bad : bool, optional
        Leave out (and list) triplets that cannot be scored instead of raising.
    weights : str or mapping, optional
        Weights folder (or Hugging Face id) of the one explainer row, or ``{row: weights}``.
    device : str, optional
        Torch device of the explainer rows.
    precision : {"fp32", "bf16", "fp16"}, optional
        Autocast precision of the explainer rows (:mod:`vista.explain.precision`),
        recorded in their maps' params and so in the map-cache key.
    executor : str, optional
        ``"serial"`` (default), ``"processes:N"`` or ``"dask:ADDRESS"`` (a scheduler
        address or scheduler file; needs the ``cluster`` extra), or a
        ``distributed.Client``. Results are the same whichever runs them.
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of (triplet, model) pairs.
    resample : {"triplet", "image", "participant"}, optional
        What the bootstrap resamples (see :func:`vista.scoring.stats_summary.choose_resample`):
        default ``"image"`` when an image has several triplets, ``"triplet"`` otherwise
        and in paper mode. Recorded in the summary and printed under the table.
    control : {"other-text"}, optional
        Add, for every model row, its map for another segment's text
        (:class:`vista.scoring.controls.OtherText`), and the text-specificity of each
        model (true text minus other text) to the summary.
    cache_dir : path, optional
        Folder whose ``maps/MODEL/`` caches the model maps, shared by several runs (a
        sweep); default the run folder. Ignored with ``cache=False``.

    Returns
    -------
    ScoreResult

    Raises
    ------
    DatasetError
        If triplets cannot be scored (each named with its reason) and not ``skip_bad``,
        or a row can score none of them.
    FileExistsError
        If ``out`` holds a run with another configuration, or other files.
    FolderBusyError
        If another process is writing into ``out``.
    FileNotFoundError
        If ``external:DIR`` lacks maps for some triplets (listed) and not ``skip_bad``.

    Examples
    --------
    >>> from vista.scoring import demo_dataset_path
    >>> result = score(demo_dataset_path(), ["center", "uniform"], n_boot=100)
    >>> len(result.rows), result.rows[0]["model"], result.mean("uniform", "auc_borji")
    (48, 'center', 0.5)
    >>> print(result.table())  # doctest: +ELLIPSIS
    SYNTHETIC dataset: ...
    model    n   NCC                   AUC-Borji...
    center   24  0.167 [...
    """
    options = check_options(metrics=metrics, rng=rng, n_boot=n_boot, paper=paper,
                            interval=interval, confidence=confidence, resample=resample,
                            control=control)
    parse_executor(executor)
    sources = with_controls(resolve_rows(models, weights=weights, device=device,
                                         precision=precision), control,
                            seed=options.seed)
    pool = make_executor(executor)
    try:
        plan = make_plan(dataset, sources, options, skip_bad=skip_bad, executor=pool)
        folder = RunFolder(out, plan.config()) if out is not None else None
        with folder if folder is not None else nullcontext():
            done = dict(folder.rows) if folder is not None else {}
            cache_root = (Path(cache_dir) if cache_dir is not None else
                          folder.root if folder is not None else None) if cache else None
            rows, n_resized = score_rows(plan, done, folder, MapCache(cache_root), pool,
                                         progress)
    finally:
        pool.close()
    summary = summarise_run(plan, rows, n_resized)
    if folder is not None:
        write_outputs(folder.root, rows, options.metrics, summary)
    return ScoreResult(rows=[{k: v for k, v in r.items() if k != "warnings"} for r in rows],
                       summary=summary, out=folder.root if folder else None,
                       models=plan.names, metrics=options.metrics)


@dataclass
class _Todo:
    """The rows still to score, and the progress counts."""

    done: dict[tuple[str, str], Row]
    metrics: list[str]
    total: int = 0
    n_done: int = 0

    def complete(self, tid: str, model: str) -> bool:
        row = self.done.get((tid, model))
        return row is not None and all(m in row for m in self.metrics)


def _tasks(plan: Plan, todo: _Todo, cache: MapCache) -> Iterator[ImageTask]:
    """One task per image and row with pending triplets (cached maps included)."""
    pool = fixation_pool(plan)
    needs_fix = any(get_metric(m).needs != "density" for m in plan.options.metrics)
    for image_path, group in iter_groups(plan.good):
        others = [f for img, f in pool.values() if img != image_path]
        h, w = plan.sizes[group[0].triplet_id]
        other_fixations = np.concatenate(others) * np.array([w, h, 1.0]) if others else None
        for s in plan.sources:
            pending = [t for t in group if not todo.complete(t.triplet_id, s.name)
                       and t.triplet_id not in plan.skips[s.name]]
            if not pending:
                continue
            cached = _cached_maps(plan, s, pending, cache)
            wanted = [[m for m in plan.options.metrics
                       if m not in todo.done.get((t.triplet_id, s.name), {})] for t in pending]
            yield ImageTask(
                source=s, image_path=image_path, triplets=pending, cached=cached,
                humans=[plan.dataset.load_map(t) for t in pending],
                fixations=[plan.dataset.load_fixations(t) if needs_fix else None
                           for t in pending],
                wanted=wanted, seed=plan.options.seed, other_fixations=other_fixations)


def _cached_maps(plan: Plan, source: Any, pending: list[Any], cache: MapCache
                 ) -> list[np.ndarray | None]:
    if not getattr(source, "cacheable", False) or cache.root is None:
        return [None] * len(pending)
    sha = _image_sha(plan, pending[0].image_path)
    params = plan.params[source.name]
    return [cache.load(source.name, map_cache_key(sha, t.text, params)) for t in pending]


def _image_sha(plan: Plan, path: str) -> str:
    if path not in plan.hashes:
        plan.hashes[path] = file_sha256(path)
    return plan.hashes[path]


def _keep(plan: Plan, result: ImageResult, cache: MapCache) -> None:
    """Write the maps a task computed into the cache (the client owns the folder)."""
    s, task = result.task.source, result.task
    if not getattr(s, "cacheable", False) or cache.root is None:
        return
    sha = _image_sha(plan, task.image_path)
    params = plan.params[s.name]
    for i, (values, map_params) in result.new_maps.items():
        t = task.triplets[i]
        meta = {"triplet_id": t.triplet_id, "text": t.text, "image_sha256": sha,
                "model": params, "params": jsonable(map_params)}
        cache.save(s.name, map_cache_key(sha, t.text, params), values, meta)


def _merged(old: Row, row: Row) -> Row:
    """A run extended with metrics keeps the old values as they are."""
    if not old:
        return row
    warned = {**old.get("warnings", {}), **row.get("warnings", {})}
    return {**old, **row, **({"warnings": warned} if warned else {})}


def score_rows(plan: Plan, done: dict[tuple[str, str], Row], folder: RunFolder | None,
               cache: MapCache, executor: Any, progress: Progress | None
               ) -> tuple[list[Row], dict[str, int]]:
    """Score every pending (triplet, row); returns all rows in dataset and model order,
    and per row the number of maps resized onto the image grid in this run."""
    todo = _Todo(dict(done), plan.options.metrics)
    good_ids = {t.triplet_id for t in plan.good}
    todo.total = sum(1 for t in plan.good for s in plan.sources
                     if t.triplet_id not in plan.skips[s.name])
    todo.n_done = min(sum(1 for (tid, m) in todo.done
                          if tid in good_ids and todo.complete(tid, m)), todo.total)
    if progress is not None:
        progress(todo.n_done, todo.total)
    n_resized = {name: 0 for name in plan.names}
    for result in executor.map(_tasks(plan, todo, cache)):
        _keep(plan, result, cache)
        n_resized[result.task.source.name] += sum(
            1 for _, p in result.new_maps.values() if "resized_from" in p)
        rows = [_merged(todo.done.get((r["triplet_id"], r["model"]), {}), r)
                for r in result.rows]
        if folder is not None:
            folder.append(rows)
        for row in rows:
            todo.done[(row["triplet_id"], row["model"])] = row
        todo.n_done += len(rows)
        if progress is not None:
            progress(todo.n_done, todo.total)
    order = {t.triplet_id: i for i, t in enumerate(plan.good)}
    names = plan.names
    rows = sorted((r for k, r in todo.done.items() if k[0] in order and k[1] in names),
                  key=lambda r: (order[r["triplet_id"]], names.index(r["model"])))
    return rows, n_resized


def summarise_run(plan: Plan, rows: Sequence[Row], n_resized: Mapping[str, int]
                  ) -> dict[str, Any]:
    """``summary.json``: results, comparisons, skipped triplets, provenance."""
    o, ds = plan.options, plan.dataset
    unit, why = choose_resample(plan.good, requested=o.resample, paper=o.paper)
    clusters = cluster_labels(plan.good, unit)
    results, comparisons, warn = summarise(
        rows, plan.names, o.metrics, seed=o.seed, n_boot=o.n_boot, paper=o.paper,
        interval=o.interval, confidence=o.confidence, clusters=clusters)
    comparisons = holm_comparisons(comparisons)
    models = {}
    for name in plan.names:
        models[name] = dict(plan.params[name])
        if models[name].get("kind") == "external":
            models[name]["n_resized"] = int(n_resized.get(name, 0))
    root = Path(ds.root).resolve()
    ids = {t.triplet_id for t in ds}
    summary = {
        "format": "vista-score-summary",
        "version": 1,
        "vista_version": __version__,
        "dataset": {"path": str(root), "name": str(ds.info.get("name", root.name)),
                    "synthetic": ds.synthetic, "provenance": ds.info.get("provenance", {}),
                    "fingerprint": plan.fingerprint,
                    "n_triplets": len(ds) + sum(1 for k in plan.bad if k not in ids),
                    "n_scored": len(plan.good)},
        "models": models,
        "metrics": plan.metric_info(),
        "seed": o.seed,
        "rng": RNG_RECIPE,
        "bootstrap": {"n_boot": o.n_boot, "interval": o.interval, "confidence": o.confidence,
                      "paper": o.paper, "resampling": f"{unit}s, with replacement",
                      "resample": unit, "resample_reason": why},
        "results": results,
        "comparisons": comparisons,
        **statistics(rows, plan, results, comparisons, clusters),
        "skipped": {"bad": plan.bad, "per_model": {k: v for k, v in plan.skips.items() if v}},
        "warnings": warn,
    }
    return dict(jsonable(summary))
