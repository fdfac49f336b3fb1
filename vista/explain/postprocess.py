"""How a model-grid map reaches the image grid: a choice of every recipe.

``"none"``
    :func:`vista.imaging.resize_map`, bilinear with pixel centres aligned: the raw
    map values, stretched over the image.
``"getattmap"``
    LAVIS's and ALBEF's ``getAttMap(img, attMap, blur=True)`` (``lavis/common/
    gradcam.py``; ALBEF ``visualization.ipynb``) without the colour overlay: min-max
    scale, ``skimage.transform.resize(order=3, mode="constant")`` to the image size,
    ``scipy.ndimage.gaussian_filter`` with σ = 0.02 × max(H, W) of the image the map
    is drawn on, min-max scale again.

Any recipe can take either (``postprocess="getattmap"`` as an override); the choice
is recorded in every map's params.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option

__all__ = ["GETATTMAP_SIGMA", "POSTPROCESS_CHOICES", "getattmap", "to_image_grid"]

POSTPROCESS_CHOICES = ("none", "getattmap")
#: The blur of ``getAttMap``, as a fraction of the image's longer side.
GETATTMAP_SIGMA = 0.02

_DESCRIPTION = {
    "none": "bilinear (vista.imaging.resize_map, pixel centres aligned)",
    "getattmap": "getAttMap: min-max, skimage resize order=3 mode=constant, "
                 "gaussian_filter sigma=0.02*max(H, W), min-max",
}


def getattmap(values: Any, shape: tuple[int, int]) -> np.ndarray:
    """LAVIS's ``getAttMap(img, attMap, blur=True, overlap=False)`` minus the colour map.

    Parameters
    ----------
    values : array_like, shape (rows, cols)
        A model-grid map (not modified).
    shape : tuple of int
        (H, W) of the image the map is drawn on; the blur is 0.02 × max(H, W).

    Returns
    -------
    numpy.ndarray, shape (H, W), float32
        In [0, 1]. A constant map (where the reference divides 0 by 0 after the
        blur and returns NaN) gives zeros.

    Examples
    --------
    >>> out = getattmap(np.eye(3), (30, 40))
    >>> out.shape, float(out.min()), float(out.max())
    ((30, 40), 0.0, 1.0)
    """
    from scipy.ndimage import gaussian_filter
    from skimage.transform import resize

    att = np.array(values, dtype=np.float64, copy=True)
    if att.ndim != 2:
        raise ValueError(f"values must be a 2-D map; got shape {att.shape}")
    h, w = int(shape[0]), int(shape[1])
    att -= att.min()
    if att.max() > 0:
        att /= att.max()
    att = resize(att, (h, w), order=3, mode="constant")
    att = gaussian_filter(att, GETATTMAP_SIGMA * max(h, w))
    att -= att.min()
    top = att.max()
    if top > 0:
        att /= top
    return att.astype(np.float32)


def to_image_grid(values: Any, shape: tuple[int, int], postprocess: str = "none"
                  ) -> np.ndarray:
    """A model-grid map on the image grid (float32).

    A 3-D ``values`` (one map per token, for recipes whose reference draws each
    token's map on its own) is brought to the image grid map by map and then
    averaged, so each token's post-processing happens as the reference did it.
    """
    from ..imaging import resize_map

    check_option("postprocess", postprocess, POSTPROCESS_CHOICES)
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim == 3:
        stack = [to_image_grid(m, shape, postprocess) for m in arr]
        return np.asarray(np.mean(stack, axis=0, dtype=np.float64), dtype=np.float32)
    if postprocess == "getattmap":
        return getattmap(arr, shape)
    return np.asarray(resize_map(arr, shape), dtype=np.float32)


def describe(postprocess: str) -> str:
    """What ``postprocess`` does, for a map's params."""
    return _DESCRIPTION[check_option("postprocess", postprocess, POSTPROCESS_CHOICES)]
