"""Screen ↔ image geometry: where a fixation falls on the image's own pixel grid, and
how large a degree of visual angle is there.

Pixel convention (used by every map in vista): **pixel i is centred at coordinate
i** and covers ``[i - 0.5, i + 0.5)``. An image of width W spans ``[-0.5, W - 0.5)``
in its own coordinates, and a density map on the H×W grid evaluates the density at
the integer coordinates (the pixel centres). Screen gaze coordinates follow the same
convention (EyeLink's ``DISPLAY_COORDS 0 0 1919 1079`` names the first and last
pixel), and a :class:`~vista.records.Placement` with ``left=448`` puts the image's
first column in screen pixel 448. Hence, with ``W`` the image width in pixels and
``width`` its displayed width in screen pixels::

    u = (x - left + 0.5) * W / width - 0.5        (and v likewise from y, top, H, height)

For an unscaled image this is ``u = x - left``; for an image drawn twice its size,
screen pixels 448 and 449 map to ``u = -0.25`` and ``0.25``, both inside image pixel 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, check_positive
from ..records import Fixations, Placement, Screen

__all__ = [
    "image_scale",
    "image_to_screen",
    "screen_to_image",
    "screen_to_image_xy",
    "sigma_px",
]


def _shape(image_shape: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in tuple(image_shape)[:2])
    except (TypeError, ValueError):
        raise TypeError(
            f"image_shape must be (height, width); got {image_shape!r}") from None
    check_int("image_shape height", h, minimum=1)
    check_int("image_shape width", w, minimum=1)
    return h, w


def _placement(placement: Placement | None, h: int, w: int) -> Placement:
    if placement is None:
        return Placement(0.0, 0.0, float(w), float(h))
    if not isinstance(placement, Placement):
        raise TypeError(f"placement must be a Placement or None; got {placement!r}")
    return placement


def image_scale(placement: Placement | None, image_shape: Any) -> tuple[float, float]:
    """Image pixels per screen pixel, ``(horizontal, vertical)``.

    Examples
    --------
    >>> image_scale(Placement(0, 0, 2048, 1536), (768, 1024))
    (0.5, 0.5)
    """
    h, w = _shape(image_shape)
    p = _placement(placement, h, w)
    return w / p.width, h / p.height


def screen_to_image_xy(
    xs: Any, ys: Any, placement: Placement | None, image_shape: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Map screen pixel coordinates to image pixel coordinates (no dropping).

    ``placement=None`` means the image was shown unscaled at the screen's top-left.

    Examples
    --------
    >>> u, v = screen_to_image_xy([448, 449], [156, 156], Placement(448, 156, 2048, 1536),
    ...                           (768, 1024))
    >>> u.tolist(), v.tolist()
    ([-0.25, 0.25], [-0.25, -0.25])
    """
    h, w = _shape(image_shape)
    p = _placement(placement, h, w)
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    u = (x - p.left + 0.5) * (w / p.width) - 0.5
    v = (y - p.top + 0.5) * (h / p.height) - 0.5
    return u, v


def image_to_screen(
    us: Any, vs: Any, placement: Placement | None, image_shape: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`screen_to_image_xy`.

    Examples
    --------
    >>> x, y = image_to_screen([0.0], [0.0], Placement(448, 156, 1024, 768), (768, 1024))
    >>> x.tolist(), y.tolist()
    ([448.0], [156.0])
    """
    h, w = _shape(image_shape)
    p = _placement(placement, h, w)
    u = np.asarray(us, dtype=np.float64)
    v = np.asarray(vs, dtype=np.float64)
    return (u + 0.5) * (p.width / w) + p.left - 0.5, (v + 0.5) * (p.height / h) + p.top - 0.5


def screen_to_image(
    fixations: Fixations, placement: Placement | None, image_shape: Any
) -> tuple[Fixations, int]:
    """Map fixations from screen pixels onto the image grid; drop those off the image.

    Parameters
    ----------
    fixations : Fixations
        In screen pixels.
    placement : Placement or None
        Where the image was drawn (displayed size; scaled or not). None: unscaled at
        the screen's top-left corner.
    image_shape : (height, width)
        The image file's grid.

    Returns
    -------
    fixations : Fixations
        In image pixels (pixel centres at integers; see the module notes), in the
        input order, only those with ``-0.5 <= u < W - 0.5`` and
        ``-0.5 <= v < H - 0.5``.
    n_dropped : int
        Fixations off the image or without a position (NaN).

    Examples
    --------
    >>> f = Fixations([0, 300], [250, 500], [960.0, 10.0], [540.0, 10.0])
    >>> g, dropped = screen_to_image(f, Placement(448, 156, 1024, 768), (768, 1024))
    >>> g.xs.tolist(), g.ys.tolist(), dropped
    ([512.0], [384.0], 1)
    """
    if not isinstance(fixations, Fixations):
        raise TypeError(f"fixations must be a Fixations record; got {type(fixations).__name__}")
    h, w = _shape(image_shape)
    u, v = screen_to_image_xy(fixations.xs, fixations.ys, placement, (h, w))
    with np.errstate(invalid="ignore"):
        inside = (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
    kept = fixations.select(inside).with_positions(u[inside], v[inside])
    return kept, int(inside.size - np.count_nonzero(inside))


def sigma_px(
    sigma_deg: float,
    screen: Screen,
    placement: Placement | None,
    image_shape: Any,
) -> float:
    """A length in degrees of visual angle, in image pixels.

    ``sigma_deg × screen.px_per_degree`` gives screen pixels (at the screen centre),
    times the image scale (image pixels per screen pixel) gives image pixels. Where
    the horizontal and vertical scales differ (an image stretched on display), their
    mean is used.

    Examples
    --------
    >>> s = Screen(1920, 1080, 531.0, 298.7, 700.0)
    >>> round(sigma_px(1.0, s, Placement(448, 156, 1024, 768), (768, 1024)), 2)
    44.18
    >>> round(sigma_px(1.0, s, Placement(0, 0, 2048, 1536), (768, 1024)), 2)
    22.09
    """
    sd = check_positive("sigma_deg", sigma_deg, allow_zero=True)
    if not isinstance(screen, Screen):
        raise TypeError(f"screen must be a Screen; got {screen!r}")
    sx, sy = image_scale(placement, image_shape)
    return sd * screen.px_per_degree * 0.5 * (sx + sy)
