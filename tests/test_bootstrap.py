"""vista.metrics.bootstrap: resampling, intervals, NaN handling, paired comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vista.metrics.bootstrap import (
    BootstrapResult,
    DroppedValuesWarning,
    PairedBootstrapResult,
    bootstrap,
    paired_bootstrap,
)


@pytest.fixture
def scores(rng: np.random.Generator) -> np.ndarray:
    """508 per-triplet scores, like one model's NCC on VISTA."""
    return np.clip(rng.normal(0.35, 0.2, 508), -1, 1)


def test_ci_mode_defaults(scores: np.ndarray) -> None:
    r = bootstrap(scores, rng=0)
    assert isinstance(r, BootstrapResult)
    assert r.mode == "ci" and r.interval == "percentile" and r.n_boot == 1000
    assert r.replicates.shape == (1000,) and not r.replicates.flags.writeable
    assert r.mean == pytest.approx(scores.mean())
    assert r.low < r.mean < r.high
    assert r.n == 508 and r.n_dropped == 0 and r.confidence == 0.95


def test_percentile_interval_is_the_quantiles_of_the_replicates(scores: np.ndarray) -> None:
    r = bootstrap(scores, rng=1, confidence=0.9)
    assert (r.low, r.high) == tuple(np.quantile(r.replicates, [0.05, 0.95]))


def test_replicates_are_means_of_one_index_matrix(scores: np.ndarray) -> None:
    """Same seed: the replicates are the row means of scores[integers(0, n, (n_boot, n))]."""
    r = bootstrap(scores, n_boot=50, rng=3)
    idx = np.random.default_rng(3).integers(0, scores.size, size=(50, scores.size))
    np.testing.assert_array_equal(r.replicates, scores[idx].mean(axis=1))


def test_standard_error_matches_theory(scores: np.ndarray) -> None:
    """The bootstrap SE of a mean approaches std(ddof=0) / sqrt(n)."""
    r = bootstrap(scores, n_boot=4000, rng=2)
    assert r.std == pytest.approx(scores.std() / math.sqrt(scores.size), rel=0.05)


def test_paper_mode_five_iterations(scores: np.ndarray) -> None:
    r = bootstrap(scores, mode="paper", rng=0)
    assert r.n_boot == 5 and r.replicates.shape == (5,) and r.mode == "paper"
    assert (r.low, r.high) == (r.replicates.min(), r.replicates.max())
    assert r.std == pytest.approx(r.replicates.std(ddof=1))
    with pytest.raises(ValueError, match="n_boot must be None or 5 in paper mode"):
        bootstrap(scores, mode="paper", n_boot=10)


def test_bca_matches_scipy(scores: np.ndarray) -> None:
    """scipy.stats.bootstrap(method='BCa') on the same data: the same interval up to
    Monte-Carlo error (20 000 resamples each; the SE of the mean here is about 0.009)."""
    stats = pytest.importorskip("scipy.stats", reason="scipy is needed for the reference")
    data = scores[:200] ** 2  # skewed, so BCa differs from the percentile interval
    ours = bootstrap(data, n_boot=20000, interval="bca", rng=0)
    ref = stats.bootstrap((data,), np.mean, n_resamples=20000, method="BCa", random_state=1)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.002)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.002)


def test_same_seed_same_interval(scores: np.ndarray) -> None:
    assert bootstrap(scores, rng=5).low == bootstrap(scores, rng=5).low
    assert bootstrap(scores, rng=5).low != bootstrap(scores, rng=6).low


def test_nan_is_dropped_with_a_count(scores: np.ndarray) -> None:
    values = scores.copy()
    values[[3, 10, 200]] = np.nan
    with pytest.warns(DroppedValuesWarning, match="3 of 508 values dropped"):
        r = bootstrap(values, rng=0)
    assert r.n == 505 and r.n_dropped == 3
    assert r.mean == pytest.approx(np.nanmean(values))


def test_input_not_mutated(scores: np.ndarray) -> None:
    values = scores.copy()
    values[0] = np.nan
    before = values.copy()
    with pytest.warns(DroppedValuesWarning):
        bootstrap(values, rng=0)
    np.testing.assert_array_equal(values, before)


def test_constant_values_give_a_point_interval() -> None:
    r = bootstrap([0.5] * 20, interval="bca", rng=0)
    assert r.low == r.high == r.mean == 0.5


@pytest.mark.parametrize(
    "kwargs,err,message",
    [
        pytest.param({"values": []}, ValueError, "values must hold at least one score", id="empty"),
        pytest.param({"values": [np.nan, np.nan]}, ValueError, "no values left to resample: all 2 are NaN", id="all-nan"),
        pytest.param({"values": [0.1, np.inf]}, ValueError, "must not contain inf", id="inf"),
        pytest.param({"values": [[0.1, 0.2]]}, ValueError, "values must be 1-D", id="2d"),
        pytest.param({"values": [0.1], "mode": "fast"}, ValueError, "mode must be one of 'ci', 'paper'", id="mode"),
        pytest.param({"values": [0.1], "interval": "bc"}, ValueError, "interval must be one of", id="interval"),
        pytest.param({"values": [0.1], "confidence": 95}, ValueError, "confidence must be in (0, 1)", id="confidence"),
        pytest.param({"values": [0.1], "n_boot": 0}, ValueError, "n_boot must be >= 1", id="n_boot"),
        pytest.param({"values": ["a"]}, TypeError, "values must be a numeric array", id="strings"),
    ],
)
def test_bootstrap_errors(kwargs: dict, err: type[Exception], message: str) -> None:
    values = kwargs.pop("values")
    with pytest.raises(err, match=__import__("re").escape(message)):
        bootstrap(values, **kwargs)


