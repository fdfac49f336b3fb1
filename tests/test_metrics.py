"""vista.metrics: hand-checkable values, invariants, input rules and the registry."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vista.metrics as vm
from vista.metrics import (
    UndefinedMetricWarning,
    auc_borji,
    auc_borji_mit,
    auc_judd,
    auc_shuffled,
    center_bias,
    compute,
    compute_all,
    fixation_mask,
    info_gain,
    kld,
    ncc,
    nss,
    sim,
)


def blobs(shape: tuple[int, int], points: list[tuple[float, float]], sigma: float) -> np.ndarray:
    """A human-like density: Gaussian blobs at (x, y) points, summing to 1."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    m = np.zeros(shape)
    for x, y in points:
        m += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))
    return m / m.sum()


@pytest.fixture
def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 60×80 human density from 8 fixations, a noisy saliency map and the fixation mask."""
    pts = [(float(x), float(y)) for x, y in zip(rng.uniform(5, 75, 8), rng.uniform(5, 55, 8), strict=True)]
    human = blobs((60, 80), pts, 4.0)
    saliency = human / human.max() + 0.3 * rng.random((60, 80))
    mask = fixation_mask(np.array(pts), (60, 80))
    return saliency, human, mask


# ----------------------------------------------------------------------- hand-checkable


def test_ncc_hand_values() -> None:
    """Pearson's r of [0, 1, 1, 3] and [1, 2, 3, 4], by hand.

    x - x̄ = [-1.25, -0.25, -0.25, 1.75], y - ȳ = [-1.5, -0.5, 0.5, 1.5];
    Σ products = 1.875 + 0.125 - 0.125 + 2.625 = 4.5; Σx² = 4.75; Σy² = 5;
    r = 4.5 / sqrt(23.75) = 0.923380516876639.
    """
    assert ncc([[0, 1], [1, 3]], [[1, 2], [3, 4]]) == pytest.approx(4.5 / math.sqrt(23.75), abs=1e-15)


def test_ncc_matches_unbiased_zscore_definition(pair: tuple[np.ndarray, ...]) -> None:
    """VISTA's formula, 1/(P-1) Σ z_s z_h with ddof=1, written out in float64."""
    s, h, _ = pair
    zs = (s - s.mean()) / s.std(ddof=1)
    zh = (h - h.mean()) / h.std(ddof=1)
    assert ncc(s, h) == pytest.approx(float((zs * zh).sum() / (s.size - 1)), abs=1e-13)


def test_auc_borji_hand_value() -> None:
    """Positives always hit the pixel of value 1; a negative ties there with prob 1/2.

    The score is then exactly the share of negatives on the 0 pixel plus half the share
    on the 1 pixel, which we recount from the same draws.
    """
    rng = np.random.default_rng(3)
    value = auc_borji([[0.0, 1.0]], [[0.0, 1.0]], n_neg=10, rng=rng)
    again = np.random.default_rng(3)
    again.random(1000)  # the positives' uniforms
    neg = again.integers(0, 2, size=10)
    assert value == pytest.approx((np.sum(neg == 0) + 0.5 * np.sum(neg == 1)) / 10)


def test_auc_borji_mit_expectation_by_hand() -> None:
    """Map [0, 1, 2, 3] -> [0, 1/3, 2/3, 1]; fixated: the top two pixels; 2 negatives a split.

    Steps of 0.1 separate the four levels, so each split's area is the empirical AUC
    with ties counted half. Over uniform negatives: P(2/3 beats a negative) = 2/4 + 1/8,
    P(1 beats it) = 3/4 + 1/8, so the expected score is (0.625 + 0.875) / 2 = 0.75.
    """
    value = auc_borji_mit([[0, 1, 2, 3]], [[0, 0, 1, 1]], n_splits=4000, rng=0)
    assert value == pytest.approx(0.75, abs=0.015)


