"""Saliency metrics (pure functions on arrays) and bootstrap intervals.

>>> import numpy as np, vista.metrics as vm
>>> h = np.array([[0.0, 0.2], [0.3, 0.5]])
>>> vm.compute("ncc", h, h)
1.0
>>> "auc_borji" in vm.metric_names()
True

The bootstrap lives in :mod:`vista.metrics.bootstrap` (``bootstrap``,
``paired_bootstrap``); it is not re-exported here so that the module keeps its name.
"""

from __future__ import annotations

from .registry import MetricSpec, get_metric, metric_names, register
from .saliency import (
    MATLAB_EPS,
    UndefinedMetricWarning,
    auc_borji,
    auc_borji_mit,
    auc_judd,
    auc_shuffled,
    center_bias,
    compute,
    compute_all,
    fixation_mask,
    info_gain,
    kld,
    ncc,
    nss,
    resize_bilinear,
    sim,
)

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
