"""Figures: maps over their images, per-image panels and leaderboards.

Every function takes ``ax=None`` (or draws a whole figure) and returns the matplotlib
Figure; nothing calls ``show()`` or touches pyplot's global state (figures are made
with :class:`matplotlib.figure.Figure`). matplotlib is imported inside the functions
(``pip install 'vista-gaze[viz]'``).

Maps are shown min-max scaled to [0, 1] over their own range (a constant map is drawn
as zeros, i.e. not at all), coloured with ``cmap`` over the image; a pixel's opacity
is ``alpha * sqrt(value)``, so the map's peaks are at opacity ``alpha`` and its floor
leaves the image visible.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import require

__all__ = [
    "image_panel",
    "leaderboard",
    "overlay",
    "save_figure",
    "save_run_figures",
    "triplet_figure",
]

_LABELS = {"ncc": "NCC", "auc_borji": "AUC-Borji", "auc_borji_mit": "AUC-Borji (MIT)",
           "auc_judd": "AUC-Judd", "auc_shuffled": "sAUC", "nss": "NSS", "sim": "SIM",
           "kld": "KLD", "info_gain": "IG"}
_CHANCE = {"ncc": 0.0, "auc_borji": 0.5, "auc_borji_mit": 0.5, "auc_judd": 0.5,
           "auc_shuffled": 0.5, "nss": 0.0, "info_gain": 0.0}


def _figure(**kwargs: Any) -> Any:
    require("matplotlib", "viz")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _unit(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(arr.shape)
    return (arr - lo) / (hi - lo)


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    return a


def _check_cmap(cmap: str) -> str:
    require("matplotlib", "viz")
    import matplotlib

    if cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap name (e.g. 'jet', 'viridis', "
                         f"'inferno'); got {cmap!r}")
    return cmap


def overlay(
    image: np.ndarray,
    saliency: np.ndarray | None,
    *,
    ax: Any = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    title: str | None = None,
) -> Any:
    """Draw ``saliency`` over ``image``.

    Parameters
    ----------
    image : ndarray
        H×W×3 uint8 (or H×W grey) image.
    saliency : ndarray or None
        H×W map on the image's grid, scaled to [0, 1] for display; None draws the
        image alone.
    ax : matplotlib Axes, optional
        Where to draw; a new one-panel Figure when None.
    cmap : str, optional
        Matplotlib colormap (default ``"jet"``).
    alpha : float, optional
        Opacity of the map's peak, 0 to 1 (default 0.5); lower values fade as
        ``alpha * sqrt(value)``.
    title : str, optional
        Panel title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = overlay(np.zeros((4, 6, 3), np.uint8), np.arange(24.0).reshape(4, 6))
    >>> len(fig.axes)
    1
    """
    cmap = _check_cmap(cmap)
    alpha = _check_alpha(alpha)
    img = np.asarray(image)
    if ax is None:
        fig = _figure(figsize=(4, 4 * img.shape[0] / max(img.shape[1], 1)))
        ax = fig.add_subplot(1, 1, 1)
    if saliency is not None and np.shape(saliency) != img.shape[:2]:
        raise ValueError(f"saliency must be on the image grid {img.shape[:2]}; got shape "
                         f"{np.shape(saliency)}")
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="antialiased")
    if saliency is not None:
        import matplotlib

        unit = _unit(saliency)
        rgba = matplotlib.colormaps[cmap](unit)
        rgba[..., 3] = alpha * np.sqrt(unit)
        ax.imshow(rgba, interpolation="bilinear")
        if not unit.any():
            ax.text(0.5, 0.5, "constant map", transform=ax.transAxes, ha="center",
                    va="center", color="white", fontsize=8,
                    bbox={"facecolor": "black", "alpha": 0.5, "linewidth": 0})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def _score_line(scores: Mapping[str, float] | None) -> str:
    if not scores:
        return ""
    return "  ".join(f"{_LABELS.get(k, k)} {v:.2f}" for k, v in scores.items()
                     if v is not None and np.isfinite(v))


def triplet_figure(
    image: np.ndarray,
    human: np.ndarray,
    model_maps: Mapping[str, np.ndarray | None],
    *,
    text: str,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: float = 2.6,
) -> Any:
    """One triplet: image | human map | each model's map, the text as title.

    Parameters
    ----------
    image : ndarray
        H×W×3 image.
    human : ndarray
        H×W human map.
    model_maps : mapping
        ``{model: map}`` (None: drawn as "no map").
    text : str
        The spoken segment, shown as the figure title.
    scores : mapping, optional
        ``{model: {metric: value}}`` shown under each model's panel.
    cmap, alpha
        See :func:`overlay`.
    panel_size : float, optional
        Width of one panel in inches (default 2.6).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 6, 3), np.uint8); h = np.ones((4, 6))
    >>> len(triplet_figure(img, h, {"center": h}, text="a cat").axes)
    3
    """
    h, w = np.shape(image)[:2]
    n = 2 + len(model_maps)
    fig = _figure(figsize=(panel_size * n, panel_size * h / w + 0.7), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    overlay(image, None, ax=axes[0], cmap=cmap, alpha=alpha, title="image")
    overlay(image, human, ax=axes[1], cmap=cmap, alpha=alpha, title="human")
    for ax, (name, m) in zip(axes[2:], model_maps.items(), strict=True):
        line = _score_line((scores or {}).get(name))
        overlay(image, m, ax=ax, cmap=cmap, alpha=alpha,
                title=name + (f"\n{line}" if line else "") + ("" if m is not None else
                                                              "\n(no map)"))
    fig.suptitle(textwrap.fill(f"\u201c{text}\u201d", 90), fontsize=11)
    return fig


def image_panel(
    image: np.ndarray,
    rows: Sequence[Mapping[str, Any]],
    *,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: float = 2.2,
    title: str | None = None,
) -> Any:
    """One image, one row per spoken segment: text | human map | model maps.

    Parameters
    ----------
    image : ndarray
        H×W×3 image.
    rows : sequence of mapping
        Each ``{"text": str, "human": ndarray, "maps": {model: ndarray | None},
        "scores": {model: {metric: value}}}`` (``scores`` optional).
    cmap, alpha
        See :func:`overlay`.
    panel_size : float, optional
        Width of one panel in inches (default 2.2).
    title : str, optional
        Figure title (e.g. the image name).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 6, 3), np.uint8); h = np.ones((4, 6))
    >>> fig = image_panel(img, [{"text": "a", "human": h, "maps": {}},
    ...                         {"text": "b", "human": h, "maps": {}}])
    >>> len(fig.axes)
    2
    """
    if not rows:
        raise ValueError("rows must hold at least one segment")
    models = list(dict.fromkeys(m for r in rows for m in r.get("maps", {})))
    h, w = np.shape(image)[:2]
    n_cols = 1 + len(models)
    fig = _figure(figsize=(panel_size * n_cols + 1.6, (panel_size * h / w + 0.45) * len(rows)
                           + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for i, row in enumerate(rows):
        overlay(image, row["human"], ax=axes[i, 0], cmap=cmap, alpha=alpha,
                title="human" if i == 0 else None)
        axes[i, 0].set_ylabel(textwrap.fill(str(row["text"]), 22), fontsize=9)
        for j, name in enumerate(models, start=1):
            m = row.get("maps", {}).get(name)
            line = _score_line((row.get("scores") or {}).get(name))
            head = name if i == 0 else ""
            label = "\n".join(x for x in (head, line) if x) or None
            overlay(image, m, ax=axes[i, j], cmap=cmap, alpha=alpha, title=label)
            if m is None:  # e.g. an explainer map the run did not cache
                axes[i, j].text(0.5, 0.5, "no map", transform=axes[i, j].transAxes,
                                ha="center", va="center", color="white")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def leaderboard(
    summary: Mapping[str, Any],
    *,
    metric: str = "ncc",
    ax: Any = None,
    color: str = "#4c72b0",
) -> Any:
    """Bar chart of each model's mean ``metric`` with its bootstrap interval.

    Parameters
    ----------
    summary : mapping
        A run's ``summary.json`` (:attr:`vista.scoring.ScoreResult.summary`).
    metric : str, optional
        Which metric (default ``"ncc"``).
    ax : matplotlib Axes, optional
        Where to draw; a new Figure when None.
    color : str, optional
        Bar colour.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Models are sorted best first (by the metric's direction); error bars span the
    run's interval (95% percentile or BCa); a dotted line marks chance where the
    metric has one (0 for NCC/NSS, 0.5 for the AUCs). A synthetic dataset is said so in
    the title. The title's n is the number of triplets scored; where models have
    different numbers of finite values (a skipped triplet, an undefined metric), each
    model's label gives its own n.
    """
    results = summary["results"]
    if not results or metric not in next(iter(results.values())):
        known = sorted(next(iter(results.values()), {}))
        raise ValueError(f"metric must be one of the run's metrics {known}; got {metric!r}")
    info = summary.get("metrics", {}).get(metric, {})
    higher = bool(info.get("higher_is_better", True))
    def num(v: Any) -> float:  # summary.json stores an undefined value as null
        return math.nan if v is None else float(v)

    items = [(m, r[metric]) for m, r in results.items()]
    items.sort(key=lambda mr: (-np.nan_to_num(num(mr[1]["mean"]), nan=-np.inf) if higher
                               else np.nan_to_num(num(mr[1]["mean"]), nan=np.inf)))
    names = [m for m, _ in items]
    means = np.array([num(r["mean"]) for _, r in items], dtype=float)
    lows = np.array([num(r.get("low")) for _, r in items], dtype=float)
    highs = np.array([num(r.get("high")) for _, r in items], dtype=float)
    if ax is None:
        fig = _figure(figsize=(6, 0.45 * len(names) + 1.4), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
    ypos = np.arange(len(names))[::-1]
    err = np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)])
    ax.barh(ypos, np.nan_to_num(means), color=color, height=0.6)
    ax.errorbar(np.nan_to_num(means), ypos, xerr=err, fmt="none", ecolor="black", capsize=3)
    for y, m, hi in zip(ypos, means, highs, strict=True):
        if not np.isfinite(m):
            ax.text(0, y, " undefined (nan)", va="center", fontsize=8, color="gray")
        else:
            ax.annotate(f"{m:.3f}", (max(m, hi) if np.isfinite(hi) else m, y),
                        xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    counts = [r.get("n") for _, r in items]
    if len(set(counts)) > 1:  # some model scored fewer triplets: say how many each
        names = [f"{m} (n = {c})" if c is not None else m for m, c in zip(names, counts,
                                                                           strict=True)]
    ax.set_yticks(ypos, names)
    label = _LABELS.get(metric, metric)
    boot = summary.get("bootstrap", {})
    conf = round(100 * float(boot.get("confidence", 0.95)))
    ax.set_xlabel(f"{label} (mean, {conf}% bootstrap interval)"
                  + ("" if higher else "; lower is better"))
    if metric in _CHANCE:
        ax.axvline(_CHANCE[metric], color="gray", linestyle=":", linewidth=1)
    if metric.startswith("auc"):
        lo = np.nanmin(np.concatenate([lows, means, [0.5]]))
        ax.set_xlim(max(0.0, min(0.45, lo - 0.05)), 1.0)
    ds = summary.get("dataset", {})
    title = f"{label} on {ds.get('name', 'dataset')} (n = {ds.get('n_scored', '?')})"
    if ds.get("synthetic"):
        title += " - SYNTHETIC data"
    ax.set_title(title, fontsize=10)
    return ax.figure


def save_figure(fig: Any, path: str | os.PathLike[str], *, formats: Sequence[str] = ("png",),
                dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats``; return the paths."""
    out = []
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        p = base.with_suffix(f".{fmt}")
        fig.savefig(p, dpi=dpi, bbox_inches="tight", metadata=_metadata(fmt))
        out.append(p)
    return out


def _metadata(fmt: str) -> dict[str, str] | None:
    from . import __version__

    if fmt in ("png", "pdf", "svg"):
        return {"Creator": f"vista {__version__}"}
    return None


def _run_rows(run: Any, triplets: Sequence[Any], models: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for t in triplets:
        rows.append({
            "text": t.text,
            "human": run.dataset.load_map(t),
            "maps": {m: run.model_map(t, m) for m in models},
            "scores": {m: {k: v for k, v in run.scores.get((t.triplet_id, m), {}).items()
                           if k in ("ncc", "auc_borji")} for m in models},
            "triplet": t,
        })
    return rows


def _image_names(image_paths: Sequence[str], root: str | os.PathLike[str]) -> dict[str, str]:
    """A file-name-safe label per image: its stem, or, where two images share a stem
    (``p1/scene.png`` and ``p2/scene.png``), its path under ``root`` with ``_`` for
    separators and dots, so no image's figure overwrites another's."""
    import re

    stems = [Path(p).stem for p in image_paths]
    out = {}
    for p, stem in zip(image_paths, stems, strict=True):
        if stems.count(stem) == 1:
            out[p] = stem
            continue
        try:
            rel = Path(p).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            rel = Path(p).as_posix()
        out[p] = re.sub(r"[^A-Za-z0-9+-]+", "_", rel).strip("_")
    return out


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
    dpi: int = 150,
) -> list[Path]:
    """Draw a scoring run's figures into ``out`` (default ``RUN_DIR/figures``).

    Parameters
    ----------
    run_dir : path
        A finished ``vista score`` output folder.
    out : path, optional
        Figure folder; existing figures of the same names are redrawn.
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
        See :func:`overlay`.
    formats : sequence of str, optional
        File formats (default png and pdf).
    dpi : int, optional
        Resolution of raster formats (default 150).

    Returns
    -------
    list of Path
        The files written.
    """
    from .scoring import Run

    _check_cmap(cmap)
    _check_alpha(alpha)
    for f in formats:
        if f not in ("png", "pdf", "svg"):
            raise ValueError(f"formats must hold 'png', 'pdf' or 'svg'; got {f!r}")
    run = Run(run_dir)
    folder = Path(out) if out is not None else run.root / "figures"
    chosen = list(models) if models else run.models
    for m in chosen:
        if m not in run.models:
            raise ValueError(f"models must be among the run's models {run.models}; got {m!r}")
    written: list[Path] = []
    if leaderboards:
        for metric in run.metrics:
            fig = leaderboard(run.summary, metric=metric)
            written += save_figure(fig, folder / f"leaderboard-{metric}", formats=formats,
                                   dpi=dpi)
    scored = run.scored_triplets()
    if images:
        by_image: dict[str, list[Any]] = {}
        for t in scored:
            by_image.setdefault(t.image_path, []).append(t)
        labels = _image_names(list(by_image), run.dataset.root)
        for image_path, group in by_image.items():
            image = run.dataset.load_image(group[0])
            rows = _run_rows(run, group, chosen)
            name = labels[image_path]
            fig = image_panel(image, rows, cmap=cmap, alpha=alpha, title=name)
            written += save_figure(fig, folder / f"image-{name}", formats=formats, dpi=dpi)
    wanted = scored if triplets is None else [run.dataset[tid] for tid in triplets]
    for t in wanted:
        row = _run_rows(run, [t], chosen)[0]
        fig = triplet_figure(run.dataset.load_image(t), row["human"], row["maps"], text=t.text,
                             scores=row["scores"], cmap=cmap, alpha=alpha)
        written += save_figure(fig, folder / f"triplet-{t.triplet_id}", formats=formats,
                               dpi=dpi)
    return written
