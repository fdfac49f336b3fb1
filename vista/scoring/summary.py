"""The summary of a scoring run: bootstrap intervals, paired differences, tables.

:func:`summarise` turns scored rows into the ``results`` and ``comparisons`` of
``summary.json``; :func:`format_table` draws them in the layout of VISTA's Table 1;
:func:`write_outputs` writes ``scores.csv``, ``summary.json`` and ``summary.md``.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_atomic
from .table_notes import _fmt, _pval, table_notes

__all__ = ["format_table", "metric_label", "scores_frame", "summarise", "summary_frame",
           "summary_markdown", "table_rows", "write_outputs"]


def metric_label(name: str) -> str:
    return {"ncc": "NCC", "auc_borji": "AUC-Borji", "auc_borji_mit": "AUC-Borji (MIT)",
            "auc_judd": "AUC-Judd", "auc_shuffled": "sAUC", "nss": "NSS", "sim": "SIM",
            "kld": "KLD", "info_gain": "IG"}.get(name, name)


def metric_options(spec: Any) -> dict[str, Any]:
    """Keyword-only defaults of a metric's function, recorded in the provenance."""
    try:
        sig = inspect.signature(spec.func)
    except (TypeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and p.name != "rng" and p.default is not p.empty:
            d = p.default
            out[p.name] = d if isinstance(d, (int, float, str, bool, type(None))) else repr(d)
    return out


def _values(rows: Sequence[Mapping[str, Any]], models: Sequence[str], metrics: Sequence[str]
            ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, Any]]:
    """``{model: {metric: {triplet: value}}}`` and the warnings counted per message."""
    values: dict[str, dict[str, dict[str, float]]] = {m: {k: {} for k in metrics} for m in models}
    warn: dict[str, dict[str, dict[str, int]]] = {}
    for r in rows:
        model = str(r["model"])
        if model not in values:
            continue
        for k in metrics:
            v = r.get(k)
            values[model][k][str(r["triplet_id"])] = math.nan if v is None else float(v)
        for k, msgs in (r.get("warnings") or {}).items():
            for msg in msgs:
                slot = warn.setdefault(model, {}).setdefault(k, {})
                slot[msg] = slot.get(msg, 0) + 1
    return values, warn


