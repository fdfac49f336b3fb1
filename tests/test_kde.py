"""vista.gaze.kde: the duration-weighted density map."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vista.gaze.kde import density_map


def dense_sum(xs, ys, ws, shape, sigma):
    """The naive way: one full-grid Gaussian per fixation, summed, normalised."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros(shape)
    for x, y, wt in zip(xs, ys, ws, strict=True):
        out += wt * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return out / out.sum()


def test_matches_dense_sum(rng) -> None:
    """Equal to the dense per-fixation sum to far better than 1e-6 of the peak."""
    h, w = 60, 90
    xs, ys = rng.uniform(-5, w + 5, 25), rng.uniform(-5, h + 5, 25)
    ws = rng.uniform(80, 600, 25)
    m = density_map(xs, ys, ws, shape=(h, w), sigma_px=7.3)
    ref = dense_sum(xs, ys, ws, (h, w), 7.3)
    assert m.shape == (h, w) and m.dtype == np.float64
    assert np.abs(m - ref).max() / ref.max() < 1e-12


def test_float32_within_1e6_of_peak(rng) -> None:
    """The float32 path (what `vista maps` stores) stays within 1e-6 of the peak of the
    dense float64 sum, keeps far tails as exact zeros rather than denormals, sums to 1."""
    h, w, sigma = 96, 128, 4.0
    xs, ys = rng.uniform(0, w, 30), rng.uniform(0, h, 30)
    ws = rng.uniform(100, 400, 30)
    m = density_map(xs, ys, ws, shape=(h, w), sigma_px=sigma, dtype=np.float32)
    ref = dense_sum(xs, ys, ws, (h, w), sigma)
    assert m.dtype == np.float32
    assert np.abs(m - ref).max() / ref.max() < 1e-6
    assert abs(float(m.sum(dtype=np.float64)) - 1.0) < 1e-5
    tiny = np.finfo(np.float32).tiny
    assert not ((m > 0) & (m < tiny)).any()
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        density_map(xs, ys, ws, shape=(h, w), sigma_px=sigma, dtype=np.int32)


def test_matches_scipy_multivariate_normal(rng) -> None:
    """Reference from outside the project: scipy.stats.multivariate_normal's pdf with
    covariance sigma^2 I, evaluated at the pixel centres, weighted and normalised."""
    from scipy.stats import multivariate_normal

    h, w, sigma = 20, 30, 3.5
    xs, ys, ws = rng.uniform(0, w, 6), rng.uniform(0, h, 6), rng.uniform(100, 300, 6)
    grid = np.dstack(np.meshgrid(np.arange(w), np.arange(h)))  # (h, w, 2) as (x, y)
    ref = sum(wt * multivariate_normal([x, y], sigma**2).pdf(grid)
              for x, y, wt in zip(xs, ys, ws, strict=True))
    ref /= ref.sum()
    np.testing.assert_allclose(density_map(xs, ys, ws, shape=(h, w), sigma_px=sigma), ref,
                               rtol=1e-10, atol=1e-15)


def test_sub_pixel_position_is_not_rounded() -> None:
    """x = 10.5 sits exactly between columns 10 and 11; x = 10.25 is not x = 10."""
    m = density_map([10.5], [5.0], [1.0], shape=(11, 22), sigma_px=2.0)
    np.testing.assert_array_equal(m[:, 10], m[:, 11])
    assert m[5].argmax() in (10, 11)
    a = density_map([10.25], [5.0], [1.0], shape=(11, 22), sigma_px=2.0)
    b = density_map([10.0], [5.0], [1.0], shape=(11, 22), sigma_px=2.0)
    assert np.abs(a - b).max() > 1e-3
    np.testing.assert_allclose(a, dense_sum([10.25], [5.0], [1.0], (11, 22), 2.0), rtol=1e-12)


def test_shift_by_one_pixel_is_a_translation() -> None:
    """Moving every fixation by +1 px in x shifts the (interior) map by one column."""
    a = density_map([20.3, 30.7], [15.2, 9.9], [1, 2], shape=(30, 60), sigma_px=2.0)
    b = density_map([21.3, 31.7], [15.2, 9.9], [1, 2], shape=(30, 60), sigma_px=2.0)
    np.testing.assert_allclose(b[:, 1:], a[:, :-1], rtol=1e-9, atol=1e-18)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 100)])
def test_sums_to_one(shape, rng) -> None:
    h, w = shape
    m = density_map(rng.uniform(0, w, 4), rng.uniform(0, h, 4), [1, 2, 3, 4], shape=shape,
                    sigma_px=3.0)
    assert m.sum() == pytest.approx(1.0, abs=1e-12)
    assert (m >= 0).all()


