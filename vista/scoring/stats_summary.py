"""The statistics a score summary adds to its means: what the bootstrap resamples,
Holm-adjusted p-values, win rates with a Bradley-Terry ranking, and the noise ceiling.

Pure functions on the scored values (``{model: {metric: {triplet_id: value}}}``) and the
dataset's triplets; :mod:`vista.scoring.summary` calls them. The maths lives in
:mod:`vista.metrics.bootstrap` and :mod:`vista.metrics.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_option
from ..metrics.bootstrap import RESAMPLE_UNITS
from ..records import Triplet
from .controls import CONTROL_SUFFIX, participant_of

__all__ = [
    "CHANCE",
    "ceiling_fractions",
    "choose_resample",
    "cluster_labels",
    "holm_comparisons",
    "leaderboard",
    "observer_reliability",
    "statistics",
    "text_specificity",
]

CHANCE: dict[str, float] = {"ncc": 0.0, "auc_borji": 0.5, "auc_borji_mit": 0.5,
                            "auc_judd": 0.5, "auc_shuffled": 0.5, "nss": 0.0, "info_gain": 0.0}
"""The score of a map that predicts nothing, where it is known without a ``uniform`` row."""


def choose_resample(triplets: Sequence[Triplet], *, requested: str | None, paper: bool
                    ) -> tuple[str, str]:
    """The bootstrap unit of a run and why: ``(unit, reason)``.

    ``requested`` wins; otherwise paper mode resamples triplets (as the paper did), and
    a dataset where some image has more than one triplet resamples whole images (its
    segments share the image and the viewer, so they are not independent).

    Examples
    --------
    >>> ts = [Triplet(f"t{i}", img, "x", "m.npy") for i, img in enumerate("aab")]
    >>> choose_resample(ts, requested=None, paper=False)[0]
    'image'
    >>> choose_resample(ts, requested=None, paper=True)[0]
    'triplet'
    """
    if requested is not None:
        check_option("resample", requested, RESAMPLE_UNITS)
        return requested, "as requested"
    if paper:
        return "triplet", "paper mode resamples triplets, as the paper did"
    per_image: dict[str, int] = {}
    for t in triplets:
        per_image[t.image_path] = per_image.get(t.image_path, 0) + 1
    most = max(per_image.values(), default=0)
    if most > 1:
        return "image", (f"images have up to {most} segments, which share the image and "
                         "viewer: whole images are resampled")
    return "triplet", "every image has one triplet"


def cluster_labels(triplets: Sequence[Triplet], unit: str) -> dict[str, str] | None:
    """``{triplet_id: cluster}`` for ``unit`` (None for ``"triplet"``).

    Raises
    ------
    ValueError
        ``unit="participant"`` and a triplet records no participant (``meta``
        ``participant`` or ``observer``); the message names it.
    """
    check_option("resample", unit, RESAMPLE_UNITS)
    if unit == "triplet":
        return None
    if unit == "image":
        return {t.triplet_id: t.image_path for t in triplets}
    out = {}
    for t in triplets:
        p = participant_of(t)
        if p is None:
            raise ValueError(f"--resample participant: triplet {t.triplet_id!r} records no "
                             "participant (meta 'participant' or 'observer')")
        out[t.triplet_id] = p
    return out


def labels_for(clusters: Mapping[str, str] | None, triplet_ids: Sequence[str]) -> list[str] | None:
    """The cluster label of each of ``triplet_ids`` (None without clusters)."""
    return None if clusters is None else [clusters[t] for t in triplet_ids]


def holm_comparisons(comparisons: Mapping[str, Any]) -> dict[str, Any]:
    """The comparisons with ``p_holm`` added to every cell: Holm's adjustment across
    every model and metric of the run (one family)."""
    from ..metrics.stats import holm

    cells = [(m, k) for m, per in comparisons.items() for k, c in per.items()
             if not k.startswith("_") and isinstance(c, Mapping)]
    adjusted: Any = holm([comparisons[m][k]["p_value"] for m, k in cells]) if cells else []
    out = {m: dict(per) for m, per in comparisons.items()}
    for (m, k), p in zip(cells, adjusted, strict=True):
        out[m][k] = {**out[m][k], "p_holm": float(p)}
    return out


def leaderboard(
    values: Mapping[str, Mapping[str, Mapping[str, float]]], models: Sequence[str],
    metrics: Sequence[str], *, clusters: Mapping[str, str] | None, seed: int, n_boot: int,
    confidence: float,
) -> dict[str, Any]:
    """Win rates (with intervals from the run's bootstrap unit) and the Bradley-Terry
    ranking of the models, per metric: ``{metric: {"win_rates": ..., "bradley_terry":
    {model: strength}, "ranking": [models], "unranked": [models]}}``. A model with no
    defined score for a metric (the NCC of a constant map) is left unranked; a metric
    with fewer than two ranked models is left out."""
    from ..metrics import get_metric
    from ..metrics.stats import bradley_terry, win_rates

    out: dict[str, Any] = {}
    for k in metrics:
        ids = list(dict.fromkeys(t for m in models for t in values[m][k]))
        scored = [m for m in models
                  if any(math.isfinite(v) for v in values[m][k].values())]
        if len(scored) < 2:
            continue
        scores = {m: np.array([values[m][k].get(t, math.nan) for t in ids]) for m in scored}
        w = win_rates(scores, higher_is_better=get_metric(k).higher_is_better,
                      clusters=labels_for(clusters, ids), n_boot=n_boot, confidence=confidence,
                      rng=np.random.default_rng([seed, 4]))
        strengths = bradley_terry(w.rates * w.n)
        order = [scored[i] for i in np.argsort(-strengths, kind="stable")]
        out[k] = {"win_rates": w.to_dict(),
                  "bradley_terry": {m: float(s) for m, s in zip(scored, strengths, strict=True)},
                  "ranking": order, "unranked": [m for m in models if m not in scored]}
    return out


def ceiling_fractions(results: Mapping[str, Mapping[str, Mapping[str, Any]]], metrics: Sequence[str],
                      *, ceiling: str = "observers") -> dict[str, Any]:
    """Each model's mean as a fraction of the way from chance to the ``observers`` row.

    Chance is the ``uniform`` row's mean where the run has one, else :data:`CHANCE`;
    for a metric where lower is better (KLD) the fraction is taken on the negated
    scores. Empty when the run has no ``observers`` row.
    """
    from ..metrics import get_metric
    from ..metrics.stats import fraction_of_ceiling

    if ceiling not in results:
        return {}
    out: dict[str, dict[str, float | None]] = {}
    for model, per in results.items():
        if model == ceiling:
            continue
        row: dict[str, float | None] = {}
        for k in metrics:
            chance = (results["uniform"][k].get("mean") if "uniform" in results
                      else CHANCE.get(k))
            top = results[ceiling][k].get("mean")
            mine = per[k].get("mean")
            if chance is None or top is None or mine is None:
                row[k] = None
                continue
            sign = 1.0 if get_metric(k).higher_is_better else -1.0
            f = fraction_of_ceiling(sign * mine, sign * top, chance=sign * chance)
            row[k] = None if math.isnan(f) else f
        out[model] = row
    return out


def observer_reliability(dataset: Any, triplets: Sequence[Triplet], *, seed: int,
                         n_splits: int = 100) -> dict[str, Any]:
    """Split-half reliability of the human maps where an image (and text) has several
    observers: ``r_half`` and its Spearman-Brown correction ``r_full``, averaged over
    the groups that have at least two observers. Groups are an image and text where
    two observers gave the same text, else the image."""
    from ..metrics.stats import split_half

    groups: dict[tuple[str, str], dict[str, Triplet]] = {}
    for t in triplets:
        p = participant_of(t)
        if p is not None:
            groups.setdefault((t.image_path, t.text.strip()), {}).setdefault(p, t)
    by_image: dict[str, dict[str, Triplet]] = {}
    for t in triplets:
        p = participant_of(t)
        if p is not None:
            by_image.setdefault(t.image_path, {}).setdefault(p, t)
    chosen = [g for g in groups.values() if len(g) > 1]
    if not chosen:
        chosen = [g for g in by_image.values() if len(g) > 1]
    halves, fulls = [], []
    gen = np.random.default_rng([seed, 5])
    for g in chosen:
        r = split_half([dataset.load_map(t) for t in g.values()], n_splits=n_splits, rng=gen)
        halves.append(r.r_half)
        fulls.append(r.r_full)
    if not chosen:
        return {"n_groups": 0}
    return {"n_groups": len(chosen), "r_half": float(np.nanmean(halves)),
            "r_full": float(np.nanmean(fulls)), "n_splits": n_splits,
            "observers_per_group": float(np.mean([len(g) for g in chosen]))}


def text_specificity(values: Mapping[str, Mapping[str, Mapping[str, float]]], models: Sequence[str],
                     metrics: Sequence[str], *, clusters: Mapping[str, str] | None, seed: int,
                     n_boot: int, confidence: float) -> dict[str, Any]:
    """For every model with a ``--control other-text`` row: score(true text) - score(other
    text) per metric, a paired bootstrap on the triplets both scored (the run's
    resampling unit) with interval and two-sided p. A map that ignores the text gives 0."""
    from .summary import _comparison

    out: dict[str, Any] = {}
    for model in models:
        control = model + CONTROL_SUFFIX
        if control not in values:
            continue
        per: dict[str, Any] = {"_vs": control}
        for k in metrics:
            cell, _ = _comparison(values[model][k], values[control][k], vs=control,
                                  seed=seed + 6, n_boot=n_boot, confidence=confidence,
                                  clusters=clusters)
            if cell is not None:
                per[k] = cell
        out[model] = per
    return out


def statistics(rows: Sequence[Mapping[str, Any]], plan: Any, results: Mapping[str, Any],
               comparisons: Mapping[str, Any], clusters: Mapping[str, str] | None
               ) -> dict[str, Any]:
    """The summary's sections beyond means and paired differences: ``leaderboard``
    (win rates and Bradley-Terry ranking of the model rows), ``ceiling`` (each model as
    a fraction of the ``observers`` row, and the observers' split-half reliability) and
    ``text_specificity`` (with ``--control other-text``); each only where it applies."""
    from .summary import _values

    o = plan.options
    names = list(plan.names)
    metrics = list(o.metrics)
    values, _ = _values(rows, names, metrics)
    kw = {"clusters": clusters, "seed": o.seed, "n_boot": o.n_boot, "confidence": o.confidence}
    out: dict[str, Any] = {}
    board = leaderboard(values, [n for n in names if not n.endswith(CONTROL_SUFFIX)], metrics,
                        **kw)
    if board:
        out["leaderboard"] = board
    fractions = ceiling_fractions(results, metrics)
    if fractions:
        out["ceiling"] = {"row": "observers", "fraction_of_ceiling": fractions,
                          "split_half": observer_reliability(plan.dataset, plan.good,
                                                             seed=o.seed)}
    spec = text_specificity(values, names, metrics, **kw)
    if spec:
        out["text_specificity"] = spec
    return out

