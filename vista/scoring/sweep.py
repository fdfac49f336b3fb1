"""``vista sweep``: the score table across a grid of the choices the paper leaves unstated.

Human-side keys (``sigma_deg``, ``lead_ms``, ``lag_ms``, ``segmenter``) rebuild the human
maps from session folders; model-side keys (``MODEL.recipe``, ``MODEL.block``,
``MODEL.postprocess`` and any other option of a recipe, ``MODEL`` a ``--model`` row) change
an explainer's maps. Plan -> work -> summarise:

* :func:`parse_grid` checks every key and value before anything is written;
* :func:`run_sweep` builds the human maps once per human-side point
  (``OUT/human/POINT/``, a dataset folder), and scores every grid point into its own run
  folder (``OUT/runs/POINT/``) with one model-map cache shared by all of them
  (``OUT/maps/``), so a model map is computed once per model-side point, image and text;
  a rerun resumes, and adding a point costs only what is new. Each model-side point's
  explainers are loaded once, before anything is written (a bad option stops the sweep
  there), and kept for the points that share it;
* :mod:`vista.scoring.sweep_report` turns the runs into the summary (values, ranges,
  ranks, Kendall's W, pair stability), ``sweep.json``, ``sweep.md`` and the figures.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import FolderLock, read_json, safe_name, write_json_atomic

__all__ = ["HUMAN_KEYS", "Grid", "SweepResult", "parse_grid", "run_sweep"]

HUMAN_KEYS: dict[str, type] = {"sigma_deg": float, "lead_ms": float, "lag_ms": float,
                               "segmenter": str}
"""Grid keys that change the human maps (they need session folders)."""

MARKER = "sweep-config.json"
_MODEL_KEY = re.compile(r"^(?P<row>.+)\.(?P<field>[A-Za-z_][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class Grid:
    """The checked grid: each key with its values, in the order given."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]

    @property
    def human_keys(self) -> tuple[str, ...]:
        return tuple(k for k in self.keys if k in HUMAN_KEYS)

    def points(self) -> list[dict[str, Any]]:
        """Every combination of values, the last key varying fastest."""
        return [dict(zip(self.keys, combo, strict=True))
                for combo in itertools.product(*self.values)]

    def to_dict(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in zip(self.keys, self.values, strict=True)}


def _value(text: str) -> Any:
    t = text.strip()
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_grid(specs: Sequence[str], *, models: Sequence[str], sessions: bool) -> Grid:
    """Check ``--grid KEY=V1,V2,...`` options.

    Raises
    ------
    ValueError
        An empty grid, a malformed or repeated key, a key that is neither a human-side
        key nor ``MODEL.FIELD`` of an explainer row, an empty or non-numeric value where
        a number is needed, or a human-side key without session folders; each message
        names the key and says why.

    Examples
    --------
    >>> g = parse_grid(["sigma_deg=0.5,1", "clip.block=6,7"], models=["clip"], sessions=True)
    >>> g.keys, len(g.points())
    (('sigma_deg', 'clip.block'), 4)
    """
    from .sources import is_explainer_row

    if isinstance(specs, str) or not specs:
        raise ValueError("the grid is empty: give at least one --grid KEY=V1,V2,...")
    keys: list[str] = []
    values: list[tuple[Any, ...]] = []
    for spec in specs:
        key, eq, rest = str(spec).partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(f"--grid {spec!r}: expected KEY=V1,V2,...")
        if key in keys:
            raise ValueError(f"--grid {key}: given twice; list all its values in one --grid")
        raw = [v for v in (s.strip() for s in rest.split(",")) if v]
        if not raw:
            raise ValueError(f"--grid {key}: no values after '='")
        if key in HUMAN_KEYS:
            if not sessions:
                raise ValueError(f"--grid {key}: a human-side key rebuilds the human maps, "
                                 "which needs --sessions (a --data dataset's maps are built)")
            vals = tuple(_typed(key, v) for v in raw)
        else:
            m = _MODEL_KEY.match(key)
            if m is None or m["row"] not in models or not is_explainer_row(m["row"]):
                rows = [r for r in models if is_explainer_row(r)]
                raise ValueError(
                    f"--grid {key}: unknown key; human-side keys: {', '.join(HUMAN_KEYS)}; "
                    f"model-side keys: MODEL.recipe, MODEL.block, MODEL.postprocess or "
                    f"MODEL.OPTION with MODEL one of the explainer rows "
                    f"({', '.join(rows) or 'none given'})")
            vals = tuple(_value(v) for v in raw)
        if len(set(map(repr, vals))) != len(vals):
            raise ValueError(f"--grid {key}: a value is repeated")
        keys.append(key)
        values.append(vals)
    return Grid(tuple(keys), tuple(values))