def test_paired_bootstrap_detects_a_real_difference(scores: np.ndarray, rng: np.random.Generator) -> None:
    better = scores + 0.05 + rng.normal(0, 0.02, scores.size)
    r = paired_bootstrap(better, scores, rng=0)
    assert isinstance(r, PairedBootstrapResult)
    assert r.difference == pytest.approx(float((better - scores).mean()))
    assert 0 < r.low < r.difference < r.high
    assert r.p_value == pytest.approx(1 / 1001)  # smallest possible with 1000 iterations


def test_paired_bootstrap_no_difference(scores: np.ndarray, rng: np.random.Generator) -> None:
    other = scores + rng.normal(0, 0.05, scores.size)
    other = other - (other - scores).mean()  # exactly the same mean
    r = paired_bootstrap(other, scores, rng=0)
    assert r.low < 0 < r.high
    assert r.p_value > 0.5


def test_paired_p_value_is_uniform_under_the_null() -> None:
    """Over many null data sets, p < 0.05 about 5 % of the time (checked loosely)."""
    gen = np.random.default_rng(0)
    ps = [
        paired_bootstrap(gen.normal(0, 1, 60), gen.normal(0, 1, 60), n_boot=400, rng=i).p_value
        for i in range(200)
    ]
    assert 0.01 <= np.mean(np.array(ps) < 0.05) <= 0.12


def test_paired_drops_a_triplet_nan_in_either(scores: np.ndarray) -> None:
    a = scores.copy()
    b = scores * 0.9
    a[0] = np.nan
    b[[0, 1]] = np.nan
    with pytest.warns(DroppedValuesWarning, match="2 of 508 triplets dropped"):
        r = paired_bootstrap(a, b, rng=0)
    assert r.n == 506 and r.n_dropped == 2


def test_paired_errors() -> None:
    with pytest.raises(ValueError, match="a and b must score the same triplets; got 3 and 2"):
        paired_bootstrap([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="no triplets left to resample: all 2 are NaN"):
        paired_bootstrap([np.nan, 0.2], [0.1, np.nan])
    with pytest.raises(ValueError, match="at least one score"):
        paired_bootstrap([], [])


def test_to_dict_is_json_ready(scores: np.ndarray) -> None:
    import json

    d = bootstrap(scores, n_boot=10, rng=0).to_dict()
    assert json.loads(json.dumps(d))["n_boot"] == 10
    p = paired_bootstrap(scores, scores * 0.5, n_boot=10, rng=0).to_dict()
    assert len(json.loads(json.dumps(p))["replicates"]) == 10


# ----------------------------------------------------------------------- cluster bootstrap


def test_cluster_interval_is_wider_when_segments_of_an_image_are_identical() -> None:
    """60 images with 4 segments each whose scores are identical: the triplet bootstrap
    treats the 240 copies as independent, so its interval is about half (1/sqrt(4)) the
    width of the image bootstrap's, which resamples the 60 images."""
    rng = np.random.default_rng(0)
    per_image = rng.normal(0.4, 0.2, 60)
    values = np.repeat(per_image, 4)
    images = np.repeat([f"images/{i}.jpg" for i in range(60)], 4)
    trip = bootstrap(values, n_boot=4000, rng=1)
    clus = bootstrap(values, clusters=images, n_boot=4000, rng=1)
    assert clus.mean == trip.mean and clus.n_clusters == 60 and trip.n_clusters == 0
    ratio = (clus.high - clus.low) / (trip.high - trip.low)
    assert 1.6 < ratio < 2.5
    # the image bootstrap of the copies is the triplet bootstrap of the 60 image means
    single = bootstrap(per_image, n_boot=4000, rng=1)
    assert clus.std == pytest.approx(single.std, rel=1e-12)


def test_cluster_replicates_by_hand() -> None:
    """Each replicate is the mean over every value of the drawn clusters."""
    values = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    labels = ["a", "a", "a", "b", "b"]
    r = bootstrap(values, clusters=labels, n_boot=20, rng=7)
    draws = np.random.default_rng(7).integers(0, 2, size=(20, 2))
    sums, counts = np.array([6.0, 30.0]), np.array([3, 2])
    want = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    np.testing.assert_allclose(r.replicates, want)
    assert r.to_dict()["n_clusters"] == 2
    assert "n_clusters" not in bootstrap(values, n_boot=5, rng=0).to_dict()


def test_cluster_nan_and_bca() -> None:
    values = np.array([0.1, np.nan, 0.3, 0.4, 0.5, 0.2])
    labels = ["a", "b", "b", "c", "c", "d"]
    with pytest.warns(DroppedValuesWarning, match="1 of 6"):
        r = bootstrap(values, clusters=labels, interval="bca", n_boot=300, rng=0)
    assert r.n == 5 and r.n_clusters == 4 and r.low <= r.mean <= r.high
    with pytest.raises(ValueError, match="one label per value"):
        bootstrap(values, clusters=["a", "b"])
    with pytest.raises(TypeError, match="sequence of labels"):
        bootstrap(values, clusters="abcdef")


def test_paired_cluster_bootstrap() -> None:
    rng = np.random.default_rng(2)
    base = np.repeat(rng.normal(0, 1, 30), 3)
    a, b = base + 0.1, base + np.repeat(rng.normal(0, 0.3, 30), 3)
    images = np.repeat(np.arange(30), 3)
    trip = paired_bootstrap(a, b, n_boot=2000, rng=0)
    clus = paired_bootstrap(a, b, clusters=images, n_boot=2000, rng=0)
    assert clus.difference == trip.difference and clus.n_clusters == 30
    assert (clus.high - clus.low) > 1.4 * (trip.high - trip.low)
