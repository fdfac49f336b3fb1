"""What a scoring run gives back: :class:`ScoreResult` in memory, :func:`read_run` and
:class:`Run` from a finished run folder."""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_json
from ..records import Triplet
from .runfolder import JOURNAL, MapCache, dataset_fingerprint, file_sha256, legacy_fingerprint
from .runfolder import map_cache_key as _key
from .sources import source_from_params
from .summary import format_table, scores_frame, summary_frame

__all__ = ["Run", "RunData", "ScoreResult", "read_run"]


@dataclass
class ScoreResult:
    """What :func:`vista.scoring.score` returns.

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

    def to_frame(self) -> Any:
        """The scores as a long DataFrame: ``triplet_id``, ``model``, ``metric`` (str)
        and ``value`` (float64, NaN where undefined), one row per triplet, model and
        metric, in the order of ``scores.csv``. Needs pandas."""
        return scores_frame(self.rows, self.metrics)

    def summary_frame(self) -> Any:
        """The table with its intervals as a DataFrame (see
        :func:`vista.scoring.summary.summary_frame`). Needs pandas."""
        return summary_frame(self.summary)


def _read_scores_csv(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The metric columns and rows of ``scores.csv`` (empty cells and ``nan`` as NaN)."""
    from ..errors import ParseError

    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        if fields[:2] != ["triplet_id", "model"]:
            raise ParseError("the header must start with triplet_id, model", path=path, line=1)
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                values = {k: (float(v) if v != "" else math.nan) for k, v in row.items()
                          if k not in ("triplet_id", "model")}
            except (TypeError, ValueError):
                raise ParseError("a score is not a number", path=path, line=line) from None
            rows.append({"triplet_id": row["triplet_id"], "model": row["model"], **values})
    return fields[2:], rows


class RunData:
    """A finished run folder's results, read without its dataset.

    Attributes
    ----------
    root : Path
        The run folder.
    summary : dict
        ``summary.json``.
    config : dict
        ``run.json``'s configuration (empty if absent).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        if not self.root.is_dir():
            raise FileNotFoundError(f"run folder {path} does not exist")
        p = self.root / "summary.json"
        if not p.is_file():
            partial = (self.root / JOURNAL).is_file()
            raise FileNotFoundError(
                f"{p} is missing: " + ("the run was interrupted; rerun the same `vista score` "
                                       "command to finish it" if partial else
                                       "not a vista score output folder"))
        self.summary: dict[str, Any] = read_json(p, what="summary.json")
        run_json = self.root / "run.json"
        doc = read_json(run_json, what="run.json") if run_json.is_file() else {}
        self.format_version = int(doc.get("version", 1))
        self.config: dict[str, Any] = dict(doc.get("config") or {})

    @property
    def models(self) -> list[str]:
        return list(self.summary["results"])

    @property
    def metrics(self) -> list[str]:
        return list(self.summary["metrics"])

    @cached_property
    def _table(self) -> tuple[list[str], list[dict[str, Any]]]:
        return _read_scores_csv(self.root / "scores.csv")

    @property
    def rows(self) -> list[dict[str, Any]]:
        """``scores.csv`` as one dict per (triplet, model)."""
        return self._table[1]

    def frame(self) -> Any:
        """``scores.csv`` as a long DataFrame (see :meth:`ScoreResult.to_frame`)."""
        return scores_frame(self._table[1], self._table[0])

    @property
    def scores(self) -> Any:
        """``scores.csv`` as a long DataFrame: ``triplet_id``, ``model``, ``metric``,
        ``value`` (see :meth:`ScoreResult.to_frame`)."""
        return self.frame()

    def summary_frame(self) -> Any:
        """The summary table with its intervals as a DataFrame."""
        return summary_frame(self.summary)


def read_run(path: str | os.PathLike[str]) -> RunData:
    """Read a finished run folder (FileNotFoundError if unfinished).

    Returns
    -------
    RunData
        ``.summary`` (``summary.json``), ``.scores`` (a long DataFrame),
        ``.summary_frame()``, ``.models``, ``.metrics``.
    """
    return RunData(path)


class Run(RunData):
    """A finished scoring run with its dataset, for figures and reports.

    Attributes
    ----------
    dataset : Dataset
        The scored dataset (read once, when first used, from the path the run recorded).
    score_values : dict
        ``{(triplet_id, model): {metric: value}}`` from ``scores.csv``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.score_values: dict[tuple[str, str], dict[str, float]] = {
            (r["triplet_id"], r["model"]): {k: v for k, v in r.items()
                                            if k not in ("triplet_id", "model")}
            for r in self.rows}
        self._sha: dict[str, str] = {}
        self._sources: dict[str, Any] = {}
        self._image: tuple[str, np.ndarray] | None = None  # the last image read
        self._check_dataset()

    @property
    def scores(self) -> Any:
        """``{(triplet_id, model): {metric: value}}``, as figures and reports use it (the
        long DataFrame is :meth:`frame`)."""
        return self.score_values

    @cached_property
    def dataset(self) -> Any:
        from ..dataset import read_dataset

        return read_dataset(self.summary["dataset"]["path"])

    def _check_dataset(self) -> None:
        recorded = self.summary["dataset"].get("fingerprint")
        if recorded is None:
            return
        now = (dataset_fingerprint(self.dataset, self._sha) if self.format_version >= 2
               else legacy_fingerprint(self.dataset))
        if recorded != now:
            warnings.warn(
                f"dataset {self.dataset.root} changed since the run in {self.root} (its "
                "fingerprint differs): figures draw its current maps beside the run's scores; "
                "rerun vista score into a new folder for scores of the current data",
                UserWarning, stacklevel=3)

    def scored_triplets(self) -> list[Triplet]:
        """The dataset's triplets that have a score, in dataset order."""
        ids = {tid for tid, _ in self.score_values}
        return [t for t in self.dataset if t.triplet_id in ids]

    def model_map(self, triplet: Triplet, model: str) -> np.ndarray | None:
        """The map ``model`` gave for ``triplet``: from the run's cache for explainers
        (None if the run did not cache it), recomputed for the rows that need no weights
        (each source rebuilt and prepared once per run)."""
        params = self.summary["models"][model]
        if params.get("kind") == "explainer":
            if triplet.image_path not in self._sha:
                self._sha[triplet.image_path] = file_sha256(triplet.image_path)
            key = _key(self._sha[triplet.image_path], triplet.text, params)
            return MapCache(self.root).load(model, key, verify=self.format_version >= 2)
        if model not in self._sources:
            src = source_from_params(params)
            if hasattr(src, "prepare"):
                from dataclasses import replace

                try:
                    src.prepare(replace(self.dataset, triplets=self.scored_triplets()))
                except FileNotFoundError:
                    pass  # maps missing for some triplets: those give None below
            self._sources[model] = src
        if self._image is None or self._image[0] != triplet.image_path:
            self._image = (triplet.image_path, self.dataset.load_image(triplet))
        try:
            out = self._sources[model].maps(self._image[1], [triplet.text], [triplet])[0]
        except (ValueError, FileNotFoundError):
            return None
        return np.asarray(getattr(out, "values", out))
