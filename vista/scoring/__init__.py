"""Score models against a dataset of human maps (VISTA's Table 1).

- :mod:`~vista.scoring.sources`: the :class:`MapSource` protocol and the one registry of
  rows (explainers, ``center``, ``uniform``, ``observers``, ``human-other``, ``external:DIR``);
  :func:`resolve_source` parses and checks a row name.
- :mod:`~vista.scoring.baselines`: the rows that need no weights.
- :mod:`~vista.scoring.plan`: options, dataset and rows checked before any file is written.
- :mod:`~vista.scoring.run`: :func:`score` = plan -> score rows -> summarise.
- :mod:`~vista.scoring.executor`: where the model work runs (serial, processes, Dask).
- :mod:`~vista.scoring.runfolder`: the run folder, its journal and map cache.
- :mod:`~vista.scoring.summary`: the summary, tables, Markdown and DataFrames;
  :mod:`~vista.scoring.stats_summary`: resampling unit, Holm, win rates, ceilings.
- :mod:`~vista.scoring.controls`: ``human-other`` and ``--control other-text``.
- :mod:`~vista.scoring.results`: :class:`ScoreResult`, :func:`read_run`, :class:`Run`.
"""

from __future__ import annotations

from .baselines import CenterBias, External, InterObserver, Uniform, center_bias_map
from .controls import HumanOther, OtherText  # registers the human-other row
from .plan import DEFAULT_METRICS, MAX_BOOTSTRAP, check_triplets, demo_dataset_path
from .results import Run, RunData, ScoreResult, read_run
from .run import score
from .runfolder import default_run_folder, map_cache_key
from .sources import ExplainerSource, MapSource, resolve_source, row_names
from .summary import format_table, table_rows

__all__ = [
    "DEFAULT_METRICS",
    "MAX_BOOTSTRAP",
    "CenterBias",
    "ExplainerSource",
    "External",
    "HumanOther",
    "InterObserver",
    "MapSource",
    "OtherText",
    "Run",
    "RunData",
    "ScoreResult",
    "Uniform",
    "center_bias_map",
    "check_triplets",
    "default_run_folder",
    "demo_dataset_path",
    "format_table",
    "map_cache_key",
    "read_run",
    "resolve_source",
    "row_names",
    "score",
    "table_rows",
]