def test_auc_judd_hand_value() -> None:
    """Values 0..15, fixated pixels 0, 14, 15: ROC (0,0) (0,1/3) (0,2/3) (1,1): area 5/6."""
    s = np.arange(16.0).reshape(4, 4)
    m = np.zeros((4, 4), bool)
    m[0, 0] = m[3, 2] = m[3, 3] = True
    assert auc_judd(s, m, jitter=False) == pytest.approx(5 / 6)


def test_nss_hand_value() -> None:
    """[1, 2, 3, 4]: mean 2.5, std (ddof=1) sqrt(5/3); z at 4 is 1.5 / 1.29099 = 1.161895."""
    assert nss([[1, 2], [3, 4]], [[0, 0], [0, 1]]) == pytest.approx(1.5 / math.sqrt(5 / 3))


def test_sim_hand_value() -> None:
    """Min-max then sum-normalise: [0, .5, 1] -> [0, 1/3, 2/3]; [1, 0, .5] -> [2/3, 0, 1/3]."""
    assert sim([[0, 1, 2]], [[2, 0, 1]]) == pytest.approx(1 / 3)


def test_kld_hand_value() -> None:
    """Uniform saliency over 4 pixels, all human mass on one pixel: log(1 / 0.25) = log 4."""
    assert kld(np.ones((2, 2)), [[0, 0], [0, 1]]) == pytest.approx(math.log(4), abs=1e-12)


def test_info_gain_hand_value() -> None:
    """Saliency [0, 1, 2] -> [0, 1/3, 2/3]; baseline [2, 0, 1] -> [2/3, 0, 1/3];
    a fixation on the last pixel gains log2(2/3) - log2(1/3) = 1 bit.
    """
    assert info_gain([[0, 1, 2]], [[0, 0, 1]], baseline=[[2, 0, 1]]) == pytest.approx(1.0)


def test_fixation_rounding_rule() -> None:
    """Pixel centres at integers: x = 0.49 -> column 0, 0.5 -> column 1, -0.5 -> column 0."""
    m = fixation_mask([[0.49, 0.0], [1.5, 1.49], [-0.5, 1.0]], (2, 3))
    assert m.astype(int).tolist() == [[1, 0, 0], [1, 0, 1]]


def test_fixations_outside_the_grid_are_counted() -> None:
    with pytest.warns(UserWarning, match="2 of 3 fixations fall outside the 2×2 grid"):
        m = fixation_mask([[0, 0, 1], [2.6, 0, 1], [0, -0.6, 1]], (2, 2))
    assert int(m.sum()) == 1


# ----------------------------------------------------------------------- invariants


def test_ncc_self_is_one(pair: tuple[np.ndarray, ...]) -> None:
    s, h, _ = pair
    assert ncc(h, h) == pytest.approx(1.0, abs=1e-14)
    assert ncc(s, s) == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("metric", ["ncc", "auc_borji", "sim"])
def test_perfect_map_scores_high(metric: str, pair: tuple[np.ndarray, ...]) -> None:
    _, h, _ = pair
    value = compute(metric, h, h, rng=0)
    assert value > (0.999 if metric != "auc_borji" else 0.8)


@pytest.mark.parametrize(
    "metric", ["auc_borji_mit", "auc_judd", "nss", "info_gain"]
)
def test_perfect_map_scores_high_on_fixations(metric: str, pair: tuple[np.ndarray, ...]) -> None:
    _, h, mask = pair
    value = vm.get_metric(metric).func(h, mask)
    threshold = {"auc_borji_mit": 0.8, "auc_judd": 0.9, "nss": 2.0, "info_gain": 0.5}[metric]
    assert value > threshold


