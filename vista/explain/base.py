"""What every explainer shares: image handling, resizing onto the image grid,
device choice, weight resolution, and scoped torch settings.

Model modules import torch inside functions or at their own top (they are only
imported when their explainer is loaded); this module imports torch lazily.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import require
from ..errors import WeightsNotFoundError
from ..records import SaliencyMap

__all__ = [
    "Explainer",
    "as_rgb_array",
    "pick_device",
    "resize_to_image",
    "resolve_weights",
    "torch_call_scope",
]


def as_rgb_array(image: Any) -> np.ndarray:
    """A PIL image or H×W×3 uint8 array as an H×W×3 uint8 array (never mutated)."""
    if hasattr(image, "convert") and hasattr(image, "size"):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"image must be a PIL image or an HxWx3 uint8 array; got shape {arr.shape}, "
            f"dtype {arr.dtype}"
        )
    return arr


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a non-empty list of non-empty strings (a single str is rejected,
    so a caller does not explain each character)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings; got a single str (wrap it in a list)")
    out = list(texts)
    if not out:
        raise ValueError("texts must not be empty")
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"texts[{i}] must be a non-empty string; got {t!r}")
    return out


def resize_to_image(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a model's map to the image's H×W grid, bilinear, as float32.

    Pixel centres are aligned (OpenCV's ``INTER_LINEAR``, half-pixel convention), so a
    patch-grid map is stretched over the whole image.
    """
    import cv2

    arr = np.asarray(values, dtype=np.float32)
    h, w = int(shape[0]), int(shape[1])
    if arr.shape == (h, w):
        return arr.copy()
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR)


def pick_device(device: str | None) -> str:
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"``."""
    torch = require("torch", "explain")
    if device is not None:
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_weights(weights: str | os.PathLike[str], revision: str | None) -> str:
    """Return a local folder holding ``weights``.

    A local folder is returned as it is. A Hugging Face id is looked up in the cache
    at ``revision`` (and downloaded when online and not cached). Offline and not
    cached raises :class:`WeightsNotFoundError` with the command that fetches them.
    """
    path = Path(weights)
    if path.exists():
        if not path.is_dir() and path.suffix not in {".pth", ".pt", ".bin", ".safetensors"}:
            raise WeightsNotFoundError(f"weights {path} is neither a folder nor a checkpoint file")
        return str(path)
    repo_id = str(weights)
    if repo_id.startswith((".", "/", "~")) or repo_id.count("/") != 1:
        raise WeightsNotFoundError(
            f"weights {repo_id!r} is neither an existing local folder nor a Hugging Face id"
        )
    hub = require("huggingface_hub", "explain")
    fetch = (
        f"huggingface-cli download {repo_id}"
        + (f" --revision {revision}" if revision else "")
        + " (on a machine with network), or pass weights=/path/to/local/folder"
    )
    try:
        return str(
            hub.snapshot_download(repo_id, revision=revision, local_files_only=_hf_offline())
        )
    except Exception as exc:  # hub raises many types: offline, missing, network
        raise WeightsNotFoundError(
            f"weights for {repo_id} (revision {revision or 'main'}) are not in the Hugging Face "
            f"cache and could not be downloaded ({type(exc).__name__}); get them with: {fetch}"
        ) from exc


@contextlib.contextmanager
def torch_call_scope(*, flush_denormal: bool = False) -> Iterator[None]:
    """Settings for the span of one ``explain`` call, restored afterwards.

    Grad mode is enabled inside (the caller may be in ``torch.no_grad``) and
    restored; denormal flushing is set only when asked and put back to what it was.
    Thread counts are never touched.
    """
    torch = require("torch", "explain")
    prev_grad = torch.is_grad_enabled()
    prev_denormal: bool | None = None
    if flush_denormal:
        # torch has no getter; probe by the effect on a denormal float32.
        probe = torch.tensor([1e-40], dtype=torch.float32)
        prev_denormal = bool(probe.item() == 0.0)
        torch.set_flush_denormal(True)
    torch.set_grad_enabled(True)
    try:
        yield
    finally:
        torch.set_grad_enabled(prev_grad)
        if prev_denormal is not None:
            torch.set_flush_denormal(prev_denormal)


class Explainer:
    """Base class: subclasses implement :meth:`_explain_batch` for one image.

    Attributes
    ----------
    name : str
        Registry name.
    model_id : str
        Weights id or folder.
    revision : str or None
        Pinned revision of the weights (None for a local folder).
    method : str
        Saliency method.
    options : dict
        Method options, recorded in every map's ``params``.
    """

    name: str
    model_id: str
    revision: str | None
    method: str
    options: dict[str, Any]

    def explain(self, image: Any, texts: Sequence[str]) -> list[SaliencyMap]:
        """One map per text, float32 on the image's own pixel grid."""
        rgb = as_rgb_array(image)
        texts = check_texts(texts)
        raw, extra = self._explain_batch(rgb, texts)
        h, w = rgb.shape[:2]
        maps = []
        for values, info in zip(raw, extra, strict=True):
            params = {
                "model_id": self.model_id,
                "revision": self.revision,
                **self.options,
                **info,
                "resize": "bilinear",
            }
            maps.append(SaliencyMap(resize_to_image(values, (h, w)), self.name, self.method, params))
        return maps

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """Return the raw (model-grid) maps and per-text info (e.g. truncation)."""
        raise NotImplementedError
