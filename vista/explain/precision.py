"""Numerical precision of an explainer's model work: ``"fp32"`` (the default, no
autocast), ``"bf16"`` or ``"fp16"`` (torch autocast around the forward and the
backward of one ``explain`` call).

The weights stay float32; autocast runs the matrix products in the lower precision
and keeps the ops it lists as unsafe (softmax, layer norm, losses, reductions) in
float32, so the attention probabilities a map is made of are float32 on CUDA. The
map arithmetic after the model (Grad-CAM, relevance, resizing) is float64/float32 as
always. Every map records its precision in ``params["precision"]``, which is part of
the map-cache key. This module imports torch lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._validation import check_option, require

__all__ = ["PRECISION_CHOICES", "check_precision", "full_precision", "precision_scope",
           "torch_dtype"]

#: The precisions ``load_explainer(precision=...)`` and ``vista score --precision`` take.
PRECISION_CHOICES = ("fp32", "bf16", "fp16")


def check_precision(value: object) -> str:
    """``value`` if it is one of :data:`PRECISION_CHOICES`, else a one-line ValueError.

    Examples
    --------
    >>> check_precision("bf16")
    'bf16'
    >>> check_precision("half")
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of 'fp32', 'bf16', 'fp16'; got 'half'
    """
    return str(check_option("precision", value, PRECISION_CHOICES))


def torch_dtype(precision: str) -> object:
    """The torch dtype of a precision name (``torch.float32`` for ``"fp32"``)."""
    torch = require("torch", "explain")
    return {"fp32": torch.float32, "bf16": torch.bfloat16,
            "fp16": torch.float16}[check_precision(precision)]


@contextlib.contextmanager
def precision_scope(device: str, precision: str) -> Iterator[None]:
    """Autocast to ``precision`` on ``device``'s type for the span of the block;
    nothing at all for ``"fp32"`` (no torch import either)."""
    if check_precision(precision) == "fp32":
        yield
        return
    torch = require("torch", "explain")
    device_type = str(device).split(":")[0]
    with torch.autocast(device_type=device_type, dtype=torch_dtype(precision)):
        yield


@contextlib.contextmanager
def full_precision(device: str) -> Iterator[None]:
    """Autocast off on ``device``'s type for the span of the block: for arithmetic
    that is unstable in 16 bits (an iterative transport plan, say) inside a call that
    runs under :func:`precision_scope`."""
    torch = require("torch", "explain")
    with torch.autocast(device_type=str(device).split(":")[0], enabled=False):
        yield