def test_random_saliency_scores_chance() -> None:
    """Noise predicts nothing: every AUC is 0.5 up to sampling (about ±0.01 here)."""
    big = blobs((200, 200), [(50, 50), (150, 120), (60, 160)], 10)
    big_mask = big > np.quantile(big, 0.99)
    noise = np.random.default_rng(8).random(big.shape)
    assert auc_borji(noise, big, n_pos=20000, n_neg=20000, rng=1) == pytest.approx(0.5, abs=0.03)
    assert auc_borji_mit(noise, big_mask, rng=2) == pytest.approx(0.5, abs=0.03)
    assert auc_judd(noise, big_mask, rng=2) == pytest.approx(0.5, abs=0.03)


def test_constant_saliency(pair: tuple[np.ndarray, ...]) -> None:
    """VISTA's AUC gives exactly chance (all ties); the MIT AUC is NaN as in the MIT code."""
    _, h, mask = pair
    flat = np.full(h.shape, 0.3)
    assert auc_borji(flat, h, rng=0) == 0.5
    with pytest.warns(UndefinedMetricWarning, match="constant"):
        assert math.isnan(auc_borji_mit(flat, mask, rng=0))
    with pytest.warns(UndefinedMetricWarning, match="saliency map is constant"):
        assert math.isnan(ncc(flat, h))


@pytest.mark.parametrize("scale,offset", [(2.0, 0.0), (0.001, 5.0), (1e6, -3.0), (1.0, 1e4)])
def test_positive_affine_invariance(
    scale: float, offset: float, pair: tuple[np.ndarray, ...]
) -> None:
    s, h, mask = pair
    t = s * scale + offset
    assert ncc(t, h) == pytest.approx(ncc(s, h), abs=1e-10)
    assert auc_borji(t, h, rng=4) == auc_borji(s, h, rng=4)
    assert auc_borji_mit(t, mask, rng=4) == pytest.approx(auc_borji_mit(s, mask, rng=4), abs=1e-12)
    assert auc_judd(t, mask, jitter=False) == pytest.approx(auc_judd(s, mask, jitter=False))
    assert nss(t, mask) == pytest.approx(nss(s, mask), abs=1e-9)
    assert sim(t, h) == pytest.approx(sim(s, h), abs=1e-9)


def test_negative_affine_flips(pair: tuple[np.ndarray, ...]) -> None:
    s, h, _ = pair
    assert ncc(-s, h) == pytest.approx(-ncc(s, h), abs=1e-12)
    assert auc_borji(-s, h, rng=5) == pytest.approx(1 - auc_borji(s, h, rng=5))


