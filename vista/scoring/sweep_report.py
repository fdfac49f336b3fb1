"""What a sweep says: per model and metric the value at every grid point, its range and
where its minimum and maximum lie; the leaderboard rank of every model at every point and
how stable it is (Kendall's W, and the share of points where each pair keeps its order);
``sweep.json``, ``sweep.md`` and the figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_atomic, write_json_atomic
from .sweep import SweepResult, point_label

__all__ = ["analyse", "plot_heatmap", "plot_lines", "plot_ranks", "write_report"]


def _ranks(means: dict[str, float | None], models: Sequence[str], higher: bool) -> list[float]:
    """Rank of each model at one point (1 = best; ties share the average rank; a model
    with no value ranks last)."""
    from scipy.stats import rankdata

    worst = -math.inf if higher else math.inf
    vals = np.array([worst if means[m] is None or not math.isfinite(float(means[m]))  # type: ignore[arg-type]
                     else float(means[m]) for m in models])  # type: ignore[arg-type]
    return [float(r) for r in rankdata(-vals if higher else vals, method="average")]


def analyse(result: SweepResult) -> dict[str, Any]:
    """The sweep's summary (JSON types): ``per_metric[METRIC]`` holds ``values``
    (model -> one value per point), ``range``, ``min``/``max`` (value and point),
    ``ranks`` (model -> one rank per point), ``kendalls_w`` and ``pairs``
    (``"A > B"`` -> share of points where A ranks above B)."""
    from ..metrics.stats import kendalls_w

    labels = [point_label(p) for p in result.points]
    per_metric: dict[str, Any] = {}
    for k in result.metrics:
        higher = result.higher_is_better[k]
        values = {m: [pt[m][k] for pt in result.means] for m in result.models}
        summary: dict[str, Any] = {"higher_is_better": higher, "values": values,
                                   "range": {}, "min": {}, "max": {}}
        for m, vs in values.items():
            finite = [(v, i) for i, v in enumerate(vs) if v is not None and math.isfinite(v)]
            if not finite:
                summary["range"][m] = None
                continue
            lo, hi = min(finite), max(finite)
            summary["range"][m] = hi[0] - lo[0]
            summary["min"][m] = {"value": lo[0], "point": labels[lo[1]]}
            summary["max"][m] = {"value": hi[0], "point": labels[hi[1]]}
        ranks = [_ranks({m: pt[m][k] for m in result.models}, result.models, higher)
                 for pt in result.means]
        summary["ranks"] = {m: [r[i] for r in ranks] for i, m in enumerate(result.models)}
        w = kendalls_w(np.array(ranks)) if len(result.models) > 1 else math.nan
        summary["kendalls_w"] = None if math.isnan(w) else w
        pairs = {}
        for i, a in enumerate(result.models):
            for j, b in enumerate(result.models):
                if i < j:
                    above = sum(1 for r in ranks if r[i] < r[j]) + 0.5 * sum(
                        1 for r in ranks if r[i] == r[j])
                    pairs[f"{a} > {b}"] = above / len(ranks)
        summary["pairs"] = pairs
        per_metric[k] = summary
    c = result.counts
    reuse = {
        "human_maps": _ratio(c.get("human_maps_built", 0), c.get("human_maps_needed", 0)),
        "model_maps": _ratio(c.get("model_maps_computed", 0), c.get("model_maps_needed", 0)),
    }
    return {"format": "vista-sweep", "version": 1, "grid": result.grid.to_dict(),
            "points": labels, "models": result.models, "metrics": result.metrics,
            "per_metric": per_metric, "counts": dict(c), "computed_over_needed": reuse,
            "seconds": result.seconds}


def _ratio(done: int, needed: int) -> float | None:
    return None if needed == 0 else done / needed


def _fmt(v: Any) -> str:
    return "nan" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def markdown(summary: dict[str, Any]) -> str:
    """``sweep.md``: per metric, the value table, the ranks and their stability."""
    lines = [f"# Sweep over {', '.join(summary['grid'])}", ""]
    for k, s in summary["per_metric"].items():
        lines += [f"## {k} ({'higher' if s['higher_is_better'] else 'lower'} is better)", "",
                  "| point | " + " | ".join(summary["models"]) + " |",
                  "|---|" + "---|" * len(summary["models"])]
        for i, label in enumerate(summary["points"]):
            cells = [f"{_fmt(s['values'][m][i])} (#{s['ranks'][m][i]:g})"
                     for m in summary["models"]]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", "| model | range | min at | max at |", "|---|---|---|---|"]
        for m in summary["models"]:
            lo, hi = s["min"].get(m), s["max"].get(m)
            lines.append(f"| {m} | {_fmt(s['range'][m])} | "
                         f"{'' if lo is None else lo['point']} | {'' if hi is None else hi['point']} |")
        w = s["kendalls_w"]
        lines += ["", f"Kendall's W of the ranks across the {len(summary['points'])} points: "
                  f"{_fmt(w)}. Share of points where the first of each pair ranks above the "
                  "second (ties half), and where the pair keeps its more common order:", ""]
        lines += [f"- {pair}: {share:.2f}; order holds at {max(share, 1 - share):.2f}"
                  for pair, share in s["pairs"].items()]
        lines.append("")
    r = summary["computed_over_needed"]
    lines.append(f"Work: {summary['counts']}; computed / needed without the cache: human maps "
                 f"{_fmt(r['human_maps'])}, model maps {_fmt(r['model_maps'])}; "
                 f"{summary['seconds']:.1f} s.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figures


def _figure(**kwargs: Any) -> Any:
    from ..viz import new_figure

    return new_figure(layout="constrained", **kwargs)


def plot_lines(result: SweepResult, metric: str, key: str) -> Any:
    """``metric`` against the values of ``key``, the other keys at their first value;
    one line per model. Returns the Figure."""
    g = result.grid
    first = {k: v[0] for k, v in zip(g.keys, g.values, strict=True)}
    xs = g.values[g.keys.index(key)]
    fig = _figure(figsize=(4.8, 3.4))
    ax = fig.add_subplot()
    for m in result.models:
        ys = []
        for x in xs:
            want = {**first, key: x}
            i = next(i for i, p in enumerate(result.points) if p == want)
            v = result.means[i][m][metric]
            ys.append(math.nan if v is None else v)
        numeric = all(isinstance(x, (int, float)) for x in xs)
        ax.plot(xs if numeric else range(len(xs)), ys, marker="o", label=m)
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    others = point_label({k: v for k, v in first.items() if k != key})
    ax.set_title(f"{metric} over {key}" + ("" if others == "default" else f" ({others})"),
                 fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_heatmap(result: SweepResult, metric: str, model: str, keys: tuple[str, str]) -> Any:
    """``metric`` of ``model`` over two keys (the others at their first value)."""
    g = result.grid
    first = {k: v[0] for k, v in zip(g.keys, g.values, strict=True)}
    ys, xs = g.values[g.keys.index(keys[0])], g.values[g.keys.index(keys[1])]
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, p in enumerate(result.points):
        if all(p[k] == first[k] for k in g.keys if k not in keys):
            v = result.means[i][model][metric]
            grid[ys.index(p[keys[0]]), xs.index(p[keys[1]])] = np.nan if v is None else v
    fig = _figure(figsize=(4.6, 3.6))
    ax = fig.add_subplot()
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [_tick(x) for x in xs])
    ax.set_yticks(range(len(ys)), [_tick(y) for y in ys])
    ax.set_xlabel(keys[1])
    ax.set_ylabel(keys[0])
    for (r, c), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(c, r, f"{v:.3f}", ha="center", va="center", fontsize="small", color="w")
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_title(f"{model}: {metric}", fontsize="medium")
    return fig


def _tick(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def plot_ranks(summary: dict[str, Any], metric: str) -> Any:
    """The leaderboard rank of every model at every grid point."""
    s = summary["per_metric"][metric]
    fig = _figure(figsize=(max(4.0, 0.5 * len(summary["points"]) + 2), 3.2))
    ax = fig.add_subplot()
    x = range(len(summary["points"]))
    for m in summary["models"]:
        ax.plot(x, s["ranks"][m], marker="o", label=m)
    ax.set_xticks(list(x), summary["points"], rotation=60, ha="right", fontsize="x-small")
    ax.set_yticks(range(1, len(summary["models"]) + 1))
    ax.invert_yaxis()
    ax.set_ylabel("rank (1 = best)")
    ax.set_title(f"{metric}: ranks across the grid (Kendall's W {_fmt(s['kendalls_w'])})",
                 fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    return fig


def write_report(result: SweepResult) -> dict[str, Any]:
    """Write ``sweep.json``, ``sweep.md`` and ``figures/*.png`` into the sweep folder;
    returns the summary. Figures need matplotlib (skipped, and said in the summary,
    without it)."""
    summary = analyse(result)
    out = Path(result.out)
    figures: list[str] = []
    try:
        figures = _write_figures(result, summary, out / "figures")
    except ImportError as exc:
        summary["figures_skipped"] = str(exc)
    summary["figures"] = figures
    write_json_atomic(out / "sweep.json", summary)
    write_atomic(out / "sweep.md", markdown(summary).encode())
    return summary


def _write_figures(result: SweepResult, summary: dict[str, Any], folder: Path) -> list[str]:
    from .._io import safe_name

    folder.mkdir(exist_ok=True)
    made = []

    def save(fig: Any, name: str) -> None:
        path = folder / f"{safe_name(name)}.png"
        fig.savefig(path, dpi=120)
        made.append(str(path.relative_to(folder.parent)))

    g = result.grid
    for k in result.metrics:
        for key, vals in zip(g.keys, g.values, strict=True):
            if len(vals) > 1:
                save(plot_lines(result, k, key), f"{k}-over-{key}")
        multi = [key for key, vals in zip(g.keys, g.values, strict=True) if len(vals) > 1]
        if len(multi) >= 2:
            for m in result.models:
                save(plot_heatmap(result, k, m, (multi[0], multi[1])), f"{k}-{m}-heatmap")
        if len(result.models) > 1:
            save(plot_ranks(summary, k), f"{k}-ranks")
    return made
