"""The metric registry: one small dict from a metric's name to its :class:`MetricSpec`.

The CLI's choices and :func:`vista.metrics.compute` both read this registry, so a
new metric is one function and one ``@register(...)`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from .._validation import check_option

__all__ = ["NEEDS", "MetricSpec", "get_metric", "metric_names", "register"]

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


_REGISTRY: dict[str, MetricSpec] = {}


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
    >>> _ = _REGISTRY.pop("demo_mean_difference")  # keep the doctest tidy
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {name!r}")

    def decorate(func: F) -> F:
        if name in _REGISTRY:
            raise ValueError(f"metric {name!r} is already registered")
        desc = description or (func.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = MetricSpec(name, func, needs, bool(higher_is_better), desc)
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
    return list(_REGISTRY)


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
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(_REGISTRY)
        raise ValueError(f"unknown metric {name!r}; known metrics: {known}") from None


_KWARGS: dict[str, frozenset[str]] = {}


def _spec_kwargs(spec: MetricSpec) -> frozenset[str]:
    """Keyword-only parameters the metric function accepts (for ``compute``), cached."""
    names = _KWARGS.get(spec.name)
    if names is None:
        import inspect

        params = inspect.signature(spec.func).parameters
        names = frozenset(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)
        _KWARGS[spec.name] = names
    return names