def _result(vals: np.ndarray, *, seed: int, n_boot: int, paper: bool, interval: str,
            confidence: float, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """One cell: mean, bootstrap interval and (paper) the five paper-mode values;
    ``labels`` (one per value): resample whole clusters (images, participants)."""
    from ..metrics import bootstrap as boot

    ok = np.isfinite(vals)
    finite = vals[ok]
    clusters = None if labels is None else [c for c, keep in zip(labels, ok, strict=True) if keep]
    res: dict[str, Any] = {"n": int(finite.size), "n_nan": int(vals.size - finite.size)}
    if finite.size == 0:
        res.update(mean=math.nan, low=math.nan, high=math.nan)
        if paper:
            res["paper"] = [math.nan] * 5
        return res
    ci = boot.bootstrap(finite, mode="ci", n_boot=n_boot, interval=interval,  # type: ignore[arg-type]
                        confidence=confidence, rng=np.random.default_rng([seed, 1]),
                        clusters=clusters)
    res.update(mean=float(np.mean(finite)), low=float(ci.low), high=float(ci.high))
    if paper:
        pr = boot.bootstrap(finite, mode="paper", rng=np.random.default_rng([seed, 2]))
        res["paper"] = [float(x) for x in np.asarray(pr.replicates).ravel()]
    return res


def _comparison(a_map: Mapping[str, float], b_map: Mapping[str, float], *, vs: str, seed: int,
                n_boot: int, confidence: float, clusters: Mapping[str, str] | None = None
                ) -> tuple[dict[str, Any] | None, int]:
    """The paired-bootstrap difference of two rows on the triplets both scored."""
    from ..metrics import bootstrap as boot

    common = [t for t in a_map if t in b_map
              and math.isfinite(a_map[t]) and math.isfinite(b_map[t])]
    if len(common) < 2:
        return None, len(common)
    a = np.array([a_map[t] for t in common])
    b = np.array([b_map[t] for t in common])
    pb = boot.paired_bootstrap(a, b, n_boot=n_boot, confidence=confidence,
                               rng=np.random.default_rng([seed, 3]),
                               clusters=None if clusters is None else [clusters[t] for t in common])
    return {"vs": vs, "n": len(common), "difference": float(pb.difference),
            "low": float(pb.low), "high": float(pb.high), "p_value": float(pb.p_value)}, len(common)


def summarise(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], metrics: Sequence[str], *,
    seed: int, n_boot: int, paper: bool, interval: str, confidence: float,
    clusters: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(results, comparisons, warnings)`` of ``summary.json`` from the scored rows.

    Each model and metric gets its mean over the finite values and a bootstrap interval
    (``default_rng([seed, 1])``; paper values ``[seed, 2]``); every model after the
    first gets its paired-bootstrap difference from the first (``[seed, 3]``). With
    ``clusters`` (``{triplet_id: image or participant}``) whole clusters are resampled.
    """
    values, warn = _values(rows, models, metrics)
    results = {model: {k: _result(np.array(list(values[model][k].values()), dtype=np.float64),
                                  seed=seed, n_boot=n_boot, paper=paper, interval=interval,
                                  confidence=confidence,
                                  labels=None if clusters is None else
                                  [clusters[t] for t in values[model][k]])
                       for k in metrics} for model in models}
    comparisons: dict[str, Any] = {}
    for model in models[1:]:
        per: dict[str, Any] = {"_vs": models[0]}
        n_common = 0
        for k in metrics:
            cell, n = _comparison(values[model][k], values[models[0]][k], vs=models[0],
                                  seed=seed, n_boot=n_boot, confidence=confidence,
                                  clusters=clusters)
            n_common = max(n_common, n)
            if cell is not None:
                per[k] = cell
        per["_n"] = n_common
        comparisons[model] = per
    return results, comparisons, warn


def _cell(res: Mapping[str, Any], *, paper: bool) -> str:
    if paper and res.get("paper"):
        inner = ", ".join(_fmt(v) for v in res["paper"])
    else:
        inner = f"{_fmt(res.get('low'))}, {_fmt(res.get('high'))}"
    return f"{_fmt(res.get('mean'))} [{inner}]"


def table_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    paper = bool(summary["bootstrap"].get("paper"))
    metrics = list(summary["metrics"])
    header = ["model", "n", *(metric_label(m) for m in metrics)]
    body = []
    for model, per in summary["results"].items():
        n = max((r.get("n", 0) for r in per.values()), default=0)
        body.append([model, str(n), *(_cell(per[m], paper=paper) for m in metrics)])
    comp = []
    for model, per in summary.get("comparisons", {}).items():
        cells = []
        for m in metrics:
            c = per.get(m)
            cells.append("" if c is None else
                         f"{c['difference']:+.3f} [{_fmt(c['low'])}, {_fmt(c['high'])}] "
                         f"{_pval(c['p_value'])}"
                         + (f" (Holm {_pval(c['p_holm'])})" if "p_holm" in c else ""))
        comp.append([f"{model} - {per.get('_vs', '')}", str(per.get("_n", "")), *cells])
    return header, body, comp


def format_table(summary: Mapping[str, Any], *, markdown: bool = False) -> str:
    """The summary as a table in the paper's layout.

    One row per model: the mean of each metric and, in brackets, the 95% bootstrap
    interval or, for a ``paper=True`` run, the five paper-mode bootstrap values. With
    several models, a second table gives each model's paired-bootstrap difference
    from the first model, with its interval and two-sided p-value.
    """
    header, body, comp = table_rows(summary)
    ds = summary["dataset"]
    boot = summary["bootstrap"]
    what = ("five paper-mode bootstrap means" if boot.get("paper") else
            f"{round(100 * boot['confidence'])}% {boot['interval']} bootstrap interval, "
            f"{boot['n_boot']} resamples")
    note = (f"dataset {ds['name']} ({ds['path']}): {ds['n_scored']} of {ds['n_triplets']} "
            f"triplets scored; brackets: {what}; seed {summary['seed']}")
    synth = ("SYNTHETIC dataset: simulated observers, not human data; use it to try the "
             "workflow, not to compare models." if ds.get("synthetic") else "")

    def render(h: list[str], rows: list[list[str]]) -> str:
        if markdown:
            lines = ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)]
            lines += ["| " + " | ".join(r) + " |" for r in rows]
            return "\n".join(lines)
        widths = [max(len(x) for x in col) for col in zip(h, *rows, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return "\n".join([fmt.format(*h), *(fmt.format(*r) for r in rows)]).rstrip()

    parts = []
    if synth:
        parts.append(("> **" + synth + "**") if markdown else synth)
    parts.append(note)
    parts.append(render(header, body))
    if comp:
        first = next(iter(summary["results"]))
        parts.append(f"paired bootstrap differences from {first} (same triplets; "
                     f"{round(100 * boot['confidence'])}% interval, two-sided p):")
        parts.append(render(["models", "n", *header[2:]], comp))
    parts.extend(table_notes(summary, render, metric_label))
    if any(r.get("mean") is None or (isinstance(r["mean"], float) and math.isnan(r["mean"]))
           for per in summary["results"].values() for r in per.values()):
        parts.append("nan: the metric is undefined on every triplet for that model (e.g. the "
                     "NCC of a constant map); the metric's warnings are in summary.json")
    bad = summary.get("skipped", {}).get("bad", {})
    if bad:
        parts.append(f"skipped {len(bad)} bad triplet(s): " + ", ".join(list(bad)[:20])
                     + (" ..." if len(bad) > 20 else ""))
    for model, per in summary.get("skipped", {}).get("per_model", {}).items():
        if per:
            parts.append(f"{model}: {len(per)} triplet(s) not scored ({next(iter(per.values()))})")
    return "\n\n".join(parts) + "\n"


def write_outputs(out: Path, rows: Sequence[Mapping[str, Any]], metrics: Sequence[str],
                   summary: Mapping[str, Any]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["triplet_id", "model", *metrics])
    for r in rows:
        w.writerow([r["triplet_id"], r["model"],
                    *("" if r.get(m) is None else repr(float(r[m])) for m in metrics)])
    write_atomic(out / "scores.csv", buf.getvalue().encode())
    # strict JSON: an undefined value is null (NaN is not JSON)
    text = json.dumps(_nan_to_null(summary), indent=2, allow_nan=False) + "\n"
    write_atomic(out / "summary.json", text.encode())
    write_atomic(out / "summary.md", summary_markdown(summary).encode())


def _nan_to_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_null(v) for v in value]
    return value


def summary_markdown(summary: Mapping[str, Any]) -> str:
    ds = summary["dataset"]
    lines = [f"# Scores: {ds['name']}", "", format_table(summary, markdown=True), "",
             "## Provenance", "",
             f"- dataset: `{ds['path']}` (synthetic: {str(ds.get('synthetic')).lower()})",
             f"- vista {summary['vista_version']}, seed {summary['seed']}, "
             f"{summary['bootstrap']['n_boot']} bootstrap resamples "
             f"({summary['bootstrap']['interval']})"]
    for name, prov in summary["models"].items():
        bits = ", ".join(f"{k}: {v}" for k, v in prov.items() if k not in ("model", "kind"))
        lines.append(f"- model `{name}` ({prov.get('kind', '')}): {bits}")
    for name, info in summary["metrics"].items():
        opts = ", ".join(f"{k}={v}" for k, v in info["options"].items()) or "defaults"
        lines.append(f"- metric `{name}`: {opts}")
    return "\n".join(lines) + "\n"


SCORE_COLUMNS = {"triplet_id": "string", "model": "string", "metric": "string",
                 "value": "float64"}
"""The long score table: one row per triplet, model and metric (NaN: undefined)."""


def scores_frame(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> Any:
    """The scores as a long :class:`pandas.DataFrame` (:data:`SCORE_COLUMNS`), in the
    order of ``scores.csv``: triplets, then models, then metrics."""
    import pandas as pd

    records = [(str(r["triplet_id"]), str(r["model"]), m,
                math.nan if r.get(m) is None else float(r[m])) for r in rows for m in metrics]
    frame = pd.DataFrame.from_records(records, columns=list(SCORE_COLUMNS))
    return frame.astype(SCORE_COLUMNS)


SUMMARY_COLUMNS = {"model": "string", "metric": "string", "n": "int64", "n_nan": "int64",
                   "mean": "float64", "low": "float64", "high": "float64", "vs": "string",
                   "difference": "float64", "difference_low": "float64",
                   "difference_high": "float64", "p_value": "float64"}
"""The summary table: one row per model and metric; ``vs`` and the ``difference``
columns hold the paired comparison with the first model (empty for the first)."""


def summary_frame(summary: Mapping[str, Any]) -> Any:
    """The summary's table as a :class:`pandas.DataFrame` (:data:`SUMMARY_COLUMNS`, plus
    ``paper_1`` ... ``paper_5`` for a ``paper=True`` run)."""
    import pandas as pd

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    paper = bool(summary["bootstrap"].get("paper"))
    records = []
    for model, per in summary["results"].items():
        comp = summary.get("comparisons", {}).get(model, {})
        for metric, res in per.items():
            c = comp.get(metric) or {}
            rec = {"model": model, "metric": metric, "n": int(res.get("n", 0)),
                   "n_nan": int(res.get("n_nan", 0)), "mean": num(res.get("mean")),
                   "low": num(res.get("low")), "high": num(res.get("high")),
                   "vs": comp.get("_vs", ""), "difference": num(c.get("difference")),
                   "difference_low": num(c.get("low")), "difference_high": num(c.get("high")),
                   "p_value": num(c.get("p_value"))}
            if paper:
                values = list(res.get("paper") or [None] * 5)
                rec.update({f"paper_{i + 1}": num(v) for i, v in enumerate(values)})
            records.append(rec)
    columns = dict(SUMMARY_COLUMNS)
    if paper:
        columns.update({f"paper_{i}": "float64" for i in range(1, 6)})
    return pd.DataFrame.from_records(records, columns=list(columns)).astype(columns)