def test_same_seed_same_number(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    assert auc_borji(s, h, rng=11) == auc_borji(s, h, rng=11)
    assert auc_borji_mit(s, mask, rng=11) == auc_borji_mit(s, mask, rng=11)
    assert auc_judd(s, mask, rng=11) == auc_judd(s, mask, rng=11)


def test_sampler_follows_the_density() -> None:
    """Positives of auc_borji are drawn ∝ the human map: check the frequencies (chi-square).

    A 3×70 map (210 pixels: several 32-pixel blocks and a short last block) with weights
    1..210 except some zeros; 200 000 draws; zero-weight pixels are never drawn.
    """
    from scipy import stats

    from vista.metrics.auc import _sample_density

    w = np.arange(1.0, 211.0)
    w[[0, 5, 63, 64, 209]] = 0.0
    draws = _sample_density(w.astype(np.float32), 200_000, np.random.default_rng(0))
    assert draws is not None
    counts = np.bincount(draws, minlength=w.size)
    assert counts[w == 0].sum() == 0
    expected = w / w.sum() * draws.size
    keep = w > 0
    chi2 = float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4


def test_auc_borji_with_huge_finite_densities() -> None:
    """float32 values near the type's maximum overflow the fast block sums, not the metric."""
    h = np.zeros((16, 16), np.float32)
    h[3, 4] = h[10, 12] = np.finfo(np.float32).max
    s = np.zeros((16, 16))
    s[3, 4] = s[10, 12] = 1.0
    assert auc_borji(s, h, rng=0) > 0.99


@pytest.mark.parametrize("shape", [(768, 1024), (7, 8), (5, 5), (16, 16), (1, 8)])
@pytest.mark.parametrize("density", [0.0, 1e-4, 0.01, 0.5, 1.0])
def test_mask_pixels_match_flatnonzero(shape: tuple[int, int], density: float) -> None:
    from vista.metrics._shared import _flat_nonzero

    m = np.random.default_rng(0).random(shape) < density
    np.testing.assert_array_equal(_flat_nonzero(m), np.flatnonzero(m))
    np.testing.assert_array_equal(_flat_nonzero(m[:, ::-1]), np.flatnonzero(m[:, ::-1]))


def test_inputs_are_not_mutated(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    s32 = s.astype(np.float32)
    others = np.roll(mask, 7, axis=1)
    copies = [a.copy() for a in (s, h, mask, s32, others)]
    for a in (s, h, mask, s32, others):
        a.setflags(write=False)  # any write raises
    fix = np.argwhere(mask)[:, ::-1].astype(float)
    compute_all(s, h, fixations=fix, other_fixations=fix + 3, rng=0)
    compute_all(s32, h, fixations=fix, rng=0)
    auc_shuffled(s, mask, others, rng=0)
    info_gain(s, mask, baseline=h)
    compute_all(s[:30, :40], h, fixations=fix, rng=0, resize=True)
    for a, c in zip((s, h, mask, s32, others), copies, strict=True):
        np.testing.assert_array_equal(a, c)


def test_float32_and_float64_agree(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    s32, h32 = s.astype(np.float32), h.astype(np.float32)
    assert ncc(s32, h32) == pytest.approx(ncc(s32.astype(float), h32.astype(float)), abs=1e-12)
    assert auc_borji_mit(s32, mask, rng=3) == pytest.approx(
        auc_borji_mit(s32.astype(float), mask, rng=3), abs=1e-12
    )


def test_ncc_large_offset_is_exact() -> None:
    """A map with a huge offset (mean²/var = 1e12) still matches float64 corrcoef."""
    rng = np.random.default_rng(2)
    h = rng.random((50, 60))
    s = 1e6 + h + 0.1 * rng.random((50, 60))
    ref = np.corrcoef(s.ravel(), h.ravel())[0, 1]
    assert ncc(s, h) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_ncc_extreme_scales(scale: float) -> None:
    """Squares that underflow or overflow float64 are handled by rescaling."""
    rng = np.random.default_rng(4)
    h = rng.random((20, 30))
    s = h + rng.random((20, 30))
    assert ncc(s * scale, h * scale) == pytest.approx(np.corrcoef(s.ravel(), h.ravel())[0, 1], abs=1e-12)


@pytest.mark.parametrize("exponent", [1020, 900, 400, -1000])
def test_every_metric_is_exact_near_the_float_limits(
    exponent: int, pair: tuple[np.ndarray, ...]
) -> None:
    """Every metric is unchanged by scaling a map by a power of two, so a map scaled up
    to near float64's maximum (2**1020 * values up to 1, sums of which overflow) or
    down to 2**-1000 must score what the unscaled map scores, with no numpy warning."""
    s, h, mask = pair
    others = np.zeros_like(mask)
    others[::7, ::5] = True
    big_s, big_h = np.ldexp(s, exponent), np.ldexp(h, exponent)

    def scores(s: np.ndarray, h: np.ndarray) -> dict[str, float]:
        return {
            "ncc": ncc(s, h),
            "auc_borji": auc_borji(s, h, rng=3),
            "auc_borji_mit": auc_borji_mit(s, mask, rng=3),
            "auc_shuffled": auc_shuffled(s, mask, others, rng=3),
            "auc_judd": auc_judd(s, mask, jitter=False),
            "nss": nss(s, mask),
            "sim": sim(s, h),
            "kld": kld(s, h),
            "info_gain": info_gain(s, mask),
        }

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning fails the test
        got = scores(big_s, big_h)
    want = scores(s, h)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_a_map_spanning_minus_to_plus_float_max() -> None:
    """min-max normalisation of a map from -1.5e308 to +1.5e308 (its range overflows)."""
    s = np.array([[-1.5e308, 0.0], [0.75e308, 1.5e308]])
    mask = np.array([[0, 0], [0, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert auc_judd(s, mask, jitter=False) == 1.0
        assert sim(s, [[0, 0], [0, 1.0]]) == pytest.approx(1 / 2.25)
        assert nss(s, mask) == pytest.approx(nss(s / 1e308, mask), rel=1e-12)


@pytest.mark.parametrize("metric", ["ncc", "sim", "kld", "auc_borji", "nss", "auc_judd"])
def test_masked_arrays_are_refused(metric: str, pair: tuple[np.ndarray, ...]) -> None:
    """A masked array's hidden values would be scored: it is refused, naming the argument."""
    s, h, _ = pair
    masked = np.ma.masked_array(s, mask=s < 0.1)
    fix = [[3.0, 4.0, 100.0]]
    with pytest.raises(TypeError, match=r"saliency is a masked array \(\d+ hidden"):
        compute(metric, masked, h, fixations=fix, rng=0)
    with pytest.raises(TypeError, match="human is a masked array"):
        compute(metric, s, np.ma.masked_array(h), fixations=fix, rng=0)
    with pytest.raises(TypeError, match="fixations is a masked array"):
        compute("nss", s, h, fixations=np.ma.masked_array(np.array(fix)))


def test_complex_maps_are_refused(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    with pytest.raises(TypeError, match=r"saliency is complex \(dtype complex128\).*np.abs"):
        kld(s + 0j, h)
    with pytest.raises(TypeError, match="human is complex"):
        sim(s, h.astype(np.complex64))
    with pytest.raises(TypeError, match="fixation_mask is complex"):
        nss(s, mask + 0j)


def test_resize_is_bilinear_to_the_human_grid(pair: tuple[np.ndarray, ...]) -> None:
    s, h, _ = pair
    small = s[::2, ::2]
    with pytest.raises(ValueError, match="pass resize=True"):
        ncc(small, h)
    up = vm.resize_bilinear(small, h.shape)
    assert up.shape == h.shape
    assert ncc(small, h, resize=True) == ncc(up, h)


# ----------------------------------------------------------------------- errors

BAD = np.ones((4, 5))
NAN = BAD.copy()
NAN[1, 2] = np.nan
INF = BAD.copy()
INF[0, 0] = np.inf
NEG = BAD.copy()
NEG[2, 2] = -0.1


@pytest.mark.parametrize(
    "call,err,message",
    [
        pytest.param(lambda: ncc(NAN, BAD), ValueError, "saliency must be finite; it contains 1 NaN", id="nan-saliency"),
        pytest.param(lambda: ncc(BAD, INF), ValueError, "human must be finite; it contains 0 NaN and 1 inf", id="inf-human"),
        pytest.param(lambda: auc_borji(INF, BAD), ValueError, "saliency must be finite", id="inf-saliency-auc"),
        pytest.param(lambda: auc_borji(BAD, NAN), ValueError, "human must be finite", id="nan-human-auc"),
        pytest.param(lambda: auc_borji_mit(NAN, BAD > 0), ValueError, "saliency must be finite", id="nan-saliency-mit"),
        pytest.param(lambda: ncc(np.ones(5), np.ones(5)), ValueError, "saliency must be 2-D; got shape", id="1d"),
        pytest.param(lambda: ncc(np.ones((2, 2, 3)), BAD), ValueError, "saliency must be 2-D", id="3d"),
        pytest.param(lambda: ncc(BAD, np.ones((4, 6))), ValueError, "saliency has shape (4, 5) but human has shape (4, 6); pass resize=True", id="shape"),
        pytest.param(lambda: auc_borji_mit(BAD, np.ones((5, 5))), ValueError, "but fixation_mask has shape", id="shape-mask"),
        pytest.param(lambda: auc_borji(BAD, NEG), ValueError, "human must be a non-negative density map; its minimum is -0.1", id="negative-density"),
        pytest.param(lambda: sim(BAD, NEG), ValueError, "non-negative", id="negative-density-sim"),
        pytest.param(lambda: kld(NEG, BAD), ValueError, "saliency must be non-negative for kld", id="negative-saliency-kld"),
        pytest.param(lambda: nss(BAD, NEG), ValueError, "fixation_mask must be a binary", id="negative-mask"),
        pytest.param(lambda: ncc(np.ones((0, 3)), np.ones((0, 3))), ValueError, "saliency must not be empty", id="empty-map"),
        pytest.param(lambda: ncc([["a"]], BAD), TypeError, "saliency must be a numeric array", id="strings"),
        pytest.param(lambda: ncc(BAD.astype(complex), BAD), TypeError, "is complex", id="complex"),
        pytest.param(lambda: auc_borji(BAD, BAD, n_pos=0), ValueError, "n_pos must be >= 1", id="n_pos"),
        pytest.param(lambda: auc_borji_mit(BAD, BAD, step=0), ValueError, "step must be a finite number > 0", id="step"),
        pytest.param(lambda: auc_borji_mit(BAD, BAD, step=2), ValueError, "step must be in", id="step-big"),
        pytest.param(lambda: auc_borji(BAD, BAD, rng="seed"), TypeError, "rng must be", id="rng"),  # type: ignore[arg-type]
        pytest.param(lambda: compute("cc", BAD, BAD), ValueError, "unknown metric 'cc'; known metrics: ncc, auc_borji", id="unknown-metric"),
        pytest.param(lambda: compute("nss", BAD, BAD), ValueError, "metric 'nss' needs fixations", id="no-fixations"),
        pytest.param(lambda: compute("nss", BAD, BAD, fixations=np.zeros((0, 3))), ValueError, "fixations is empty", id="empty-fixations"),
        pytest.param(lambda: compute("auc_shuffled", BAD, BAD, fixations=[[1, 1, 1]]), ValueError, "needs other_fixations", id="no-others"),
        pytest.param(lambda: compute("ncc", BAD, BAD, n_splits=3), ValueError, "metric 'ncc' has no option n_splits", id="bad-option"),
        pytest.param(lambda: compute("nss", BAD, BAD, fixations=[[1, 2, 3, 4]]), ValueError, "N×2 (x, y) or N×3", id="fixation-columns"),
        pytest.param(lambda: compute("nss", BAD, BAD, fixations=[[np.nan, 1, 1]]), ValueError, "fixations must be finite", id="fixation-nan"),
    ],
)
def test_bad_inputs(call: object, err: type[Exception], message: str) -> None:
    with pytest.raises(err, match=__import__("re").escape(message)):
        call()  # type: ignore[operator]


def test_all_fixations_off_grid_raise() -> None:
    with pytest.warns(UserWarning, match="outside"), pytest.raises(ValueError, match="none of the 1 fixations"):
        compute("nss", BAD, BAD, fixations=[[50.0, 1.0, 1.0]])


@pytest.mark.parametrize(
    "call,reason",
    [
        pytest.param(lambda: ncc(BAD, BAD), "the saliency map is constant", id="ncc-constant"),
        pytest.param(lambda: ncc(np.arange(20.0).reshape(4, 5), BAD), "human map is constant", id="ncc-constant-human"),
        pytest.param(lambda: ncc([[1.0]], [[1.0]]), "single pixel", id="ncc-one-pixel"),
        pytest.param(lambda: auc_borji(BAD, np.zeros((4, 5))), "zero mass", id="auc-zero-human"),
        pytest.param(lambda: auc_borji_mit(np.arange(20.0).reshape(4, 5), np.eye(4, 5) * (np.arange(5) == 0)), "at least 2 fixated pixels (got 1)", id="mit-one-fixation"),
        pytest.param(lambda: auc_borji_mit(np.arange(20.0).reshape(4, 5), np.zeros((4, 5))), "got 0", id="mit-empty-mask"),
        pytest.param(lambda: auc_judd(np.arange(20.0).reshape(4, 5), np.zeros((4, 5))), "no fixated pixel", id="judd-empty"),
        pytest.param(lambda: auc_judd(np.arange(20.0).reshape(4, 5), BAD), "every pixel is fixated", id="judd-all"),
        pytest.param(lambda: auc_shuffled(np.arange(20.0).reshape(4, 5), BAD, np.zeros((4, 5))), "other_mask has no fixated pixel", id="shuffled-no-others"),
        pytest.param(lambda: nss(BAD, np.eye(4, 5)), "constant", id="nss-constant"),
        pytest.param(lambda: sim(BAD, np.arange(20.0).reshape(4, 5)), "saliency map is constant", id="sim-constant"),
        pytest.param(lambda: sim(BAD, np.zeros((4, 5))), "zero mass", id="sim-zero-human"),
        pytest.param(lambda: kld(BAD, np.zeros((4, 5))), "zero mass", id="kld-zero-human"),
        pytest.param(lambda: info_gain(BAD, np.eye(4, 5)), "saliency map is constant", id="ig-constant"),
    ],
)
def test_undefined_is_nan_with_a_warning(call: object, reason: str) -> None:
    with pytest.warns(UndefinedMetricWarning, match=__import__("re").escape(reason)):
        value = call()  # type: ignore[operator]
    assert math.isnan(value)


def test_compute_shuffled_without_other_fixations_is_nan() -> None:
    s = np.arange(20.0).reshape(4, 5)
    with pytest.warns(UndefinedMetricWarning, match="other_mask has no fixated pixel"):
        assert math.isnan(compute("auc_shuffled", s, BAD, fixations=[[1, 1, 1]],
                                  other_fixations=np.zeros((0, 3)), rng=0))


def test_kld_all_zero_saliency_follows_mit() -> None:
    """MIT keeps an all-zero saliency map at zero: the divergence is large but finite."""
    value = kld(np.zeros((2, 2)), [[0, 0], [0, 1]])
    assert value == pytest.approx(math.log(vm.MATLAB_EPS + 1 / vm.MATLAB_EPS))


# ----------------------------------------------------------------------- registry, compute


def test_registry_names_and_specs() -> None:
    names = vm.metric_names()
    for required in ["ncc", "auc_borji", "auc_borji_mit", "auc_judd", "auc_shuffled",
                     "nss", "sim", "kld", "info_gain"]:
        assert required in names
        spec = vm.get_metric(required)
        assert spec.name == required and callable(spec.func) and spec.description
    assert vm.get_metric("kld").higher_is_better is False
    assert vm.get_metric("auc_shuffled").needs == "fixations+others"
    assert vm.get_metric("ncc").needs == "density"
    assert vm.get_metric("nss").needs == "fixations"


def test_register_rejects_duplicates_and_bad_needs() -> None:
    with pytest.raises(ValueError, match="already registered"):
        vm.register("ncc", needs="density")(lambda s, h: 0.0)
    with pytest.raises(ValueError, match="needs must be one of"):
        vm.register("new_metric_x", needs="pixels")(lambda s, h: 0.0)  # type: ignore[arg-type]
    assert "new_metric_x" not in vm.metric_names()


def test_compute_builds_the_mask_from_fixations(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    fix = np.column_stack([np.argwhere(mask)[:, ::-1] + 0.3, np.full(int(mask.sum()), 250.0)])
    assert compute("nss", s, h, fixations=fix) == nss(s, mask)
    assert compute("auc_borji_mit", s, h, fixations=fix, rng=1, n_splits=10) == auc_borji_mit(
        s, mask, rng=1, n_splits=10
    )
    assert compute("info_gain", s, h, fixations=fix, baseline=h) == info_gain(s, mask, baseline=h)


def test_compute_all_applies_what_the_inputs_allow(pair: tuple[np.ndarray, ...]) -> None:
    s, h, mask = pair
    fix = np.argwhere(mask)[:, ::-1].astype(float)
    assert set(compute_all(s, h, rng=0)) == {"ncc", "auc_borji", "sim", "kld"}
    with_fix = compute_all(s, h, fixations=fix, rng=0)
    assert {"auc_borji_mit", "auc_judd", "nss", "info_gain"} <= set(with_fix)
    assert "auc_shuffled" in compute_all(s, h, fixations=fix, other_fixations=fix[::-1] + 5, rng=0)
    assert compute_all(s, h, fixations=fix, rng=0) == with_fix  # one seed fixes the table
    with pytest.raises(ValueError, match="needs fixations"):
        compute_all(s, h, metrics=["nss"])


def test_center_bias_is_a_centred_density() -> None:
    m = center_bias((31, 41), sigma=0.2)
    assert m.sum() == pytest.approx(1.0)
    assert np.unravel_index(m.argmax(), m.shape) == (15, 20)
    np.testing.assert_allclose(m, m[::-1, ::-1])


def test_info_gain_default_baseline_is_center_bias(pair: tuple[np.ndarray, ...]) -> None:
    s, _, mask = pair
    assert info_gain(s, mask) == info_gain(s, mask, baseline=center_bias(mask.shape))


# ----------------------------------------------------------------------- properties

dtypes = st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.int64])


@st.composite
def map_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(st.tuples(st.integers(2, 12), st.integers(2, 12)))
    s = draw(hnp.arrays(draw(dtypes), shape, elements=st.integers(0, 200)))
    h = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1e3, allow_subnormal=False)))
    return s, h


@settings(max_examples=60, deadline=None)
@given(map_pairs())
def test_property_ranges_and_purity(maps: tuple[np.ndarray, np.ndarray]) -> None:
    """Over shapes and dtypes: values in range (or NaN with a warning), inputs untouched."""
    s, h = maps
    s0, h0 = s.copy(), h.copy()
    mask = h > np.median(h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        r = ncc(s, h)
        a = auc_borji(s, h, n_pos=50, n_neg=50, rng=0)
        m = auc_borji_mit(s, mask, n_splits=5, rng=0)
        j = auc_judd(s, mask, rng=0)
        q = sim(s, h)
    for v, lo, hi in [(r, -1, 1), (a, 0, 1), (m, 0, 1), (j, 0, 1), (q, 0, 1 + 1e-12)]:
        assert math.isnan(v) or lo <= v <= hi
    assert math.isnan(r) == (s.min() == s.max() or h.min() == h.max())
    assert math.isnan(a) == (h.sum() == 0)
    np.testing.assert_array_equal(s, s0)
    np.testing.assert_array_equal(h, h0)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(2, 9), st.integers(2, 9)),
               elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, 1e3),
)
def test_property_ncc_is_symmetric_and_scale_free(s: np.ndarray, scale: float, offset: float) -> None:
    h = np.abs(np.sin(np.arange(s.size, dtype=float))).reshape(s.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        a = ncc(s, h)
        b = ncc(h, s)  # human need not be a density for ncc
        c = ncc(s * scale + offset, h)
    if math.isnan(a):
        return
    # np.corrcoef itself underflows on maps like [[1e-261, 0], [0, 0]]: give it unit scale
    ref = np.corrcoef(s.ravel() / np.abs(s).max(), h.ravel())[0, 1]
    assert a == pytest.approx(ref, abs=1e-9)
    assert a == pytest.approx(b, abs=1e-12)
    assert math.isnan(c) or c == pytest.approx(a, abs=1e-6)