def test_symmetry() -> None:
    """A fixation at the centre of an odd grid gives a map symmetric under both flips,
    and swapping x and y transposes the map."""
    m = density_map([12.0], [8.0], [300.0], shape=(17, 25), sigma_px=4.0)
    np.testing.assert_allclose(m, m[::-1, :], rtol=1e-13)
    np.testing.assert_allclose(m, m[:, ::-1], rtol=1e-13)
    a = density_map([3.2, 9.1], [5.5, 1.0], [1, 3], shape=(12, 15), sigma_px=2.5)
    b = density_map([5.5, 1.0], [3.2, 9.1], [1, 3], shape=(15, 12), sigma_px=2.5)
    np.testing.assert_allclose(a, b.T, rtol=1e-13)


def test_weights_scale_contributions() -> None:
    """Two far-apart fixations: the mass near each is proportional to its weight."""
    m = density_map([10.0, 50.0], [10.0, 10.0], [100.0, 300.0], shape=(21, 61), sigma_px=2.0)
    left, right = m[:, :30].sum(), m[:, 30:].sum()
    assert right / left == pytest.approx(3.0, rel=1e-9)


def test_boundary_mass_is_dropped_and_renormalised() -> None:
    """A fixation on the corner keeps a quarter of its mass on the grid (about), so
    against an equally weighted central fixation it carries ~1/4 of the central mass."""
    shape, sigma = (201, 201), 5.0
    m = density_map([0.0, 100.0], [0.0, 100.0], [1.0, 1.0], shape=shape, sigma_px=sigma)
    corner, centre = m[:50, :50].sum(), m[50:, 50:].sum()
    # 1-D: a Gaussian centred on pixel 0 keeps (1 + sum_{k>=1}) / (1 + 2 sum_{k>=1}) per axis
    g = np.exp(-0.5 * (np.arange(1, 100) / sigma) ** 2).sum()
    kept = ((1 + g) / (1 + 2 * g)) ** 2
    assert corner / centre == pytest.approx(kept, rel=1e-6)
    assert m.sum() == pytest.approx(1.0)


def test_fixation_off_the_grid_contributes_its_tail() -> None:
    m = density_map([-3.0], [5.0], [1.0], shape=(11, 11), sigma_px=2.0)
    assert m[:, 0].sum() > m[:, 5].sum() and m.sum() == pytest.approx(1.0)


def test_inputs_not_mutated(rng) -> None:
    xs, ys, ws = rng.uniform(0, 9, 3), rng.uniform(0, 9, 3), np.array([1.0, 2, 3])
    copies = [a.copy() for a in (xs, ys, ws)]
    density_map(xs, ys, ws, shape=(10, 10), sigma_px=1.0)
    for a, c in zip((xs, ys, ws), copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    "xs, ys, ws, kwargs, message",
    [
        pytest.param([], [], [], {}, "at least one fixation", id="no-fixations"),
        pytest.param([1], [1], [0], {}, "sum to 0", id="zero-weight"),
        pytest.param([1, 2], [1, 2], [5, -1], {}, "weights must be >= 0", id="negative-weight"),
        pytest.param([1, 2], [1], [1, 1], {}, "equal length", id="ragged"),
        pytest.param([np.nan], [1], [1], {}, "xs must be finite", id="nan"),
        pytest.param([1], [1], [1], {"sigma_px": 0}, "sigma_px", id="sigma-zero"),
        pytest.param([1], [1], [1], {"shape": (0, 5)}, "height", id="empty-shape"),
        pytest.param([1], [1], [1], {"shape": 5}, r"shape must be \(height, width\)",
                     id="shape-not-pair"),
        pytest.param([1e6], [1e6], [1], {}, "no density falls on the image", id="far-off"),
        pytest.param([1], [1], [1], {"shape": (100_000, 100_000)}, "over the pixel limit",
                     id="huge-shape"),
    ],
)
def test_errors(xs, ys, ws, kwargs, message) -> None:
    args = {"shape": (10, 10), "sigma_px": 2.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        density_map(xs, ys, ws, **args)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-10, 40), st.floats(-10, 30), st.floats(1, 1000)),
             min_size=1, max_size=8),
    st.floats(0.5, 8.0),
)
def test_property_matches_dense(fixations, sigma) -> None:
    xs, ys, ws = (np.array(c) for c in zip(*fixations, strict=True))
    m = density_map(xs, ys, ws, shape=(20, 30), sigma_px=sigma)
    ref = dense_sum(xs, ys, ws, (20, 30), sigma)
    assert np.abs(m - ref).max() <= 1e-10 * ref.max()
