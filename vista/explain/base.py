"""The explainer template: one verb, ``explain(image, texts)``, and what every
explainer shares around it (the image as RGB, scoped torch settings, option checks,
the map brought onto the image grid with the recipe's post-processing, and the
recipe recorded in every map's params).

Weights and devices live in :mod:`.weights`, texts and tokenising in :mod:`.text`,
hook plumbing in :mod:`.hooks`, the maths in :mod:`.cam` and :mod:`.relevance`.
This module imports torch lazily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_int, require
from ..imaging import as_rgb_array
from ..records import SaliencyMap
from .postprocess import describe, to_image_grid
from .precision import precision_scope
from .text import check_texts
from .weights import LoadedModel

__all__ = [
    "Explainer",
    "check_options",
    "denormals_flushed",
    "resolve_block",
    "torch_call_scope",
]


def denormals_flushed() -> bool:
    """Whether torch currently flushes denormal floats to zero.

    torch has no getter, so this probes the effect of one multiplication on a
    denormal float32.
    """
    torch = require("torch", "explain")
    probe = torch.tensor([1e-40], dtype=torch.float32)
    return bool((probe * 1.0).item() == 0.0)


@contextlib.contextmanager
def torch_call_scope(*, flush_denormal: bool = False) -> Iterator[None]:
    """Settings for the span of one ``explain`` call, restored afterwards.

    Grad mode is enabled inside (the caller may be in ``torch.no_grad`` or
    ``torch.inference_mode``) and restored; denormal flushing is set only when asked
    and put back to what it was. Thread counts are never touched.
    """
    torch = require("torch", "explain")
    prev_grad = torch.is_grad_enabled()
    prev_denormal: bool | None = None
    if flush_denormal:
        prev_denormal = denormals_flushed()
        torch.set_flush_denormal(True)
    torch.set_grad_enabled(True)
    try:
        with torch.inference_mode(False):
            yield
    finally:
        torch.set_grad_enabled(prev_grad)
        if prev_denormal is not None:
            torch.set_flush_denormal(prev_denormal)


class Explainer:
    """Base class: subclasses implement :meth:`_explain_batch` for one image.

    A method's builder makes one from the :class:`~vista.explain.weights.LoadedModel`
    and sets :attr:`options` (the choices it resolved, e.g. the block index);
    :func:`vista.explain.load_explainer` then puts the recipe's record first in
    :attr:`options` and sets :attr:`postprocess`.

    Attributes
    ----------
    name : str
        Registry name of the family.
    model, tokenizer, image_processor
        From the loaded model (frozen, eval mode, on ``device``).
    model_id : str
        Weights id or folder.
    revision : str or None
        Hub revision asked for (None for a local folder).
    provenance : dict
        Which weights exactly (``weights_commit`` or ``weights_sha256``).
    method : str
        Saliency method.
    device : str
        Torch device the model runs on.
    options : dict
        Recorded in every map's ``params``: the recipe, its choices, the overrides
        and what the builder resolved.
    postprocess : str
        How a model-grid map reaches the image grid (:mod:`.postprocess`).
    precision : str
        ``"fp32"``, ``"bf16"`` or ``"fp16"``: the autocast dtype of the model work
        (:mod:`.precision`); set by :func:`vista.explain.load_explainer`.
    """

    def __init__(self, loaded: LoadedModel, *, method: str) -> None:
        self.name = loaded.family
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.image_processor = loaded.image_processor
        self.model_id = loaded.model_id
        self.revision = loaded.revision
        self.provenance = dict(loaded.provenance)
        self.device = loaded.device
        self.method = method
        self.options: dict[str, Any] = {}
        self.postprocess = "none"
        self.precision = "fp32"

    @property
    def recipe(self) -> str | None:
        """The recipe's name (set by :func:`vista.explain.load_explainer`)."""
        value = self.options.get("recipe")
        return None if value is None else str(value)

    def explain(self, image: Any, texts: Sequence[str]) -> list[SaliencyMap]:
        """One map per text, float32 on the image's own pixel grid."""
        rgb = as_rgb_array(image)
        texts = check_texts(texts)
        with precision_scope(self.device, self.precision):
            raw, extra = self._explain_batch(rgb, texts)
        return self._maps(rgb, raw, extra)

    def explain_many(self, items: Sequence[tuple[Any, Sequence[str]]], *,
                     max_images: int | None = None) -> list[list[SaliencyMap]]:
        """Per ``(image, texts)`` item, its maps; images in micro-batches where the
        family batches images (:func:`vista.explain.batching.explain_many`)."""
        from .batching import explain_many

        return explain_many(self, items, max_images=max_images)

    def _maps(self, rgb: np.ndarray, raw: Sequence[np.ndarray],
              extra: Sequence[dict[str, Any]]) -> list[SaliencyMap]:
        """The raw maps of one image as :class:`SaliencyMap` on its pixel grid, with
        the explainer's options and each text's info in ``params``."""
        h, w = rgb.shape[:2]
        maps = []
        for values, info in zip(raw, extra, strict=True):
            params = {
                "model_id": self.model_id,
                "revision": self.revision,
                **self.provenance,
                **self.options,
                **info,
                "postprocess": self.postprocess,
                "resize": describe(self.postprocess),
            }
            on_grid = self._to_image(values, (h, w), params)
            maps.append(SaliencyMap(on_grid, self.name, self.method, params))
        return maps

    def _to_image(self, values: np.ndarray, shape: tuple[int, int],
                  params: dict[str, Any]) -> np.ndarray:
        """A raw map (or a stack of per-token maps) on the image grid (``params``:
        the map's params, e.g. where a cropped input lies on the image)."""
        return to_image_grid(values, shape, self.postprocess)

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """Return the raw (model-grid) maps and per-text info (e.g. truncation)."""
        raise NotImplementedError


def check_options(options: Mapping[str, Any], allowed: Iterable[str], *, context: str) -> None:
    """Raise a ValueError naming any option not in ``allowed``.

    Examples
    --------
    >>> check_options({"block": 3}, ("block",), context="blip-itm-base")
    >>> check_options({"blok": 3}, ("block",), context="blip-itm-base")
    Traceback (most recent call last):
    ...
    ValueError: unknown option(s) 'blok' for blip-itm-base; allowed: 'block'
    """
    allowed = list(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        known = ", ".join(repr(a) for a in allowed) or "none"
        raise ValueError(f"unknown option(s) {names} for {context}; allowed: {known}")


def resolve_block(name: str, value: Any, n_layers: int) -> int:
    """A 0-based block index (negative counts from the end) as a non-negative int.

    Examples
    --------
    >>> resolve_block("block", -1, 12)
    11
    >>> resolve_block("block", 12, 12)
    Traceback (most recent call last):
    ...
    ValueError: block must be in [-12, 11] for a model with 12 blocks; got 12
    """
    index = check_int(name, value)
    if not -n_layers <= index < n_layers:
        raise ValueError(
            f"{name} must be in [{-n_layers}, {n_layers - 1}] for a model with "
            f"{n_layers} blocks; got {index}"
        )
    return index % n_layers
