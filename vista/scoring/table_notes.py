"""What :func:`vista.scoring.summary.format_table` prints under the score table from the
sections :mod:`vista.scoring.stats_summary` adds to a summary."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["table_notes"]


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{float(v):.3f}"


def _pval(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p=nan"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def table_notes(summary: Mapping[str, Any], render: Callable[[list[str], list[list[str]]], str],
                label: Callable[[str], str] = str) -> list[str]:
    """The parts :func:`vista.scoring.summary.format_table` prints under the table:
    the resampling unit and why, the text-specificity table, the Bradley-Terry ranking
    and the fraction of the ceiling. ``render(header, rows)`` draws a table and
    ``label(metric)`` names a metric's column."""
    boot = summary.get("bootstrap", {})
    metrics = list(summary["metrics"])
    parts = []
    if boot.get("resample"):
        parts.append(f"bootstrap resampling: {boot['resample']}s ({boot.get('resample_reason', '')}); "
                     "paired p-values Holm-adjusted across the models and metrics of the run")
    spec = summary.get("text_specificity") or {}
    if spec:
        rows = []
        for model, per in spec.items():
            cells = []
            for k in metrics:
                c = per.get(k)
                cells.append("" if c is None else f"{c['difference']:+.3f} [{_fmt(c['low'])}, "
                             f"{_fmt(c['high'])}] {_pval(c['p_value'])}")
            rows.append([model, *cells])
        parts.append("text specificity: score(true text) - score(another segment's text), "
                     "paired bootstrap (0: the map ignores the text):")
        parts.append(render(["model", *(label(k) for k in metrics)], rows))
    board = summary.get("leaderboard") or {}
    for k, entry in board.items():
        bt = entry["bradley_terry"]
        ranked = ", ".join(f"{m} ({bt[m]:+.2f})" for m in entry["ranking"])
        parts.append(f"Bradley-Terry ranking on {label(k)} win rates: {ranked}"
                     + (f"; unranked: {', '.join(entry['unranked'])}" if entry["unranked"] else ""))
    ceiling = summary.get("ceiling") or {}
    if ceiling.get("fraction_of_ceiling"):
        rows = [[m, *(_fmt(per.get(k)) for k in metrics)]
                for m, per in ceiling["fraction_of_ceiling"].items()]
        half = ceiling.get("split_half") or {}
        extra = (f"; observers' split-half reliability {_fmt(half.get('r_half'))}, "
                 f"Spearman-Brown {_fmt(half.get('r_full'))} ({half['n_groups']} groups)"
                 if half.get("n_groups") else "")
        parts.append(f"fraction of the way from chance to the observers ceiling{extra}:")
        parts.append(render(["model", *(label(k) for k in metrics)], rows))
    return parts
