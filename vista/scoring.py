"""Score models against a dataset of human maps: per-triplet scores, then a summary
with bootstrap intervals, in the layout of VISTA's Table 1.

:func:`score` is the one entry point (``vista score`` is a thin wrapper). A run
folder holds::

    OUT/run.json               the run's configuration, written once at the start
    OUT/scores.partial.jsonl   one line per (triplet, model), fsynced as each is scored
    OUT/scores.csv             triplet_id, model, one column per metric   (at the end)
    OUT/summary.json           means, intervals, paired differences, provenance
    OUT/summary.md             the same tables in Markdown
    OUT/maps/MODEL/KEY.npy     cached model maps (KEY.json: the map's parameters)

An interrupted run keeps every scored row and every cached map; running the same
configuration into the same folder resumes it. A folder holding a run with a different
configuration is refused, so a result is never overwritten silently.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._validation import as_rng, check_int, check_option
from .baselines import InterObserver, baseline_from_name, is_baseline_name
from .dataset import Dataset, read_dataset, save_npy_atomic, write_atomic
from .errors import DatasetError
from .records import SaliencyMap, Triplet

__all__ = [
    "DEFAULT_METRICS",
    "ExplainerSource",
    "Run",
    "ScoreResult",
    "check_triplets",
    "demo_dataset_path",
    "format_table",
    "map_cache_key",
    "model_names",
    "read_run",
    "score",
]

DEFAULT_METRICS = ("ncc", "auc_borji")
"""Metrics every run computes (VISTA's Table 1); ``metrics=`` adds to them."""

RUN_FORMAT = "vista-score-run"
CACHE_VERSION = 1
_PARTIAL = "scores.partial.jsonl"


# --------------------------------------------------------------------------- metrics API


def _metrics() -> Any:
    """The metrics module (a function, so tests can stand in for it)."""
    from . import metrics

    return metrics


def _bootstrap_api() -> Any:
    import importlib

    return importlib.import_module(f"{__package__}.metrics.bootstrap")


def _metric_label(name: str) -> str:
    return {"ncc": "NCC", "auc_borji": "AUC-Borji", "auc_borji_mit": "AUC-Borji (MIT)",
            "auc_judd": "AUC-Judd", "auc_shuffled": "sAUC", "nss": "NSS", "sim": "SIM",
            "kld": "KLD", "info_gain": "IG"}.get(name, name)


def _metric_options(spec: Any) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- model sources


class ExplainerSource:
    """A registry explainer wrapped for scoring (maps cached by :func:`map_cache_key`).

    Parameters
    ----------
    name : str
        Registry name (:func:`vista.explain.explainer_names`).
    weights, device, method, **options
        Passed to :func:`vista.explain.load_explainer`.
    """

    cacheable = True

    def __init__(self, name: str, *, weights: str | None = None, device: str | None = None,
                 method: str | None = None, **options: Any) -> None:
        from .explain import load_explainer

        self.name = name
        self.explainer = load_explainer(name, weights=weights, device=device, method=method,
                                        **options)

    def provenance(self) -> dict[str, Any]:
        e = self.explainer
        model_id = str(getattr(e, "model_id", self.name))
        prov: dict[str, Any] = {
            "kind": "explainer",
            "model": self.name,
            "model_id": model_id,
            "revision": getattr(e, "revision", None),
            "method": str(getattr(e, "method", "")),
            "options": _jsonable(dict(getattr(e, "options", {}) or {})),
        }
        if Path(model_id).exists():
            prov["weights_fingerprint"] = _folder_fingerprint(Path(model_id))
        return prov

    def predict(self, dataset: Any, triplets: Sequence[Triplet], image: np.ndarray
                ) -> list[SaliencyMap]:
        return list(self.explainer.explain(image, [t.text for t in triplets]))


def _folder_fingerprint(path: Path) -> str:
    """A hash of the names, sizes and modification times of the files under ``path``,
    so replaced weights in the same folder do not hit stale cached maps."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files[:5000]:
        st = p.stat()
        h.update(f"{p.relative_to(path) if p != path else p.name}\0{st.st_size}\0"
                 f"{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def demo_dataset_path() -> Path:
    """The demo dataset shipped with the package (SYNTHETIC: simulated observers).

    Examples
    --------
    >>> (demo_dataset_path() / "triplets.jsonl").is_file()
    True
    """
    from importlib.resources import files

    return Path(str(files("vista"))) / "data" / "demo"


def model_names() -> list[str]:
    """Every name ``score`` accepts: the explain registry's, then the baselines
    (``external:DIR`` stands for any folder).

    Examples
    --------
    >>> names = model_names()
    >>> "center" in names and "external:DIR" in names
    True
    """
    from .explain import explainer_names

    return [*explainer_names(), "center", "uniform", "observers", "external:DIR"]


def _check_model_name(name: str) -> None:
    from .explain import explainer_names

    if name == "external:":
        raise ValueError("model 'external:DIR' needs a folder after the colon")
    if not (is_baseline_name(name) or name in explainer_names()):
        raise ValueError(f"model must be one of {', '.join(model_names())}; got {name!r}")


def _make_source(model: Any, *, weights: str | None, device: str | None,
                 method: str | None) -> Any:
    if not isinstance(model, str):
        for attr in ("name", "provenance", "predict"):
            if not hasattr(model, attr):
                raise TypeError(f"models: {model!r} has no {attr!r}; pass a name or a source "
                                "with name, provenance() and predict()")
        return model
    if is_baseline_name(model):
        return baseline_from_name(model)
    from .explain.registry import explainer_spec

    try:
        explainer_spec(model)
    except ValueError:
        choices = ", ".join(model_names())
        raise ValueError(f"model must be one of {choices}; got {model!r}") from None
    return ExplainerSource(model, weights=weights, device=device, method=method)


# --------------------------------------------------------------------------- cache


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays and tuples turned into JSON types."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def map_cache_key(image_sha256: str, text: str, provenance: Mapping[str, Any]) -> str:
    """The cache key of one model map: a hash of the image bytes' hash, the text and
    the model's provenance (name, id, revision, method, options, weights fingerprint).

    Examples
    --------
    >>> k = map_cache_key("ab" * 32, "a cat", {"model": "clip", "revision": "r1"})
    >>> len(k), k == map_cache_key("ab" * 32, "a cat", {"revision": "r1", "model": "clip"})
    (32, True)
    >>> k == map_cache_key("ab" * 32, "a dog", {"model": "clip", "revision": "r1"})
    False
    """
    payload = json.dumps(
        {"v": CACHE_VERSION, "image": image_sha256, "text": text,
         "model": _jsonable(dict(provenance))},
        sort_keys=True, ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "model"


def _file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


# --------------------------------------------------------------------------- validation


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return int(h), int(w)


def check_triplets(
    dataset: Dataset, *, needs_fixations: Sequence[str] = ()
) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """Check every triplet cheaply before scoring.

    Parameters
    ----------
    dataset : Dataset
        The dataset to check.
    needs_fixations : sequence of str, optional
        Names of requested metrics that need stored fixations.

    Returns
    -------
    bad : dict
        ``{triplet_id: reason}`` for every triplet that cannot be scored: empty text,
        missing or unreadable image or map, a map whose shape is not the image's,
        missing fixations for a fixation metric.
    sizes : dict
        ``{triplet_id: (H, W)}`` of the images of the good triplets.
    """
    bad: dict[str, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    image_sizes: dict[str, tuple[int, int] | str] = {}
    for t in dataset:
        if not t.text.strip():
            bad[t.triplet_id] = "empty text"
            continue
        if t.image_path not in image_sizes:
            try:
                image_sizes[t.image_path] = _image_size(t.image_path)
            except FileNotFoundError:
                image_sizes[t.image_path] = f"image {t.image_path} is missing"
            except OSError as exc:
                image_sizes[t.image_path] = f"image {t.image_path} is unreadable: {exc}"
        size = image_sizes[t.image_path]
        if isinstance(size, str):
            bad[t.triplet_id] = size
            continue
        try:
            human = dataset.load_map(t)
        except DatasetError as exc:
            bad[t.triplet_id] = str(exc).split(": ", 1)[-1]
            continue
        if human.shape != size:
            bad[t.triplet_id] = (f"human map {Path(t.human_map_path).name} has shape "
                                 f"{human.shape}, the image {Path(t.image_path).name} is {size}")
            continue
        if not human.sum() > 0:
            bad[t.triplet_id] = f"human map {Path(t.human_map_path).name} is all zero"
            continue
        if needs_fixations:
            if t.fixations_path is None:
                bad[t.triplet_id] = (f"metric(s) {', '.join(needs_fixations)} need fixations; "
                                     "none are stored for this triplet")
                continue
            try:
                dataset.load_fixations(t)
            except DatasetError as exc:
                bad[t.triplet_id] = str(exc).split(": ", 1)[-1]
                continue
        sizes[t.triplet_id] = size
    return bad, sizes


def _bad_message(bad: Mapping[str, str], *, hint: bool = True) -> str:
    items = list(bad.items())
    lines = [f"triplet {tid!r}: {why}" if not tid.startswith("line ") else f"{tid}: {why}"
             for tid, why in items[:10]]
    more = f" (and {len(items) - 10} more)" if len(items) > 10 else ""
    tail = "; pass skip_bad=True (--skip-bad) to score the others" if hint else ""
    return f"{len(items)} bad triplet(s){more}: " + "; ".join(lines) + tail


# --------------------------------------------------------------------------- run folder


def _incompatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a run with config ``new`` may not reuse a folder holding ``old`` (empty: it may).

    Everything that changes a number must be equal: dataset, seed, bootstrap settings,
    the models already scored (ids, revisions, methods, options). New models may follow
    the old ones and metrics may be added: the old numbers stay exactly as they were.
    """
    out = sorted(k for k in set(old) | set(new)
                 if k not in ("models", "metrics") and old.get(k) != new.get(k))
    old_models = list(old.get("models", []))
    if list(new.get("models", []))[:len(old_models)] != old_models:
        out.append("models (the run's models must come first, in order, with the same ids, "
                   "revisions, methods and options)")
    if not set(old.get("metrics", [])) <= set(new.get("metrics", [])):
        out.append("metrics (a rerun may add metrics, not drop them)")
    return out


def _dataset_fingerprint(ds: Dataset) -> str:
    """A hash of the dataset's index files and of the size and modification time of
    every file its triplets name, so a run notices a dataset changed under it."""
    root = Path(ds.root)
    h = hashlib.sha256()
    for name in ("triplets.jsonl", "dataset.json"):
        p = root / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    seen: set[str] = set()
    for t in ds:
        for f in (t.image_path, t.human_map_path, t.fixations_path):
            if f is None or f in seen:
                continue
            seen.add(f)
            try:
                st = os.stat(f)
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()[:16]


class _RunFolder:
    """OUT: resumes the same configuration, extends a run with more models or metrics,
    refuses anything that would change a number it already holds."""

    def __init__(self, out: Path, config: Mapping[str, Any]) -> None:
        self.root = out
        self.config = _jsonable(dict(config))
        run_json = out / "run.json"
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        doc: dict[str, Any] = {"format": RUN_FORMAT, "version": 1, "vista_version": __version__,
                               "config": self.config, "previous_configs": []}
        if run_json.is_file():
            try:
                old = json.loads(run_json.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise FileExistsError(f"{run_json} is not valid JSON ({exc}); choose a new "
                                      "output folder") from exc
            old_cfg = old.get("config", {})
            blocking = _incompatible(old_cfg, self.config)
            if blocking:
                raise FileExistsError(
                    f"{out} holds a scoring run that this one would change (differs in: "
                    f"{'; '.join(blocking)}); choose another output folder (--out). A rerun "
                    "into the same folder may only resume it or add models (after the run's "
                    "own) and metrics. vista never overwrites results."
                )
            if old_cfg != self.config:
                doc["previous_configs"] = [*old.get("previous_configs", []), old_cfg]
                write_atomic(run_json, (json.dumps(doc, indent=2) + "\n").encode())
            self._load_partial()
        else:
            if out.exists() and (not out.is_dir() or any(out.iterdir())):
                raise FileExistsError(
                    f"{out} is not empty and holds no vista scoring run (no run.json); choose "
                    "a new or empty output folder (--out): vista never writes over other files")
            out.mkdir(parents=True, exist_ok=True)
            write_atomic(run_json, (json.dumps(doc, indent=2) + "\n").encode())
        self._fh = open(out / _PARTIAL, "a", encoding="utf-8")
        if self._cut_short:  # end the cut line, so the next row starts a line of its own
            self._fh.write("\n")
            self._fh.flush()

    @property
    def _cut_short(self) -> bool:
        """True when the partial file's last line lacks its newline (a crash mid-write)."""
        p = self.root / _PARTIAL
        if not p.is_file() or p.stat().st_size == 0:
            return False
        with open(p, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"

    def _load_partial(self) -> None:
        p = self.root / _PARTIAL
        if not p.is_file():
            return
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash: scored again
                self.rows[(row["triplet_id"], row["model"])] = row

    def append(self, row: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(row, sort_keys=True, default=_json_default) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.rows[(str(row["triplet_id"]), str(row["model"]))] = dict(row)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


# --------------------------------------------------------------------------- result


@dataclass
class ScoreResult:
    """What :func:`score` returns.

    Attributes
    ----------
    rows : list of dict
        One per (triplet, model): ``triplet_id``, ``model`` and one value per metric.
    summary : dict
        Everything written to ``summary.json``: per model and metric the mean, the
        bootstrap interval and (``paper=True``) the five paper values; the paired
        differences against the first model; skipped triplets; provenance.
    out : Path or None
        The run folder, when one was written.
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    out: Path | None = None
    models: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> dict[str, str]:
        """``{triplet_id: reason}`` of the bad triplets left out of every model."""
        return dict(self.summary.get("skipped", {}).get("bad", {}))

    def table(self) -> str:
        """The paper-layout text table (see :func:`format_table`)."""
        return format_table(self.summary)

    def mean(self, model: str, metric: str) -> float:
        """The mean of ``metric`` over the triplets scored for ``model``."""
        v = self.summary["results"][model][metric]["mean"]
        return math.nan if v is None else float(v)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{float(v):.{digits}f}"


def _cell(res: Mapping[str, Any], *, paper: bool) -> str:
    if paper and res.get("paper"):
        inner = ", ".join(_fmt(v) for v in res["paper"])
    else:
        inner = f"{_fmt(res.get('low'))}, {_fmt(res.get('high'))}"
    return f"{_fmt(res.get('mean'))} [{inner}]"


def _p(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p=nan"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _table_rows(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    paper = bool(summary["bootstrap"].get("paper"))
    metrics = list(summary["metrics"])
    header = ["model", "n", *(_metric_label(m) for m in metrics)]
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
                         f"{_p(c['p_value'])}")
        comp.append([f"{model} - {per.get('_vs', '')}", str(per.get("_n", "")), *cells])
    return header, body, comp


def format_table(summary: Mapping[str, Any], *, markdown: bool = False) -> str:
    """The summary as a table in the paper's layout.

    One row per model: the mean of each metric and, in brackets, the 95% bootstrap
    interval or, for a ``paper=True`` run, the five paper-mode bootstrap values. With
    several models, a second table gives each model's paired-bootstrap difference
    from the first model, with its interval and two-sided p-value.
    """
    header, body, comp = _table_rows(summary)
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


# --------------------------------------------------------------------------- summary


def _summarise(
    rows: Sequence[Mapping[str, Any]], models: Sequence[str], metrics: Sequence[str], *,
    seed: int, n_boot: int, paper: bool, interval: str, confidence: float,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    boot = _bootstrap_api()
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
    results: dict[str, Any] = {}
    for model in models:
        results[model] = {}
        for k in metrics:
            vals = np.array(list(values[model][k].values()), dtype=np.float64)
            finite = vals[np.isfinite(vals)]
            res: dict[str, Any] = {"n": int(finite.size), "n_nan": int(vals.size - finite.size)}
            if finite.size == 0:
                res.update(mean=math.nan, low=math.nan, high=math.nan)
                if paper:
                    res["paper"] = [math.nan] * 5
            else:
                ci = boot.bootstrap(finite, mode="ci", n_boot=n_boot, interval=interval,
                                    confidence=confidence, rng=np.random.default_rng([seed, 1]))
                res.update(mean=float(np.mean(finite)), low=float(ci.low), high=float(ci.high))
                if paper:
                    pr = boot.bootstrap(finite, mode="paper", rng=np.random.default_rng([seed, 2]))
                    res["paper"] = [float(x) for x in np.asarray(pr.replicates).ravel()]
            results[model][k] = res
    comparisons: dict[str, Any] = {}
    if len(models) > 1:
        first = models[0]
        for model in models[1:]:
            per: dict[str, Any] = {"_vs": first}
            n_common = 0
            for k in metrics:
                a_map, b_map = values[model][k], values[first][k]
                common = [t for t in a_map if t in b_map
                          and math.isfinite(a_map[t]) and math.isfinite(b_map[t])]
                n_common = max(n_common, len(common))
                if len(common) < 2:
                    continue
                a = np.array([a_map[t] for t in common])
                b = np.array([b_map[t] for t in common])
                pb = boot.paired_bootstrap(a, b, n_boot=n_boot, confidence=confidence,
                                           rng=np.random.default_rng([seed, 3]))
                per[k] = {"vs": first, "n": len(common), "difference": float(pb.difference),
                          "low": float(pb.low), "high": float(pb.high),
                          "p_value": float(pb.p_value)}
            per["_n"] = n_common
            comparisons[model] = per
    return results, comparisons, warn


# --------------------------------------------------------------------------- score


def _as_seed(rng: np.random.Generator | int | None) -> int:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        check_int("rng", rng, minimum=0)
        return int(rng)
    return int(as_rng(rng).integers(0, 2**63 - 1))


def score(
    dataset: Dataset | str | os.PathLike[str],
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
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """Score models against a dataset's human maps.

    Parameters
    ----------
    dataset : Dataset or path
        A dataset folder (see :mod:`vista.dataset`) or a dataset already read.
    models : sequence
        Registry explainer names (``"blip-itm-base"``, ...), baseline names
        (``"center"``, ``"uniform"``, ``"observers"``, ``"external:DIR"``), or source
        objects with ``name``, ``provenance()`` and ``predict(dataset, triplets, image)``.
        The first model is the reference of the paired comparisons.
    metrics : iterable of str, optional
        Metrics computed in addition to :data:`DEFAULT_METRICS` (``ncc``, ``auc_borji``).
    out : path, optional
        Run folder (see the module docstring). None keeps everything in memory (and
        caches nothing).
    rng : int, Generator or None, optional
        Seed (default 0). Each triplet's random draws (AUC sampling) come from a
        generator seeded by (seed, triplet id, metric), so every model is scored on the
        same draws, and a resumed run gives the numbers of an uninterrupted one. A
        Generator or None is turned into a recorded integer seed.
    n_boot : int, optional
        Bootstrap resamples for the intervals and paired differences (default 1000).
    paper : bool, optional
        Also compute the five paper-mode bootstrap values (VISTA's Table 1 brackets).
    interval : {"percentile", "bca"}, optional
        Bootstrap interval type (default percentile).
    confidence : float, optional
        Interval coverage (default 0.95).
    cache : bool, optional
        Read and write cached model maps under ``OUT/maps/MODEL/`` (default True).
    skip_bad : bool, optional
        Leave out (and list) triplets that cannot be scored instead of raising.
    weights, device, method : str, optional
        Passed to :func:`vista.explain.load_explainer` (``weights`` only with one
        explainer model).
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of (triplet, model) pairs.

    Returns
    -------
    ScoreResult

    Raises
    ------
    DatasetError
        If triplets cannot be scored (each named with its reason) and not ``skip_bad``.
    FileExistsError
        If ``out`` holds a run with another configuration.
    FileNotFoundError
        If ``external:DIR`` lacks maps for some triplets (listed) and not ``skip_bad``.

    Examples
    --------
    >>> result = score(demo_dataset_path(), ["center", "uniform"], n_boot=100)
    >>> len(result.rows), result.rows[0]["model"], result.mean("uniform", "auc_borji")
    (48, 'center', 0.5)
    >>> print(result.table())  # doctest: +ELLIPSIS
    SYNTHETIC dataset: ...
    model    n   NCC                   AUC-Borji...
    center   24  0.167 [...
    """
    metric_list = list(dict.fromkeys([*DEFAULT_METRICS, *metrics]))
    mapi = _metrics()
    known = list(mapi.metric_names())
    for m in metric_list:
        check_option("metric", m, known)
    specs = {m: mapi.get_metric(m) for m in metric_list}
    n_boot = check_int("n_boot", n_boot, minimum=2)
    check_option("interval", interval, ["percentile", "bca"])
    if not 0 < float(confidence) < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    if not models:
        raise ValueError("models must name at least one model")
    for m in models:
        if isinstance(m, str):
            _check_model_name(m)
    given = [m if isinstance(m, str) else getattr(m, "name", "?") for m in models]
    if len(set(given)) != len(given):
        raise ValueError(f"models must be distinct; got {given}")
    n_explainers = sum(1 for m in models if isinstance(m, str) and not is_baseline_name(m))
    if weights is not None and n_explainers != 1:
        raise ValueError(f"weights applies to exactly one explainer model; got {n_explainers}")
    seed = _as_seed(rng)

    ds = dataset if isinstance(dataset, Dataset) else read_dataset(dataset, skip_bad=skip_bad)
    status = str((ds.info.get("provenance") or {}).get("status", ""))
    if status.startswith("incomplete") and not skip_bad:
        raise DatasetError(
            f"dataset {ds.root} is incomplete ({status}); rebuild it with vista maps into a "
            "new folder, or pass --skip-bad (skip_bad=True) to score the triplets it holds")
    bad = dict(ds.bad)
    ds_root = Path(ds.root).resolve()
    needs_fix = [m for m, s in specs.items() if s.needs != "density"]
    more_bad, sizes = check_triplets(ds, needs_fixations=needs_fix)
    bad.update(more_bad)
    if bad and not skip_bad:
        raise DatasetError(_bad_message(bad))
    good = [t for t in ds if t.triplet_id not in bad]
    if not good:
        raise DatasetError("no triplet left to score: " + (
            _bad_message(bad, hint=False) if bad else f"{ds_root} holds no triplet"))

    sources = [_make_source(m, weights=weights, device=device, method=method) for m in models]
    names = [str(s.name) for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"models must have distinct row names; got {names}")
    per_model_skip: dict[str, dict[str, str]] = {s.name: {} for s in sources}
    for s in sources:
        if isinstance(s, InterObserver):
            per_model_skip[s.name].update(s.prepare(good))
        missing = getattr(s, "missing", None)
        if callable(missing):
            lost = missing([t.triplet_id for t in good])
            if lost and not skip_bad:
                raise FileNotFoundError(
                    f"{s.name}: no map file for {len(lost)} triplet(s): {', '.join(lost[:20])}"
                    + (" ..." if len(lost) > 20 else "")
                    + f" (expected ID.npy or ID.png in {getattr(s, 'directory', '?')})"
                )
            per_model_skip[s.name].update({t: "no map file" for t in lost})

    provenance = {s.name: _jsonable(s.provenance()) for s in sources}
    metric_info = {m: {"higher_is_better": bool(specs[m].higher_is_better),
                       "needs": specs[m].needs,
                       "description": str(getattr(specs[m], "description", "")),
                       "options": _metric_options(specs[m])} for m in metric_list}
    ds_fingerprint = _dataset_fingerprint(ds)
    config = {
        "dataset": str(ds_root),
        "dataset_fingerprint": ds_fingerprint,
        "models": [{k: v for k, v in provenance[n].items() if k != "n_resized"} for n in names],
        "metrics": metric_list,
        "seed": seed,
        "n_boot": n_boot,
        "paper": bool(paper),
        "interval": interval,
        "confidence": float(confidence),
    }
    run = _RunFolder(Path(out), config) if out is not None else None
    done: dict[tuple[str, str], dict[str, Any]] = dict(run.rows) if run else {}

    # other images' fixations for the shuffled metrics, in normalised coordinates
    others_norm: dict[str, tuple[str, np.ndarray]] = {}
    if any(s.needs == "fixations+others" for s in specs.values()):
        for t in good:
            f = ds.load_fixations(t)
            if f is not None:
                h, w = sizes[t.triplet_id]
                others_norm[t.triplet_id] = (t.image_path, f / np.array([w, h, 1.0]))

    groups: dict[str, list[Triplet]] = {}
    for t in good:
        groups.setdefault(t.image_path, []).append(t)
    todo_total = sum(1 for t in good for s in sources
                     if t.triplet_id not in per_model_skip[s.name])
    def complete(key: tuple[str, str]) -> bool:
        row = done.get(key)
        return row is not None and all(m in row for m in metric_list)

    good_ids = {t.triplet_id for t in good}
    n_done = min(sum(1 for key in done if key[0] in good_ids and complete(key)), todo_total)
    if progress is not None:
        progress(n_done, todo_total)

    try:
        for image_path, group in groups.items():
            pending = {s.name: [t for t in group if not complete((t.triplet_id, s.name))
                                and t.triplet_id not in per_model_skip[s.name]]
                       for s in sources}
            if not any(pending.values()):
                continue
            image = ds.load_image(group[0])
            image_sha = _file_sha256(image_path) if any(
                getattr(s, "cacheable", False) for s in sources) else ""
            humans = {t.triplet_id: ds.load_map(t) for t in group}
            fixes = ({t.triplet_id: ds.load_fixations(t) for t in group} if needs_fix else {})
            for s in sources:
                todo = pending[s.name]
                if not todo:
                    continue
                maps = _model_maps(s, ds, todo, image, image_sha, provenance[s.name],
                                   run.root if (run and cache) else None)
                for t, sal in zip(todo, maps, strict=True):
                    old = done.get((t.triplet_id, s.name), {})
                    wanted = {m: spec for m, spec in specs.items() if m not in old}
                    row = _score_one(t, s.name, sal, humans[t.triplet_id],
                                     fixes.get(t.triplet_id), wanted, seed, sizes,
                                     others_norm, image_path)
                    if old:  # a run extended with metrics: keep the old values as they are
                        warned = {**old.get("warnings", {}), **row.get("warnings", {})}
                        row = {**old, **row, **({"warnings": warned} if warned else {})}
                    if run is not None:
                        run.append(row)
                    done[(t.triplet_id, s.name)] = row
                    n_done += 1
                    if progress is not None:
                        progress(n_done, todo_total)
    finally:
        if run is not None:
            run.close()

    order = {t.triplet_id: i for i, t in enumerate(good)}
    rows = sorted((r for k, r in done.items() if k[0] in order and k[1] in names),
                  key=lambda r: (order[r["triplet_id"]], names.index(r["model"])))
    results, comparisons, warn = _summarise(
        rows, names, metric_list, seed=seed, n_boot=n_boot, paper=paper, interval=interval,
        confidence=float(confidence))
    for s in sources:  # counts known only after predicting (e.g. resized external maps)
        provenance[s.name] = _jsonable(s.provenance())
    summary = {
        "format": "vista-score-summary",
        "version": 1,
        "vista_version": __version__,
        "dataset": {"path": str(ds_root), "name": str(ds.info.get("name", ds_root.name)),
                    "synthetic": ds.synthetic, "provenance": ds.info.get("provenance", {}),
                    "fingerprint": ds_fingerprint,
                    "n_triplets": len(ds) + sum(1 for k in bad if k not in
                                                {t.triplet_id for t in ds}),
                    "n_scored": len(good)},
        "models": provenance,
        "metrics": metric_info,
        "seed": seed,
        "rng": "numpy default_rng([seed, hash(triplet id), hash(metric name)]) per triplet "
               "and metric, hash = the first 8 bytes of sha256(UTF-8 text) as a little-endian "
               "integer; bootstrap default_rng([seed, 1|2|3]) for interval|paper|paired",
        "bootstrap": {"n_boot": n_boot, "interval": interval, "confidence": float(confidence),
                      "paper": bool(paper), "resampling": "triplets, with replacement"},
        "results": results,
        "comparisons": comparisons,
        "skipped": {"bad": bad, "per_model": {k: v for k, v in per_model_skip.items() if v}},
        "warnings": warn,
    }
    summary = _jsonable(summary)
    if run is not None:
        _write_outputs(run.root, rows, metric_list, summary)
    return ScoreResult(rows=[{k: v for k, v in r.items() if k != "warnings"} for r in rows],
                       summary=summary, out=run.root if run else None, models=names,
                       metrics=metric_list)


def _model_maps(source: Any, ds: Dataset, todo: list[Triplet], image: np.ndarray,
                image_sha: str, prov: Mapping[str, Any], out: Path | None) -> list[np.ndarray]:
    """Maps of ``todo`` from the cache where present, the rest in one batch."""
    cacheable = bool(getattr(source, "cacheable", False)) and out is not None
    result: list[np.ndarray | None] = [None] * len(todo)
    keys: list[str] = []
    folder = None
    if cacheable:
        assert out is not None
        folder = out / "maps" / _safe_dirname(source.name)
        for i, t in enumerate(todo):
            key = map_cache_key(image_sha, t.text, prov)
            keys.append(key)
            p = folder / f"{key}.npy"
            if p.is_file():
                try:
                    result[i] = np.load(p, allow_pickle=False)
                except (OSError, ValueError):
                    result[i] = None  # unreadable cache entry: recompute
    missing = [i for i, r in enumerate(result) if r is None]
    if missing:
        made = source.predict(ds, [todo[i] for i in missing], image)
        if len(made) != len(missing):
            raise RuntimeError(f"{source.name} returned {len(made)} maps for {len(missing)} texts")
        for i, m in zip(missing, made, strict=True):
            values = m.values if isinstance(m, SaliencyMap) else np.asarray(m, dtype=np.float32)
            result[i] = values
            if cacheable and folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                params = m.params if isinstance(m, SaliencyMap) else {}
                meta = {"triplet_id": todo[i].triplet_id, "text": todo[i].text,
                        "image_sha256": image_sha, "model": dict(prov), "params": dict(params)}
                write_atomic(folder / f"{keys[i]}.json",
                             json.dumps(meta, sort_keys=True, default=_json_default).encode())
                save_npy_atomic(folder / f"{keys[i]}.npy", np.asarray(values, dtype=np.float32))
    return [np.asarray(r, dtype=np.float32) for r in result if r is not None]


def _score_one(t: Triplet, model: str, sal: np.ndarray, human: np.ndarray,
               fix: np.ndarray | None, specs: Mapping[str, Any], seed: int,
               sizes: Mapping[str, tuple[int, int]],
               others_norm: Mapping[str, tuple[str, np.ndarray]],
               image_path: str) -> dict[str, Any]:
    mapi = _metrics()
    if sal.shape != human.shape:
        raise ValueError(f"triplet {t.triplet_id!r}: {model} map has shape {sal.shape}, the "
                         f"human map {human.shape}")
    row: dict[str, Any] = {"triplet_id": t.triplet_id, "model": model}
    caught: dict[str, list[str]] = {}
    for name, spec in specs.items():
        kwargs: dict[str, Any] = {}
        if spec.needs in ("fixations", "fixations+others"):
            kwargs["fixations"] = fix
        if spec.needs == "fixations+others":
            h, w = sizes[t.triplet_id]
            others = [f for img, f in others_norm.values() if img != image_path]
            kwargs["other_fixations"] = (np.concatenate(others) * np.array([w, h, 1.0])
                                         if others else np.zeros((0, 3)))
        rng = np.random.default_rng([seed, _stable_int(t.triplet_id), _stable_int(name)])
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            try:
                value = mapi.compute(name, sal, human, rng=rng, **kwargs)
            except ValueError as exc:  # say which map it was: the run has hundreds
                raise ValueError(f"triplet {t.triplet_id!r}, model {model!r}, metric "
                                 f"{name!r}: {exc}") from exc
        if ws:
            caught[name] = sorted({str(w.message) for w in ws})
        row[name] = float(value)
    if caught:
        row["warnings"] = caught
    return row


def _write_outputs(out: Path, rows: Sequence[Mapping[str, Any]], metrics: Sequence[str],
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
    write_atomic(out / "summary.md", _markdown(summary).encode())


def _nan_to_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_null(v) for v in value]
    return value


def _markdown(summary: Mapping[str, Any]) -> str:
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


def read_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a finished run folder's ``summary.json`` (FileNotFoundError if unfinished)."""
    p = Path(path) / "summary.json"
    if not Path(path).is_dir():
        raise FileNotFoundError(f"run folder {path} does not exist")
    if not p.is_file():
        partial = (Path(path) / _PARTIAL).is_file()
        raise FileNotFoundError(
            f"{p} is missing: " + ("the run was interrupted; rerun the same `vista score` "
                                   "command to finish it" if partial else
                                   "not a vista score output folder"))
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


class Run:
    """A finished scoring run, read back for figures and reports.

    Attributes
    ----------
    root : Path
        The run folder.
    summary : dict
        ``summary.json``.
    dataset : Dataset
        The scored dataset (read from the path the run recorded).
    scores : dict
        ``{(triplet_id, model): {metric: value}}`` from ``scores.csv``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        self.summary = read_run(self.root)
        self.dataset = read_dataset(self.summary["dataset"]["path"])
        recorded = self.summary["dataset"].get("fingerprint")
        if recorded is not None and recorded != _dataset_fingerprint(self.dataset):
            warnings.warn(
                f"dataset {self.dataset.root} changed since the run in {self.root} (its "
                "fingerprint differs): figures draw its current maps beside the run's scores; "
                "rerun vista score into a new folder for scores of the current data",
                UserWarning, stacklevel=2)
        self.scores: dict[tuple[str, str], dict[str, float]] = {}
        with open(self.root / "scores.csv", encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                self.scores[(row["triplet_id"], row["model"])] = {
                    k: (float(v) if v != "" else math.nan) for k, v in row.items()
                    if k not in ("triplet_id", "model")}
        self._sha: dict[str, str] = {}
        self._sources: dict[str, Any] = {}

    @property
    def models(self) -> list[str]:
        return list(self.summary["results"])

    @property
    def metrics(self) -> list[str]:
        return list(self.summary["metrics"])

    def scored_triplets(self) -> list[Triplet]:
        """The dataset's triplets that have a score, in dataset order."""
        ids = {tid for tid, _ in self.scores}
        return [t for t in self.dataset if t.triplet_id in ids]

    def model_map(self, triplet: Triplet, model: str) -> np.ndarray | None:
        """The map ``model`` gave for ``triplet``: from the run's cache for explainers
        (None if the run did not cache it), recomputed for the baselines."""
        from .baselines import baseline_from_provenance

        prov = self.summary["models"][model]
        if prov.get("kind") == "explainer":
            if triplet.image_path not in self._sha:
                self._sha[triplet.image_path] = _file_sha256(triplet.image_path)
            key = map_cache_key(self._sha[triplet.image_path], triplet.text, prov)
            p = self.root / "maps" / _safe_dirname(model) / f"{key}.npy"
            return np.load(p, allow_pickle=False) if p.is_file() else None
        if model not in self._sources:
            src = baseline_from_provenance(prov)
            if isinstance(src, InterObserver):
                src.prepare(self.scored_triplets())
            self._sources[model] = src
        image = self.dataset.load_image(triplet)
        try:
            return np.asarray(self._sources[model].predict(self.dataset, [triplet], image)[0])
        except (ValueError, FileNotFoundError):
            return None
