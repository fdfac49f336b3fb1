"""The metric registry (a :class:`vista._registry.Registry` of :class:`MetricSpec`) and
:func:`compute`, which scores one pair of maps with any registered metric.

The CLI's choices and :func:`compute` both read this registry, so a new metric is one
function and one ``@register(...)`` line; plugins add theirs through the
``vista.plugins`` entry-point group.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from .._registry import Registry
from .._validation import as_rng, check_option
from ._shared import _as_map, _fixation_indices, _points

__all__ = [
    "METRICS",
    "NEEDS",
    "MetricSpec",
    "compute",
    "compute_all",
    "get_metric",
    "metric_names",
    "register",
]

Needs = Literal["density", "fixations", "fixations+others"]
NEEDS: tuple[str, ...] = ("density", "fixations", "fixations+others")
"""What a metric compares the saliency map with: the human density map, the fixated
pixels, or the fixated pixels plus fixations from other images (shuffled AUC)."""

F = TypeVar("F", bound=Callable[..., float])


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"ncc"``.
    func : callable
        The metric function; its first argument is the saliency map, its second the
        human density map (``needs="density"``) or a binary fixation mask.
    needs : {"density", "fixations", "fixations+others"}
        What the second (and third) argument is.
    higher_is_better : bool
        False for divergences such as KLD.
    description : str
        One line for tables and ``--help``.
    """

    name: str
    func: Callable[..., float]
    needs: Needs
    higher_is_better: bool
    description: str

    def __post_init__(self) -> None:
        check_option("needs", self.needs, NEEDS)
        if not callable(self.func):
            raise TypeError(f"func must be callable; got {self.func!r}")


METRICS: Registry[MetricSpec] = Registry("metric")
"""Every registered metric, by name, in registration order."""


