"""The plan of a scoring run: options checked and bounded, the dataset read and checked,
the rows resolved and prepared, all before any file is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import as_rng, check_int, check_option
from ..errors import DatasetError
from ..records import Triplet
from .baselines import MissingMapsError
from .runfolder import dataset_fingerprint
from .sources import jsonable, resolve_source
from .summary import metric_options

__all__ = ["DEFAULT_METRICS", "MAX_BOOTSTRAP", "Options", "Plan", "check_options",
           "check_triplets", "demo_dataset_path", "make_plan"]

DEFAULT_METRICS = ("ncc", "auc_borji")
"""Metrics every run computes (VISTA's Table 1); ``metrics=`` adds to them."""

MAX_BOOTSTRAP = 100_000
"""The most bootstrap resamples a run takes (``n_boot``, ``--bootstrap``)."""

MAX_BOOTSTRAP_CELLS = 250_000_000
"""The most resample indices (``n_boot`` × scored triplets) one interval may draw: the
bootstrap draws them in one (n_boot, n) integer matrix, 8 bytes each (2 GB here)."""

MAX_SEED = 2**63 - 1


def demo_dataset_path() -> Path:
    """The demo dataset shipped with the package (SYNTHETIC: simulated observers).

    Examples
    --------
    >>> (demo_dataset_path() / "triplets.jsonl").is_file()
    True
    """
    from importlib.resources import files

    return Path(str(files("vista"))) / "data" / "demo"


@dataclass(frozen=True)
class Options:
    """The checked options of a run (what ``run.json`` records besides the data)."""

    metrics: list[str]
    seed: int
    n_boot: int
    paper: bool
    interval: str
    confidence: float
    resample: str | None = None
    control: str | None = None


def _as_seed(rng: np.random.Generator | int | None) -> int:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = check_int("rng", rng, minimum=0)
        if seed > MAX_SEED:
            raise ValueError(f"rng (--seed) must be an integer in [0, 2**63 - 1]; got {rng!r}")
        return seed
    return int(as_rng(rng).integers(0, MAX_SEED))


def check_options(*, metrics: Iterable[str], rng: Any, n_boot: Any, paper: bool,
                  interval: str, confidence: Any, resample: str | None = None,
                  control: str | None = None) -> Options:
    """Check and bound every numeric and named option (ValueError/TypeError naming it)."""
    from ..metrics import metric_names

    if isinstance(metrics, str):
        raise TypeError(f"metrics must be a list of metric names; got the string {metrics!r}")
    metric_list = list(dict.fromkeys([*DEFAULT_METRICS, *metrics]))
    known = list(metric_names())
    for m in metric_list:
        check_option("metric", m, known)
    n_boot = check_int("n_boot", n_boot, minimum=2)
    if n_boot > MAX_BOOTSTRAP:
        raise ValueError(f"n_boot (--bootstrap) must be at most {MAX_BOOTSTRAP}; got {n_boot}")
    check_option("interval", interval, ["percentile", "bca"])
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)) \
            or not 0 < float(confidence) < 1:
        raise ValueError(f"confidence must be a number in (0, 1); got {confidence!r}")
    if resample is not None:
        check_option("resample", resample, ["triplet", "image", "participant"])
    if control is not None:
        check_option("control", control, ["other-text"])
    return Options(metric_list, _as_seed(rng), n_boot, bool(paper), interval, float(confidence),
                   resample, control)


def _weights_by_row(models: Sequence[Any], weights: str | Mapping[str, str] | None
                    ) -> dict[str, str]:
    """``weights`` as {row: weights}; a bare folder goes to the one explainer row."""
    from .sources import is_explainer_row

    if weights is None:
        return {}
    explainers = [m for m in models if isinstance(m, str) and is_explainer_row(m)]
    if isinstance(weights, str):
        if len(explainers) != 1:
            raise ValueError(f"weights applies to exactly one explainer model; got "
                             f"{len(explainers)} (or name the row: --weights ROW=DIR)")
        return {explainers[0]: weights}
    if not isinstance(weights, Mapping):
        raise TypeError(f"weights must be a folder or a mapping row -> folder; got {weights!r}")
    for row in weights:
        if row not in explainers:
            raise ValueError(f"weights: {row!r} is not one of the explainer models of this "
                             f"run ({', '.join(explainers) or 'none'})")
    return {str(k): str(v) for k, v in weights.items()}


