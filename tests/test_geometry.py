"""Screen ↔ image geometry: pixel-centre convention, scaling, dropping, sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vista.gaze.geometry import (
    image_scale,
    image_to_screen,
    screen_to_image,
    screen_to_image_xy,
    sigma_px,
)
from vista.records import Fixations, Placement, Screen

SCREEN = Screen(1920, 1080, 531.0, 298.7, 700.0)


def test_unscaled_centred_image() -> None:
    """A 1024×768 image centred on 1920×1080: screen pixel 448 is image pixel 0."""
    p = Placement(448, 156, 1024, 768)
    u, v = screen_to_image_xy([448, 1471, 960.25], [156, 923, 540], p, (768, 1024))
    assert u.tolist() == [0.0, 1023.0, 512.25] and v.tolist() == [0.0, 767.0, 384.0]


def test_scaled_image_pixel_centres() -> None:
    """Drawn at twice its size, each image pixel covers two screen pixels, and the
    image pixel's centre lies on the boundary between them."""
    p = Placement(100, 50, 200, 100)  # a 100×50 image drawn at 200×100
    u, v = screen_to_image_xy([100, 101, 100.5, 299], [50, 51, 50.5, 149], p, (50, 100))
    assert u.tolist() == [-0.25, 0.25, 0.0, 99.25]
    assert v.tolist() == [-0.25, 0.25, 0.0, 49.25]
    # half size: screen pixel k covers image pixels 2k and 2k+1, so the boundary
    # between screen pixels 1 and 2 (x = 1.5) is the one between image pixels 3 and 4
    u, _ = screen_to_image_xy([1.5], [0], Placement(0, 0, 50, 25), (50, 100))
    assert u.tolist() == [3.5]


def test_round_trip() -> None:
    rng = np.random.default_rng(0)
    p = Placement(13.5, -7.25, 640.0, 480.0)
    x, y = rng.uniform(0, 700, 50), rng.uniform(0, 500, 50)
    u, v = screen_to_image_xy(x, y, p, (300, 400))
    x2, y2 = image_to_screen(u, v, p, (300, 400))
    np.testing.assert_allclose(x2, x, atol=1e-9)
    np.testing.assert_allclose(y2, y, atol=1e-9)


def test_screen_to_image_drops_and_counts() -> None:
    f = Fixations(
        [0, 10, 20, 30, 40, 50], [5, 15, 25, 35, 45, 55],
        [448, 447.4, 1471.4, 1471.6, np.nan, 900], [156, 156, 156, 156, 300, 1000],
        ["L", "R", "R", "R", "R", "L"],
    )
    p = Placement(448, 156, 1024, 768)
    g, dropped = screen_to_image(f, p, (768, 1024))
    # kept: on the first pixel, 447.4 -> u=-0.6 off, 1471.4 -> 1023.4 in, 1471.6 off,
    # NaN off, y 1000 -> v 844 off
    assert dropped == 4
    assert g.starts_ms.tolist() == [0, 20] and g.eyes.tolist() == ["L", "R"]
    np.testing.assert_allclose(g.xs, [0.0, 1023.4])
    assert f.xs[0] == 448  # input untouched


def test_placement_none_is_unscaled_top_left() -> None:
    f = Fixations([0], [1], [10.0], [20.0])
    g, dropped = screen_to_image(f, None, (100, 100))
    assert (g.xs[0], g.ys[0], dropped) == (10.0, 20.0, 0)


def test_sigma_px() -> None:
    """1 degree at 700 mm on a 531 mm, 1920 px wide screen: 2·700·tan(0.5°) mm =
    12.217 mm, times the mean pixel pitch (1920/531 + 1080/298.7)/2 px/mm = 44.176 px;
    halved for an image drawn at twice its size."""
    p = Placement(448, 156, 1024, 768)
    mm = 2 * 700 * math.tan(math.radians(0.5))
    expected = mm * 0.5 * (1920 / 531 + 1080 / 298.7)
    assert sigma_px(1.0, SCREEN, p, (768, 1024)) == pytest.approx(expected, rel=1e-12)
    assert sigma_px(2.0, SCREEN, Placement(0, 0, 2048, 1536), (768, 1024)) == pytest.approx(
        expected, rel=1e-12)
    assert image_scale(Placement(0, 0, 2048, 1536), (768, 1024)) == (0.5, 0.5)


ERRORS = [
    pytest.param(lambda: screen_to_image([1, 2], None, (10, 10)), TypeError,
                 "Fixations record", id="not-fixations"),
    pytest.param(lambda: screen_to_image_xy([1], [1], None, (10,)), TypeError,
                 r"image_shape must be \(height, width\)", id="shape-1d"),
    pytest.param(lambda: screen_to_image_xy([1], [1], None, (0, 10)), ValueError,
                 "image_shape height must be >= 1", id="shape-zero"),
    pytest.param(lambda: screen_to_image_xy([1], [1], (0, 0, 1, 1), (10, 10)), TypeError,
                 "placement must be a Placement", id="placement-tuple"),
    pytest.param(lambda: sigma_px(-1, SCREEN, None, (10, 10)), ValueError,
                 "sigma_deg must be", id="sigma-negative"),
    pytest.param(lambda: sigma_px(1, None, None, (10, 10)), TypeError,
                 "screen must be a Screen", id="no-screen"),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors(call: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call()  # type: ignore[operator]
