"""A map source as a plugin: `vista score --model edges` scores an edge-density map.

Install it through the ``vista.plugins`` entry-point group of your own package::

    [project.entry-points."vista.plugins"]
    edges = "plugin_source"

or import this module before calling :func:`vista.scoring.score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from vista.scoring.sources import SOURCES


class EdgeDensity:
    """Smoothed Sobel gradient magnitude of the image: the same map for every text."""

    def __init__(self, sigma: float = 4.0) -> None:
        self.name, self.sigma = "edges", sigma

    @property
    def params(self) -> dict[str, Any]:  # all that changes its maps: run.json, cache key
        return {"kind": "baseline", "model": self.name, "method": "sobel+gaussian",
                "options": {"sigma": self.sigma}}

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Any]
             ) -> list[np.ndarray]:
        gray = image.astype(np.float64).mean(axis=2)
        edges = np.hypot(ndimage.sobel(gray, axis=0), ndimage.sobel(gray, axis=1))
        m = ndimage.gaussian_filter(edges, self.sigma).astype(np.float32)
        return [m for _ in texts]


@SOURCES.register("edges")
def edges(row: Any, **_: Any) -> EdgeDensity:
    """The row factory: ``row`` is the parsed ``--model`` (no recipe or method here)."""
    return EdgeDensity()
