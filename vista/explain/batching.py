"""Several images in one explainer call: micro-batches of images, each micro-batch
sized to the free accelerator memory, and the maps identical to one-image calls.

:func:`explain_many` takes ``(image, texts)`` items. An explainer whose class says
``batches_images = True`` (BLIP-ITM and ALBEF Grad-CAM: :mod:`.fusion`) runs a
micro-batch of images and all their texts as one batch through
``_explain_images``; any other explainer is called one image at a time (its texts
still in one batch), so the call works for every family.

Micro-batch size:

- on CUDA, the first micro-batch of an explainer's first call is one image; its
  peak memory per text row (``torch.cuda.max_memory_allocated``, kept as the
  explainer's ``bytes_per_row``, the largest seen) and the free memory
  (``torch.cuda.mem_get_info``) then size the next ones, at most
  ``max_images`` images (default :data:`CUDA_MAX_IMAGES`); an out-of-memory error
  halves the micro-batch, retries it and caps the rest of the call at that size;
- on CPU, a fixed cap, ``max_images`` (default :data:`CPU_MAX_IMAGES` = 1): on a
  CPU several images in one batch do no less arithmetic, and one image per batch
  keeps its keys and values computed once for all its texts (batch 1, broadcast in
  the cross-attention), which several images in a batch cannot.

This module imports torch lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_int, require
from ..imaging import as_rgb_array
from ..records import SaliencyMap
from .precision import precision_scope
from .text import check_texts

__all__ = ["CPU_MAX_IMAGES", "CUDA_MAX_IMAGES", "explain_many", "micro_batches"]

#: Default cap on images per micro-batch on CPU.
CPU_MAX_IMAGES = 1
#: Default cap on images per micro-batch on CUDA.
CUDA_MAX_IMAGES = 64
#: Share of the free CUDA memory a micro-batch may take.
HEADROOM = 0.8


def micro_batches(n_texts: Sequence[int], start: int, *, max_images: int,
                  max_rows: int | None) -> int:
    """How many items from ``start`` go in the next micro-batch: at most
    ``max_images``, and while their texts add up to at most ``max_rows`` (None: no
    row limit); always at least one.

    Examples
    --------
    >>> micro_batches([5, 5, 5, 5], 0, max_images=3, max_rows=None)
    3
    >>> micro_batches([5, 5, 5, 5], 1, max_images=8, max_rows=12)
    2
    >>> micro_batches([30, 5], 0, max_images=8, max_rows=12)
    1
    """
    take, rows = 0, 0
    for count in n_texts[start:start + max_images]:
        if take and max_rows is not None and rows + count > max_rows:
            break
        take, rows = take + 1, rows + count
    return max(take, 1)


def _is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def _rows_that_fit(device: str, bytes_per_row: float | None) -> int | None:
    """Text rows the free CUDA memory holds at ``bytes_per_row`` (None off CUDA or
    before a measurement)."""
    if not _is_cuda(device) or not bytes_per_row:
        return None
    torch = require("torch", "explain")
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return max(1, int(free * HEADROOM // bytes_per_row))


def explain_many(explainer: Any, items: Sequence[tuple[Any, Sequence[str]]], *,
                 max_images: int | None = None) -> list[list[SaliencyMap]]:
    """The maps of several images, each with its own texts.

    Parameters
    ----------
    explainer : Explainer
        From :func:`vista.explain.load_explainer`.
    items : sequence of (image, texts)
        Each image (PIL or H×W×3 uint8) with its texts.
    max_images : int, optional
        Cap on images per micro-batch (default :data:`CUDA_MAX_IMAGES` on CUDA,
        :data:`CPU_MAX_IMAGES` elsewhere).

    Returns
    -------
    list of list of SaliencyMap
        Per item, one map per text: the maps ``explainer.explain(image, texts)``
        gives (equal up to float rounding: the batch pads texts to one length and
        stacks images).
    """

    rgbs = [as_rgb_array(image) for image, _ in items]
    texts = [check_texts(t) for _, t in items]
    if not getattr(explainer, "batches_images", False):
        return [explainer.explain(rgb, t) for rgb, t in zip(rgbs, texts, strict=True)]
    device = str(explainer.device)
    default = CUDA_MAX_IMAGES if _is_cuda(device) else CPU_MAX_IMAGES
    cap = check_int("max_images", default if max_images is None else max_images, minimum=1)
    counts = [len(t) for t in texts]
    out: list[list[SaliencyMap]] = []
    per_row: float | None = getattr(explainer, "bytes_per_row", None)
    start = 0
    if _is_cuda(device) and per_row is None:
        size = 1  # the probe: one image, to measure the memory a text row takes
    else:
        size = micro_batches(counts, 0, max_images=cap, max_rows=_rows_that_fit(device, per_row))
    while start < len(rgbs):
        stop = start + size
        try:
            results, peak = _run(explainer, rgbs[start:stop], texts[start:stop], device)
        except Exception as exc:  # torch.cuda.OutOfMemoryError: halve and retry
            if size == 1 or type(exc).__name__ != "OutOfMemoryError":
                raise
            size = cap = size // 2  # and no larger batch in this call
            require("torch", "explain").cuda.empty_cache()
            continue
        for rgb, (raw, extra) in zip(rgbs[start:stop], results, strict=True):
            out.append(explainer._maps(rgb, raw, extra))
        if peak is not None:
            rows = sum(counts[start:stop])
            per_row = max(per_row or 0.0, peak / rows)
            explainer.bytes_per_row = per_row  # the next call sizes its first batch too
        start = stop
        size = micro_batches(counts, start, max_images=cap,
                             max_rows=_rows_that_fit(device, per_row))
    return out


def _run(explainer: Any, rgbs: list[np.ndarray], texts: list[list[str]], device: str
         ) -> tuple[list[tuple[list[np.ndarray], list[dict[str, Any]]]], float | None]:
    """One micro-batch through ``_explain_images``, and its peak CUDA memory above
    what was allocated before it (None off CUDA)."""
    if not _is_cuda(device):
        with precision_scope(device, explainer.precision):
            return explainer._explain_images(rgbs, texts), None
    torch = require("torch", "explain")
    dev = torch.device(device)
    before = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    with precision_scope(device, explainer.precision):
        results = explainer._explain_images(rgbs, texts)
    return results, float(torch.cuda.max_memory_allocated(dev) - before)
