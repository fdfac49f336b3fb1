"""Images and map grids: the one image reader and the one resize of vista.

Every place a map changes grid (model maps to the image grid, ``vista import
--resize``, ``external:DIR`` maps, metrics with ``resize=True``) calls
:func:`resize_map`, so the same operation gives the same numbers everywhere.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["MAX_IMAGE_PIXELS", "as_rgb_array", "image_size", "load_image", "read_map", "resize_map"]

MAX_IMAGE_PIXELS = 100_000_000
"""Images with more pixels than this (100 megapixels, about a 10000×10000 photo) are
refused from their header, before decoding: a decompression bomb never reaches memory."""


def resize_map(values: Any, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D map to ``shape`` (rows, columns) by bilinear interpolation.

    Pixel centres are aligned (OpenCV ``INTER_LINEAR``, the convention of
    ``skimage.transform.resize(order=1, anti_aliasing=False)`` and MATLAB's
    ``imresize(..., 'bilinear', 'Antialiasing', false)``), so a patch-grid map is
    stretched over the whole image. float32 stays float32; every other dtype becomes
    float64. A map already on ``shape`` is returned as a copy.

    Examples
    --------
    >>> resize_map(np.array([[0.0, 1.0]]), (1, 4)).round(3).tolist()
    [[0.0, 0.25, 0.75, 1.0]]
    """
    import cv2

    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"values must be a 2-D map; got shape {arr.shape}")
    rows, cols = (int(shape[0]), int(shape[1]))
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive; got {shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.shape == (rows, cols):
        return arr.copy()
    out = cv2.resize(np.ascontiguousarray(arr), (cols, rows), interpolation=cv2.INTER_LINEAR)
    return np.asarray(out).reshape(rows, cols)


def load_image(path: str | os.PathLike[str], *,
               max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array.

    Only regular files are opened, and the header's size is checked against
    ``max_pixels`` before any pixel is decoded.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ParseError
        Not a regular file, not an image, too large, or truncated; names the file.
    """
    from PIL import Image

    from ._io import check_regular_file
    from .errors import ParseError

    path = check_regular_file(path, what="image")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ParseError(f"image is {w}x{h} pixels, over the limit of {max_pixels} "
                                 f"(vista.imaging.MAX_IMAGE_PIXELS)", path=path)
            return np.asarray(im.convert("RGB"))
    except ParseError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ParseError(f"cannot read image: {exc}", path=path) from None


def image_size(path: str | os.PathLike[str], *,
               max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """``(height, width)`` of an image file, read from its header only (no pixel is
    decoded), with the checks of :func:`load_image`.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ParseError
        Not a regular file, not an image, or over ``max_pixels``; names the file.
    """
    from PIL import Image

    from ._io import check_regular_file
    from .errors import ParseError

    path = check_regular_file(path, what="image")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ParseError(f"cannot read image: {exc}", path=path) from None
    if w * h > max_pixels:
        raise ParseError(f"image is {w}x{h} pixels, over the limit of {max_pixels} "
                         f"(vista.imaging.MAX_IMAGE_PIXELS)", path=path)
    return int(h), int(w)


MAP_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def read_map(path: str | os.PathLike[str], *, name: str = "map") -> np.ndarray:
    """Read a 2-D map from ``.npy`` or an image file, its values as stored.

    ``.npy`` arrays are returned as stored (no pickles). Images are read as grayscale
    float64 with their stored values (0-255 for 8-bit, 0-65535 for 16-bit); colour
    images are converted to luma (ITU-R 601-2, Pillow's ``"L"`` mode). Nothing is
    rescaled. Only regular files are opened, and image headers are checked against
    :data:`MAX_IMAGE_PIXELS` before decoding.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ParseError
        Not a regular file, an unsupported suffix, or unreadable; names ``name`` and the file.
    """
    from ._io import check_regular_file
    from .errors import ParseError

    p = check_regular_file(path, what=name)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            return np.asarray(np.load(p, allow_pickle=False))
        except (OSError, ValueError, EOFError) as exc:
            raise ParseError(f"{name}: not a plain numeric .npy array ({exc})", path=p) from None
    if suffix not in MAP_IMAGE_SUFFIXES:
        raise ParseError(f"{name}: unsupported file type {suffix or '(none)'}; use .npy, .png "
                         "or .jpg", path=p)
    from PIL import Image

    try:
        with Image.open(p) as im:
            w, h = im.size  # from the header, before any pixel is decoded
            if w * h > MAX_IMAGE_PIXELS:
                raise ParseError(f"{name} image is {w}x{h} pixels, over the limit of "
                                 f"{MAX_IMAGE_PIXELS} (vista.imaging.MAX_IMAGE_PIXELS)", path=p)
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                return np.asarray(im, dtype=np.float64)
            return np.asarray(im.convert("L"), dtype=np.float64)
    except ParseError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ParseError(f"cannot read {name} image: {exc}", path=p) from None


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
