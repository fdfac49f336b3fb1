"""Saliency metrics (pure functions on arrays) and bootstrap intervals.

One small module per family, as scikit-image's metrics: :mod:`.correlation` (NCC),
:mod:`.auc` (VISTA's AUC-Borji and the MIT AUCs), :mod:`.distribution` (NSS, SIM, KLD,
information gain, the centre-bias map); the input rules they share live in
:mod:`._shared`, the registry and :func:`compute` in :mod:`.registry`.

>>> import numpy as np, vista.metrics as vm
>>> h = np.array([[0.0, 0.2], [0.3, 0.5]])
>>> vm.compute("ncc", h, h)
1.0
>>> "auc_borji" in vm.metric_names()
True

The bootstrap lives in :mod:`vista.metrics.bootstrap` (``bootstrap``,
``paired_bootstrap``) and the statistics of a leaderboard (Holm adjustment, win rates,
Bradley-Terry ranking, noise ceilings) in :mod:`vista.metrics.stats`; they are not
re-exported here so that each module keeps its name.
"""

from __future__ import annotations

from ._shared import MATLAB_EPS, UndefinedMetricWarning, fixation_mask, resize_bilinear

# isort: off
# the import order of the families is the registration order of the metrics (the order
# of metric_names(), of the CLI's choices and of compute_all's results)
from .correlation import ncc
from .auc import auc_borji, auc_borji_mit, auc_judd, auc_shuffled
from .distribution import center_bias, info_gain, kld, nss, sim

# isort: on
from .registry import MetricSpec, compute, compute_all, get_metric, metric_names, register

__all__ = [
    "MATLAB_EPS",
    "MetricSpec",
    "UndefinedMetricWarning",
    "auc_borji",
    "auc_borji_mit",
    "auc_judd",
    "auc_shuffled",
    "center_bias",
    "compute",
    "compute_all",
    "fixation_mask",
    "get_metric",
    "info_gain",
    "kld",
    "metric_names",
    "ncc",
    "nss",
    "register",
    "resize_bilinear",
    "sim",
]
