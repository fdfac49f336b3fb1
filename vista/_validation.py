"""Validation helpers shared by every module, so each message has the same shape:
the parameter's name, what was expected and what came."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from .errors import MissingExtraError

T = TypeVar("T")


def check_option(name: str, value: T, allowed: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError naming all three.

    Examples
    --------
    >>> check_option("method", "gradcam", ["gradcam", "relevance"])
    'gradcam'
    >>> check_option("method", "cam", ["gradcam", "relevance"])
    Traceback (most recent call last):
    ...
    ValueError: method must be one of 'gradcam', 'relevance'; got 'cam'
    """
    allowed = list(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite number > 0 (>= 0 with ``allow_zero``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return v


def check_range(name: str, value: Any, low: float, high: float, *,
                low_open: bool = False, unit: str = "") -> float:
    """Return ``value`` as float if it is a finite number in ``[low, high]`` (``(low,
    high]`` with ``low_open``); the message names the parameter, the range and the value.

    Examples
    --------
    >>> check_range("speed", 2, 0.01, 1000)
    2.0
    >>> check_range("speed", float("nan"), 0.01, 1000)
    Traceback (most recent call last):
    ...
    ValueError: speed must be a finite number in [0.01, 1000]; got nan
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number; got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if not np.isfinite(v) or v > high or v < low or (low_open and v == low):
        span = f"{'(' if low_open else '['}{low:g}, {high:g}]{' ' + unit if unit else ''}"
        raise ValueError(f"{name} must be a finite number in {span}; got {value!r}")
    return v


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as int if it is an integer (not bool) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return int(value)


def check_array(
    name: str,
    value: Any,
    *,
    ndim: int | None = None,
    finite: bool = True,
    dtype: Any = None,
) -> np.ndarray:
    """Return ``value`` as an ndarray (no copy when possible) after checking it.

    Raises
    ------
    TypeError
        If ``value`` is not array-like of numbers.
    ValueError
        If the dimensionality is wrong or (with ``finite``) it holds NaN or inf.
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array; got {type(value).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array; got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return arr


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """The one way to turn the ``rng`` parameter into a Generator.

    Examples
    --------
    >>> int(as_rng(0).integers(100)) == int(as_rng(0).integers(100))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None; got {rng!r}")


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import an optional dependency, or raise MissingExtraError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, package or module.split(".")[0]) from exc