def resolve_rows(models: Sequence[Any], *, weights: str | Mapping[str, str] | None,
                 device: str | None, precision: str | None = None) -> list[Any]:
    """The sources of ``models`` (nothing loaded yet), with distinct row names."""
    if isinstance(models, str) or not models:
        raise ValueError("models must name at least one model (a list of rows)")
    given = [m if isinstance(m, str) else getattr(m, "name", "?") for m in models]
    if len(set(given)) != len(given):
        raise ValueError(f"models must be distinct; got {given}")
    by_row = _weights_by_row(models, weights)
    sources = [resolve_source(m, weights=by_row.get(m) if isinstance(m, str) else None,
                              device=device if isinstance(m, str) else None,
                              precision=precision if isinstance(m, str) else None)
               for m in models]
    names = [str(s.name) for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"models must have distinct row names; got {names}")
    return sources


@dataclass
class Plan:
    """Everything a run needs, known before it writes a file."""

    dataset: Any
    good: list[Triplet]
    bad: dict[str, str]
    sizes: dict[str, tuple[int, int]]
    sources: list[Any]
    params: dict[str, dict[str, Any]]
    skips: dict[str, dict[str, str]]
    options: Options
    fingerprint: str
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [str(s.name) for s in self.sources]

    def config(self) -> dict[str, Any]:
        """``run.json``'s configuration: what must match for a run to be resumed."""
        o = self.options
        return {
            "dataset": str(Path(self.dataset.root).resolve()),
            "dataset_fingerprint": self.fingerprint,
            "models": [self.params[n] for n in self.names],
            "metrics": o.metrics,
            "seed": o.seed,
            "n_boot": o.n_boot,
            "paper": o.paper,
            "interval": o.interval,
            "confidence": o.confidence,
            # only when given, so that runs written before these options still resume
            **({"resample": o.resample} if o.resample is not None else {}),
            **({"control": o.control} if o.control is not None else {}),
        }

    def metric_info(self) -> dict[str, Any]:
        from ..metrics import get_metric

        out = {}
        for m in self.options.metrics:
            spec = get_metric(m)
            out[m] = {"higher_is_better": bool(spec.higher_is_better), "needs": spec.needs,
                      "description": str(getattr(spec, "description", "")),
                      "options": metric_options(spec)}
        return out


def _read(dataset: Any, skip_bad: bool) -> Any:
    from ..dataset import Dataset, read_dataset

    ds = dataset if isinstance(dataset, Dataset) else read_dataset(dataset, skip_bad=skip_bad)
    status = str((ds.info.get("provenance") or {}).get("status", ""))
    if status.startswith("incomplete") and not skip_bad:
        raise DatasetError(
            f"dataset {ds.root} is incomplete ({status}); rebuild it with vista maps into a "
            "new folder, or pass --skip-bad (skip_bad=True) to score the triplets it holds")
    return ds


def _good_triplets(ds: Any, options: Options, skip_bad: bool
                   ) -> tuple[list[Triplet], dict[str, str], dict[str, tuple[int, int]]]:
    from ..metrics import get_metric

    needs_fix = [m for m in options.metrics if get_metric(m).needs != "density"]
    bad = dict(ds.bad)
    more_bad, sizes = check_triplets(ds, needs_fixations=needs_fix)
    bad.update(more_bad)
    if bad and not skip_bad:
        raise DatasetError(bad_message(bad))
    good = [t for t in ds if t.triplet_id not in bad]
    if not good:
        raise DatasetError("no triplet left to score: " + (
            bad_message(bad, hint=False) if bad else f"{ds.root} holds no triplet"))
    cells = options.n_boot * len(good)
    if cells > MAX_BOOTSTRAP_CELLS:
        raise ValueError(f"n_boot (--bootstrap) {options.n_boot} × {len(good)} triplets needs "
                         f"{cells * 8 / 2**30:.1f} GiB of resample indices; use at most "
                         f"{MAX_BOOTSTRAP_CELLS // len(good)} resamples for this dataset")
    return good, bad, sizes