def register(
    name: str, *, needs: Needs, higher_is_better: bool = True, description: str = ""
) -> Callable[[F], F]:
    """Class the decorated function as the metric ``name``.

    Raises
    ------
    ValueError
        If ``name`` is already registered or ``needs`` is not one of :data:`NEEDS`.

    Examples
    --------
    >>> @register("demo_mean_difference", needs="density", description="demo")
    ... def demo(saliency, human):
    ...     return float(abs(saliency.mean() - human.mean()))
    >>> get_metric("demo_mean_difference").needs
    'density'
    >>> METRICS.remove("demo_mean_difference")  # keep the doctest tidy
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {name!r}")

    def decorate(func: F) -> F:
        desc = description or (func.__doc__ or "").strip().split("\n")[0]
        METRICS.add(name, MetricSpec(name, func, needs, bool(higher_is_better), desc))
        return func

    return decorate


def metric_names() -> list[str]:
    """Names of the registered metrics, in registration order.

    Examples
    --------
    >>> import vista.metrics
    >>> vista.metrics.metric_names()[:3]
    ['ncc', 'auc_borji', 'auc_borji_mit']
    """
    return METRICS.names()


def get_metric(name: str) -> MetricSpec:
    """The :class:`MetricSpec` registered as ``name``.

    Raises
    ------
    ValueError
        If no metric has that name; the message lists the known names.

    Examples
    --------
    >>> import vista.metrics
    >>> get_metric("kld").higher_is_better
    False
    >>> get_metric("cc")
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'cc'; known metrics: ncc, auc_borji, auc_borji_mit, auc_shuffled, auc_judd, nss, sim, kld, info_gain
    """
    return METRICS.get(name)


@functools.cache
def _spec_kwargs(spec: MetricSpec) -> frozenset[str]:
    """Keyword-only parameters the metric function accepts (for ``compute``), cached."""
    params = inspect.signature(spec.func).parameters
    return frozenset(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


# --------------------------------------------------------------------------- compute


def _required_points(
    metric: str, name: str, value: Any, shape: tuple[int, int], *, allow_empty: bool = False
) -> np.ndarray:
    """The mask of ``value``'s points; None, or (unless ``allow_empty``) no point on the
    grid, raises."""
    if value is None:
        raise ValueError(
            f"metric {metric!r} needs {name} (an N×3 array of x, y, weight in image pixels); "
            "got None"
        )
    pts = _points(name, value)
    if pts.shape[0] == 0 and not allow_empty:
        raise ValueError(f"metric {metric!r} needs at least one fixation; {name} is empty")
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    idx = _fixation_indices(name, pts, shape)
    if idx.size == 0 and not allow_empty and pts.shape[0]:
        raise ValueError(
            f"metric {metric!r} needs at least one fixation on the {shape[0]}×{shape[1]} grid; "
            f"none of the {pts.shape[0]} {name} fall on it"
        )
    mask[idx] = True
    return mask.reshape(shape)


def compute(
    name: str,
    saliency: Any,
    human: Any,
    *,
    fixations: Any = None,
    other_fixations: Any = None,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
    **options: Any,
) -> float:
    """Compute the registered metric ``name`` for one saliency map against one human map.

    Parameters
    ----------
    name : str
        A name from :func:`vista.metrics.metric_names`.
    saliency : array_like, shape (h, w)
        Model saliency map.
    human : array_like, shape (H, W)
        Human density map; its grid is the grid every metric is computed on.
    fixations : array_like, shape (N, 3) or (N, 2), optional
        ``x, y, weight`` in image pixels (as :meth:`vista.dataset.Dataset.load_fixations`
        returns them). Needed by the fixation-based metrics, which build their binary
        mask from it (see :func:`fixation_mask` for the rounding rule).
    other_fixations : array_like, shape (M, 2) or (M, 3), optional
        Fixations from other images, for ``auc_shuffled`` (None raises there; an empty
        array gives NaN with an :class:`UndefinedMetricWarning`, as the MIT code).
    rng : numpy.random.Generator or int or None
        Passed to metrics that sample.
    resize : bool, default False
        Resize ``saliency`` bilinearly to the human grid when the shapes differ.
    **options
        Further keyword options of the metric function (``n_splits``, ``step``,
        ``baseline``, ``jitter``, ``n_pos``, ``n_neg``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Unknown metric or option, bad inputs, or a fixation-based metric without
        fixations (None, empty, or none on the grid), or ``auc_shuffled`` without
        ``other_fixations``.

    Examples
    --------
    >>> h = np.array([[0.0, 0.1], [0.2, 0.7]])
    >>> compute("ncc", h, h)
    1.0
    >>> compute("nss", [[1, 2], [3, 4]], h, fixations=[[1.0, 1.0, 200.0]])  # x=1, y=1
    1.161895003862225
    >>> compute("nss", h, h)
    Traceback (most recent call last):
    ...
    ValueError: metric 'nss' needs fixations (an N×3 array of x, y, weight in image pixels); got None
    """
    spec = get_metric(name)
    accepted = _spec_kwargs(spec)
    unknown = sorted(set(options) - accepted)
    if unknown:
        known = ", ".join(sorted(accepted)) or "none"
        raise ValueError(f"metric {name!r} has no option {', '.join(unknown)}; its options: {known}")
    kwargs: dict[str, Any] = dict(options)
    if "rng" in accepted:
        kwargs["rng"] = rng
    if "resize" in accepted:
        kwargs["resize"] = resize
    if spec.needs == "density":
        return float(spec.func(saliency, human, **kwargs))
    grid = _as_map("human", human).shape
    shape = (grid[0], grid[1])
    mask = _required_points(name, "fixations", fixations, shape)
    if spec.needs == "fixations":
        return float(spec.func(saliency, mask, **kwargs))
    # no fixation from other images is the MIT code's NaN case, not a missing input
    others = _required_points(name, "other_fixations", other_fixations, shape, allow_empty=True)
    return float(spec.func(saliency, mask, others, **kwargs))


def compute_all(
    saliency: Any,
    human: Any,
    *,
    fixations: Any = None,
    other_fixations: Any = None,
    metrics: list[str] | tuple[str, ...] | None = None,
    rng: np.random.Generator | int | None = None,
    resize: bool = False,
) -> dict[str, float]:
    """Every applicable metric for one pair of maps, in registry order.

    Density metrics always apply; fixation metrics when ``fixations`` is given;
    ``auc_shuffled`` when ``other_fixations`` is given too. One Generator made from
    ``rng`` serves every sampling metric in turn, so a seed fixes the whole table.

    Parameters
    ----------
    saliency, human, fixations, other_fixations, rng, resize
        As in :func:`compute`.
    metrics : sequence of str, optional
        Only these metrics (each must apply); default: all that apply.

    Returns
    -------
    dict
        Metric name to value.

    Examples
    --------
    >>> h = np.array([[0.0, 0.1], [0.2, 0.7]])
    >>> sorted(compute_all(h, h, rng=0))
    ['auc_borji', 'kld', 'ncc', 'sim']
    """
    have = {"density"}
    if fixations is not None:
        have.add("fixations")
        if other_fixations is not None:
            have.add("fixations+others")
    if metrics is None:
        names = [n for n in metric_names() if get_metric(n).needs in have]
    else:
        names = [get_metric(n).name for n in metrics]
        for n in names:
            if get_metric(n).needs not in have:
                what = "fixations" if get_metric(n).needs == "fixations" else "fixations and other_fixations"
                raise ValueError(f"metric {n!r} needs {what}")
    gen = as_rng(rng)
    return {
        n: compute(
            n,
            saliency,
            human,
            fixations=fixations,
            other_fixations=other_fixations,
            rng=gen,
            resize=resize,
        )
        for n in names
    }
