"""The scene model of the simulated participant: what is on an image and what is
said about it.

The records (:class:`~vista.scene.Scene`, :class:`~vista.scene.Region`) and the scene
file reader are in :mod:`vista.scene`. :func:`load_scene` reads an image's scene file
(``IMAGE_STEM.scene.json``) or, without one, builds :func:`default_scene` from the
image's most salient regions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import imaging
from ..scene import SCENE_SUFFIX, Region, Scene, read_scene, scene_path

__all__ = ["SCENE_SUFFIX", "Region", "Scene", "default_scene", "load_scene", "scene_path"]


def load_scene(
    image_path: str | os.PathLike[str], *, image_size: tuple[int, int] | None = None,
    n_regions: int = 3,
) -> Scene:
    """The scene of an image: its scene file if there is one, else :func:`default_scene`.

    The scene file ``IMAGE_STEM.scene.json`` next to the image is read by
    :func:`vista.scene.read_scene` (its format is described there).

    Parameters
    ----------
    image_path : path
        The image file.
    image_size : tuple of int, optional
        ``(height, width)``; read from the image when not given.
    n_regions : int
        Regions in the default scene when there is no scene file.
    """
    image_path = Path(image_path)
    if scene_path(image_path).is_file():
        return read_scene(image_path, image_size=image_size)
    return default_scene(imaging.load_image(image_path), n_regions=n_regions)


_ROWS = ("upper", "middle", "lower")
_COLS = ("left", "centre", "right")


def default_scene(image: np.ndarray, *, n_regions: int = 3) -> Scene:
    """A scene for an image without a scene file: its most salient regions.

    Saliency here is the blurred gradient magnitude of the grey image (edges and
    texture attract the eye); the ``n_regions`` strongest peaks, at least a fifth of
    the image apart, become boxes a fifth of the image wide and high, named by
    position ("the thing at the upper left"). Deterministic.

    Parameters
    ----------
    image : ndarray
        H×W or H×W×C image.
    n_regions : int
        How many regions (fewer if the image has fewer distinct peaks).

    Examples
    --------
    >>> img = np.zeros((60, 90)); img[5:15, 70:85] = 255
    >>> s = default_scene(img, n_regions=1)
    >>> s.image_size, s.regions[0].phrase
    ((60, 90), 'the thing at the upper right')
    """
    from scipy import ndimage

    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[..., :3].mean(axis=2)
    if arr.ndim != 2:
        raise ValueError(f"image must be H×W or H×W×C; got shape {np.shape(image)}")
    h, w = arr.shape
    small = min(h, w)
    g = ndimage.gaussian_filter(arr, sigma=max(small * 0.01, 0.5))
    mag = np.hypot(ndimage.sobel(g, axis=0), ndimage.sobel(g, axis=1))
    sal = ndimage.gaussian_filter(mag, sigma=max(small * 0.05, 1.0))
    sal = sal + 1e-9 * _centre_bias(h, w)  # flat images: prefer the centre
    yy, xx = np.mgrid[0:h, 0:w]
    bw, bh = w / 5.0, h / 5.0
    regions: list[Region] = []
    for _ in range(n_regions):
        if not np.isfinite(sal).any() or sal.max() <= 0:
            break
        y, x = np.unravel_index(int(np.argmax(sal)), sal.shape)
        row = _ROWS[min(int(3 * y / h), 2)]
        col = _COLS[min(int(3 * x / w), 2)]
        where = "centre" if (row, col) == ("middle", "centre") else f"{row} {col}"
        box = (max(x - bw / 2, 0.0), max(y - bh / 2, 0.0), min(x + bw / 2, w - 1.0), min(y + bh / 2, h - 1.0))
        phrase = f"the thing at the {where}"
        if any(r.phrase == phrase for r in regions):
            phrase = f"another thing at the {where}"
        regions.append(Region(phrase, box))
        sal = np.where(np.hypot((xx - x) / w, (yy - y) / h) < 0.2, -np.inf, sal)
    return Scene((h, w), tuple(regions))


def _centre_bias(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-(((xx - (w - 1) / 2) / w) ** 2 + ((yy - (h - 1) / 2) / h) ** 2) * 8)
