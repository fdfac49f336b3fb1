"""How an image becomes a square model input, and how the map goes back onto it.

``"squash"``
    The whole image resized to the square input (aspect not kept): the map covers
    every pixel. vista 0.1.0's choice.
``"crop"``
    CLIP's own preprocessing (OpenAI ``clip/clip.py`` ``_transform``): the shorter
    side resized to the input size (bicubic, torchvision's ``Resize(n)`` sizes),
    then the centre square cropped (torchvision's ``CenterCrop`` offsets). The map
    covers the crop box only; the margins get a fill value that is recorded.
``"pad"``
    The image padded to a square with the normalisation mean colour (centred), then
    resized: nothing is cropped, the map covers every pixel.

The box is where the model input lies on the image grid, in image pixels
``(top, left, bottom, right)`` rounded to whole pixels; maps are brought onto it with
:func:`vista.explain.postprocess.to_image_grid` (so with the recipe's
post-processing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import check_option
from .postprocess import to_image_grid

__all__ = ["INPUT_FITS", "center_crop", "fit_image", "pad_square", "place_on_image"]

INPUT_FITS = ("squash", "crop", "pad")


def center_crop(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """CLIP's ``Resize(size, BICUBIC)`` + ``CenterCrop(size)`` on an RGB array.

    Returns the ``size``×``size`` crop and its box on the original image grid.

    Examples
    --------
    >>> crop, box = center_crop(np.zeros((20, 40, 3), np.uint8), 10)
    >>> crop.shape, box
    ((10, 10, 3), (0, 10, 20, 30))
    """
    from PIL import Image

    h, w = image.shape[:2]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h),
                                                       Image.Resampling.BICUBIC))
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    crop = resized[top:top + size, left:left + size]
    sy, sx = h / new_h, w / new_w
    box = (round(top * sy), round(left * sx), round((top + size) * sy), round((left + size) * sx))
    return np.ascontiguousarray(crop), box


def pad_square(image: np.ndarray, fill: Sequence[float]
               ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The image centred on a square of its longer side, the rest ``fill`` (RGB in
    [0, 1], e.g. the normalisation mean). Returns the square and the image's box on
    it ``(top, left, bottom, right)``.

    Examples
    --------
    >>> sq, box = pad_square(np.zeros((2, 4, 3), np.uint8), (0.5, 0.5, 0.5))
    >>> sq.shape, box, int(sq[0, 0, 0])
    ((4, 4, 3), (1, 0, 3, 4), 128)
    """
    h, w = image.shape[:2]
    side = max(h, w)
    colour = np.round(np.asarray(fill, dtype=np.float64) * 255).astype(np.uint8)
    square = np.empty((side, side, 3), dtype=np.uint8)
    square[:] = colour
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = image
    return square, (top, left, top + h, left + w)


def fit_image(image: np.ndarray, size: int, fit: str, mean: Sequence[float],
              std: Sequence[float]) -> tuple[np.ndarray, dict[str, Any]]:
    """The model input (1, 3, size, size) float32 for ``crop`` or ``pad``, and what
    :func:`place_on_image` needs (recorded in the map's params)."""
    from PIL import Image

    check_option("input_fit", fit, ("crop", "pad"))
    if fit == "crop":
        square, box = center_crop(image, size)
        info: dict[str, Any] = {"crop_box": list(box)}
    else:
        padded, box = pad_square(image, mean)
        square = np.asarray(Image.fromarray(padded).resize((size, size),
                                                            Image.Resampling.BICUBIC))
        info = {"pad_box": list(box), "pad_side": int(padded.shape[0])}
    x = (square.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(
        std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None], info


def place_on_image(values: np.ndarray, shape: tuple[int, int], info: dict[str, Any], *,
                   fill: float, postprocess: str) -> np.ndarray:
    """A model-grid map on the image grid for a ``crop`` (margins ``fill``) or ``pad``
    (the padding cut away) input; any other input: the whole grid."""
    h, w = shape
    if "crop_box" in info:
        top, left, bottom, right = info["crop_box"]
        out = np.full((h, w), fill, dtype=np.float32)
        out[top:bottom, left:right] = to_image_grid(values, (bottom - top, right - left),
                                                    postprocess)
        return out
    if "pad_box" in info:
        side = int(info["pad_side"])
        top, left, bottom, right = info["pad_box"]
        return np.ascontiguousarray(to_image_grid(values, (side, side), postprocess)
                                    [top:bottom, left:right])
    return to_image_grid(values, shape, postprocess)