def _prepare(sources: Sequence[Any], scorable: Any, skip_bad: bool) -> dict[str, dict[str, str]]:
    """Each source's triplets it cannot predict; a row left with none is an error."""
    skips: dict[str, dict[str, str]] = {}
    for s in sources:
        prepare = getattr(s, "prepare", None)
        try:
            skips[s.name] = dict(prepare(scorable)) if callable(prepare) else {}
        except MissingMapsError as exc:
            if not skip_bad:
                raise
            skips[s.name] = exc.reasons
        if len(scorable) and len(skips[s.name]) >= len(scorable):
            why = next(iter(skips[s.name].values()))
            raise DatasetError(f"model {s.name!r} cannot score any of the {len(scorable)} "
                               f"triplet(s) ({why}); drop it from --model")
    return skips


def make_plan(dataset: Any, sources: Sequence[Any], options: Options, *, skip_bad: bool,
              executor: Any) -> Plan:
    """Read and check the dataset, prepare the rows, and get each row's params (an
    explainer's weights are loaded here, where the executor runs them)."""
    ds = _read(dataset, skip_bad)
    good, bad, sizes = _good_triplets(ds, options, skip_bad)
    skips = _prepare(sources, replace(ds, triplets=good, bad={}), skip_bad)
    params = {s.name: jsonable(executor.params(s)) for s in sources}
    hashes: dict[str, str] = {}
    fingerprint = dataset_fingerprint(ds, hashes)
    return Plan(ds, good, bad, sizes, list(sources), params, skips, options, fingerprint,
                hashes)


def _size_or_reason(path: str) -> tuple[int, int] | str:
    from ..imaging import image_size

    try:
        return image_size(path)
    except FileNotFoundError:
        return f"image {path} is missing"
    except (OSError, ValueError) as exc:
        return f"image {path} is unreadable: {exc}"


def _triplet_problem(dataset: Any, t: Triplet, size: tuple[int, int],
                     needs_fixations: Sequence[str]) -> str | None:
    try:
        human = dataset.load_map(t)
    except DatasetError as exc:
        return str(exc).split(": ", 1)[-1]
    if human.shape != size:
        return (f"human map {Path(t.human_map_path).name} has shape {human.shape}, the "
                f"image {Path(t.image_path).name} is {size}")
    if not human.sum() > 0:
        return f"human map {Path(t.human_map_path).name} is all zero"
    if needs_fixations:
        if t.fixations_path is None:
            return (f"metric(s) {', '.join(needs_fixations)} need fixations; none are stored "
                    "for this triplet")
        try:
            dataset.load_fixations(t)
        except DatasetError as exc:
            return str(exc).split(": ", 1)[-1]
    return None


def check_triplets(
    dataset: Any, *, needs_fixations: Sequence[str] = ()
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
            image_sizes[t.image_path] = _size_or_reason(t.image_path)
        size = image_sizes[t.image_path]
        problem = size if isinstance(size, str) else _triplet_problem(dataset, t, size,
                                                                       needs_fixations)
        if problem is not None:
            bad[t.triplet_id] = problem
        else:
            assert not isinstance(size, str)
            sizes[t.triplet_id] = size
    return bad, sizes


def bad_message(bad: Mapping[str, str], *, hint: bool = True) -> str:
    items = list(bad.items())
    lines = [f"triplet {tid!r}: {why}" if not tid.startswith("line ") else f"{tid}: {why}"
             for tid, why in items[:10]]
    more = f" (and {len(items) - 10} more)" if len(items) > 10 else ""
    tail = "; pass skip_bad=True (--skip-bad) to score the others" if hint else ""
    return f"{len(items)} bad triplet(s){more}: " + "; ".join(lines) + tail


def fixation_pool(plan: Plan) -> dict[str, tuple[str, np.ndarray]]:
    """Every good triplet's fixations in normalised image coordinates, with its image
    (the negatives of the shuffled metrics come from the other images')."""
    from ..metrics import get_metric

    if not any(get_metric(m).needs == "fixations+others" for m in plan.options.metrics):
        return {}
    out: dict[str, tuple[str, np.ndarray]] = {}
    for t in plan.good:
        f = plan.dataset.load_fixations(t)
        if f is not None:
            h, w = plan.sizes[t.triplet_id]
            out[t.triplet_id] = (t.image_path, f / np.array([w, h, 1.0]))
    return out