def _typed(key: str, text: str) -> Any:
    if HUMAN_KEYS[key] is str:
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--grid {key}: {text!r} is not a number") from None


def point_label(point: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """``key=value,key=value`` for the keys (all by default), in order; ``default``
    for none."""
    ks = list(point) if keys is None else list(keys)
    return ",".join(f"{k}={point[k]:g}" if isinstance(point[k], float) else f"{k}={point[k]}"
                    for k in ks) or "default"


# --------------------------------------------------------------------------- the work


@dataclass
class SweepResult:
    """What a sweep ran: the grid, each point's scores, and the work counts."""

    out: Path
    grid: Grid
    models: list[str]
    metrics: list[str]
    points: list[dict[str, Any]]
    means: list[dict[str, dict[str, float | None]]]  # per point: model -> metric -> mean
    higher_is_better: dict[str, bool]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _config(sessions: Sequence[str] | None, data: str | None, models: Sequence[str],
            weights: Mapping[str, str] | None, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"sessions": [str(Path(s).resolve()) for s in sessions or ()],
            "data": None if data is None else str(Path(data).resolve()),
            "models": list(models), "weights": dict(weights or {}), "options": dict(options)}


def _claim(out: Path, config: Mapping[str, Any]) -> FolderLock:
    """Claim ``out``: new or empty, or a sweep of the same sessions, models and options
    (resumed or extended by grid points)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    lock = FolderLock(out, command="vista sweep")
    try:
        names = {p.name for p in out.iterdir()} - {lock.path.name}
        if names and MARKER not in names:
            raise FileExistsError(f"{out} is not empty and holds no sweep; choose another "
                                  "--out (nothing is overwritten)")
        if MARKER in names:
            old = read_json(out / MARKER, expect=dict, what=MARKER)
            if old != json.loads(json.dumps(config)):
                raise FileExistsError(f"{out} holds a sweep of other sessions, data, models or "
                                      "options; choose another --out (a sweep may only add "
                                      "grid points)")
        else:
            write_json_atomic(out / MARKER, dict(config))
    except BaseException:
        lock.release()
        raise
    return lock


def _human_dataset(out: Path, sessions: Sequence[str], point: Mapping[str, Any],
                   human_keys: Sequence[str], maps_options: Mapping[str, Any]
                   ) -> tuple[Path, int]:
    """The dataset of one human-side point (built now, or found complete) and how many
    maps this call wrote."""
    from ..gaze.maps import build_maps

    folder = out / "human" / safe_name(point_label(point, human_keys))
    info = folder / "dataset.json"
    if info.is_file():
        prov = read_json(info, expect=dict, what="dataset.json").get("provenance") or {}
        if isinstance(prov, dict) and "status" not in prov:
            return folder, 0
    kwargs = {**maps_options, **{k: point[k] for k in human_keys}}
    summary = build_maps(list(sessions), folder, **kwargs)
    return folder, int(summary.n_triplets)


def _check_human_points(grid: Grid, maps_options: Mapping[str, Any]) -> None:
    """Check the ``vista maps`` options of every human-side point (each message names
    the option and the grid point) before anything is written."""
    from ..gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS
    from ..gaze.maps_plan import MapsOptions

    for point in grid.points():
        opts = {**maps_options, **{k: point[k] for k in grid.human_keys}}
        try:
            MapsOptions.check(
                sigma_deg=opts.get("sigma_deg"), sigma_px=opts.get("sigma_px"),
                lead_ms=opts.get("lead_ms", DEFAULT_LEAD_MS),
                lag_ms=opts.get("lag_ms", DEFAULT_LAG_MS),
                segmenter=opts.get("segmenter", "phrase"),
                segmenter_params=opts.get("segmenter_params"), eye=opts.get("eye"),
                free_viewing_text=opts.get("free_viewing_text"), copy_images=True)
        except ValueError as exc:
            raise ValueError(f"--grid point {point_label(point, grid.human_keys)}: {exc}") from None


def _rows(models: Sequence[str], point: Mapping[str, Any], *, weights: Mapping[str, str],
          device: str | None) -> list[Any]:
    """The sources of one grid point: each explainer row with its model-side values."""
    from .sources import ExplainerSource, parse_row, resolve_source

    out = []
    for m in models:
        mine = {k.split(".", 1)[1]: v for k, v in point.items()
                if k not in HUMAN_KEYS and k.split(".", 1)[0] == m}
        if not mine:
            out.append(resolve_source(m, weights=weights.get(m), device=device))
            continue
        row = parse_row(m)
        recipe = mine.pop("recipe", row.recipe)
        out.append(ExplainerSource(row.name, recipe=recipe, method=row.method,
                                   weights=weights.get(m), device=device, **mine))
    return out


def _count_maps(root: Path) -> int:
    return sum(1 for _ in (root / "maps").rglob("*.npy")) if (root / "maps").is_dir() else 0


def run_sweep(
    models: Sequence[str],
    grid: Sequence[str],
    *,
    out: str | os.PathLike[str],
    sessions: Sequence[str | os.PathLike[str]] | None = None,
    data: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] = (),
    seed: int = 0,
    n_boot: int = 1000,
    weights: Mapping[str, str] | None = None,
    device: str | None = None,
    maps_options: Mapping[str, Any] | None = None,
    executor: Any = "serial",
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Score ``models`` at every point of ``grid`` (see the module's description).

    Parameters
    ----------
    models : sequence of str
        Rows, as for :func:`vista.scoring.score`; the first is the reference of each
        run's paired comparisons.
    grid : sequence of str
        ``KEY=V1,V2,...`` (:func:`parse_grid`).
    out : path
        The sweep folder: new or empty, or a sweep of the same inputs (resumed, or
        extended with grid points).
    sessions : sequence of path, optional
        Session folders (``vista maps`` inputs), needed by human-side keys.
    data : path, optional
        A dataset folder, when the grid has only model-side keys.
    metrics, seed, n_boot, weights, device
        As for :func:`vista.scoring.score` (``weights``: ``{row: folder}``).
    maps_options : mapping, optional
        Fixed options of :func:`vista.gaze.maps.build_maps` (``sigma_deg``, ``lead_ms``,
        ... where the grid does not vary them, ``screen_mm``, ``eye``...).
    executor : str, optional
        Where each point's model work runs, as for :func:`vista.scoring.score`:
        ``"serial"`` (default), ``"processes:N"`` or ``"dask:ADDRESS"``. The numbers are
        the same whichever runs them, so it is not part of the sweep's configuration (a
        sweep may be resumed with another).
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of grid points, before the first
        and after each point.

    Returns
    -------
    SweepResult
    """
    import time

    from ..metrics import get_metric
    from .executor import parse_executor
    from .run import score

    if (sessions is None) == (data is None):
        raise ValueError("give either sessions (to build human maps) or data (a dataset "
                         "folder), not both")
    parse_executor(executor)
    g = parse_grid(grid, models=list(models), sessions=sessions is not None)
    weights = dict(weights or {})
    config = _config([str(s) for s in sessions] if sessions else None,
                     None if data is None else str(data), models, weights,
                     {"metrics": list(metrics), "seed": seed, "n_boot": n_boot,
                      "maps": dict(maps_options or {})})
    root = Path(out)
    t0 = time.perf_counter()
    if sessions is not None:
        _check_human_points(g, maps_options or {})
    model_keys = [k for k in g.keys if k not in HUMAN_KEYS]
    sources_at: dict[str, list[Any]] = {}
    for point in g.points():  # every model-side point loaded and checked before any file
        label = point_label(point, model_keys)
        if label not in sources_at:
            sources_at[label] = _rows(models, point, weights=weights, device=device)
            for s in sources_at[label]:
                _ = s.params  # loads an explainer: a bad option fails here
    counts = {"human_maps_built": 0, "human_maps_needed": 0, "model_maps_computed": 0,
              "model_maps_needed": 0, "points": 0}
    means: list[dict[str, dict[str, float | None]]] = []
    points = g.points()
    with _claim(root, config):
        before = _count_maps(root)
        for i, point in enumerate(points):
            if progress is not None:
                progress(i, len(points))
            if sessions is not None:
                ds, built = _human_dataset(root, [str(s) for s in sessions], point,
                                           g.human_keys, maps_options or {})
                counts["human_maps_built"] += built
            else:
                ds = Path(str(data))
            sources = sources_at[point_label(point, model_keys)]
            res = score(ds, sources, metrics=metrics, out=root / "runs" / safe_name(
                point_label(point)), rng=seed, n_boot=n_boot, cache_dir=root,
                executor=executor)
            n = int(res.summary["dataset"]["n_scored"])
            counts["human_maps_needed"] += n if sessions is not None else 0
            counts["model_maps_needed"] += n * sum(
                1 for s in sources if getattr(s, "cacheable", False))
            counts["points"] += 1
            means.append({m: {k: res.summary["results"][s.name][k]["mean"]
                              for k in res.metrics}
                          for m, s in zip(models, sources, strict=True)})
        if progress is not None:
            progress(len(points), len(points))
        counts["model_maps_computed"] = _count_maps(root) - before
        metric_names = list(res.metrics)
    return SweepResult(root, g, list(models), metric_names, points, means,
                       {k: bool(get_metric(k).higher_is_better) for k in metric_names},
                       counts, time.perf_counter() - t0)

