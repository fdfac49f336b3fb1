"""vista.metrics.stats: Holm, win rates, Bradley-Terry and noise ceilings, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vista.metrics import ncc
from vista.metrics.stats import (
    bradley_terry,
    fraction_of_ceiling,
    holm,
    leave_one_out,
    spearman_brown,
    split_half,
    win_rates,
)


def test_holm_on_known_p_values() -> None:
    """Worked by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 gives 0.02, 0.03,
    0.06, 0.04; the running maximum makes the last 0.06."""
    got = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])


def test_holm_matches_the_sequential_rejection_rule() -> None:
    """Holm's procedure as Holm (1979) states it: reject H_(k) while p_(k) <= alpha /
    (m - k + 1); the adjusted p is below alpha exactly for the rejected hypotheses."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        p = rng.random(7) ** 3
        alpha = 0.05
        order = np.argsort(p)
        rejected = np.zeros(7, bool)
        for k, i in enumerate(order):
            if p[i] <= alpha / (7 - k):
                rejected[i] = True
            else:
                break
        np.testing.assert_array_equal(holm(p) <= alpha, rejected)


def test_holm_keeps_nan_out_of_the_family_and_caps_at_one() -> None:
    got = holm([[0.2, np.nan], [0.5, 0.01]])
    assert got.shape == (2, 2) and math.isnan(got[0, 1])
    # sorted 0.01, 0.2, 0.5 times 3, 2, 1: 0.03, 0.4, 0.5
    np.testing.assert_allclose(got[~np.isnan(got)], [0.4, 0.5, 0.03])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_win_rates_by_hand() -> None:
    """a beats b on triplets 0 and 3, ties on 1, loses on 2: (2 + 0.5) / 4."""
    w = win_rates({"a": [3, 2, 1, 5], "b": [1, 2, 4, 0]}, n_boot=100, rng=0)
    assert w.rates[0, 1] == 0.625 and w.rates[1, 0] == 0.375
    assert math.isnan(w.rates[0, 0]) and w.n[0, 1] == 4
    assert w.low[0, 1] <= 0.625 <= w.high[0, 1]
    assert w.low[1, 0] == pytest.approx(1 - w.high[0, 1])
    lower = win_rates({"a": [3, 2, 1, 5], "b": [1, 2, 4, 0]}, higher_is_better=False,
                      n_boot=10, rng=0)
    assert lower.rates[0, 1] == 0.375
    d = w.to_dict()
    assert d["a > b"]["rate"] == 0.625 and d["b > a"]["n"] == 4


def test_win_rates_leave_out_nan_pairs() -> None:
    w = win_rates({"a": [1.0, np.nan, 3.0], "b": [0.0, 1.0, 4.0], "c": [2, 2, 2]},
                  n_boot=50, rng=1)
    assert w.n[0, 1] == 2 and w.rates[0, 1] == 0.5
    assert w.n[1, 2] == 3 and w.rates[2, 1] == pytest.approx(2 / 3)


def test_win_rate_cluster_interval_is_wider_for_identical_segments() -> None:
    """40 images with 5 identical segments each: resampling triplets counts each image's
    outcome 5 times as if independent, so its interval is about sqrt(5) too narrow."""
    rng = np.random.default_rng(0)
    a = np.repeat(rng.random(40), 5)
    b = np.repeat(rng.random(40), 5)
    images = np.repeat([f"img{i}" for i in range(40)], 5)
    trip = win_rates({"a": a, "b": b}, n_boot=2000, rng=2)
    clus = win_rates({"a": a, "b": b}, clusters=images, n_boot=2000, rng=2)
    assert trip.rates[0, 1] == clus.rates[0, 1]
    assert clus.n_clusters == 40 and trip.n_clusters == 0
    wide = clus.high[0, 1] - clus.low[0, 1]
    narrow = trip.high[0, 1] - trip.low[0, 1]
    assert wide > 1.6 * narrow


def test_bradley_terry_two_models_by_hand() -> None:
    """3 wins in 4: the MLE odds are 3 to 1; a prior of one tie gives (3.5 : 1.5)."""
    b = bradley_terry([[0, 3], [1, 0]], prior=0)
    assert math.exp(b[0] - b[1]) == pytest.approx(3.0, rel=1e-8)
    assert b.sum() == pytest.approx(0.0, abs=1e-12)
    b1 = bradley_terry([[0, 3], [1, 0]], prior=1)
    assert math.exp(b1[0] - b1[1]) == pytest.approx(3.5 / 1.5, rel=1e-8)


def test_bradley_terry_recovers_planted_strengths() -> None:
    """Expected outcomes of known strengths (counts = n * P(i beats j)) are fitted exactly."""
    true = np.array([1.0, 0.0, -0.5, -0.5])
    p = 1 / (1 + np.exp(-(true[:, None] - true[None, :])))
    n = 1000
    wins = n * p
    np.fill_diagonal(wins, 0)
    got = bradley_terry(wins, prior=0)
    np.testing.assert_allclose(got, true - true.mean(), atol=1e-7)
    assert list(np.argsort(-got)[:2]) == [0, 1]


def test_bradley_terry_without_prior_needs_a_finite_estimate() -> None:
    with pytest.raises(ValueError, match="never wins or never loses"):
        bradley_terry([[0, 5], [0, 0]], prior=0)
    assert np.isfinite(bradley_terry([[0, 5], [0, 0]])).all()


def test_spearman_brown_by_hand() -> None:
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.6, factor=1) == pytest.approx(0.6)
    assert spearman_brown(0.25, factor=3) == pytest.approx(0.75 / 1.5)
    with pytest.raises(ValueError, match="factor"):
        spearman_brown(0.5, factor=0)


def test_leave_one_out_by_hand() -> None:
    """Two observers: each is predicted by the other, so both values are NCC(a, b)."""
    rng = np.random.default_rng(3)
    a, b = rng.random((8, 9)), rng.random((8, 9))
    got = leave_one_out([a, b])
    assert got == pytest.approx([ncc(b, a), ncc(a, b)])
    three = leave_one_out([a, b, a + b])
    assert three[0] == pytest.approx(ncc(b / b.sum() + (a + b) / (a + b).sum(), a))


def test_split_half_identical_and_independent_observers() -> None:
    rng = np.random.default_rng(4)
    base = rng.random((10, 10))
    same = split_half([base] * 6, n_splits=10, rng=0)
    assert same.r_half == pytest.approx(1.0) and same.r_full == pytest.approx(1.0)
    noise = split_half([rng.random((30, 30)) for _ in range(8)], n_splits=50, rng=0)
    assert abs(noise.r_half) < 0.1 and noise.n_observers == 8
    assert noise.r_full == pytest.approx(spearman_brown(noise.r_half))


def test_split_half_of_two_observers_is_their_correlation() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.random((6, 6)), rng.random((6, 6))
    got = split_half([a, b], n_splits=4, rng=0)
    assert got.r_half == pytest.approx(ncc(a, b))
    assert got.r_full == pytest.approx(2 * ncc(a, b) / (1 + ncc(a, b)))


def test_fraction_of_ceiling() -> None:
    assert fraction_of_ceiling(0.3, 0.6) == pytest.approx(0.5)
    assert fraction_of_ceiling(0.75, 1.0, chance=0.5) == 0.5
    assert math.isnan(fraction_of_ceiling(0.3, 0.0))


@pytest.mark.parametrize(
    "call,message",
    [
        pytest.param(lambda: win_rates({"a": [1, 2]}), "at least two", id="one-model"),
        pytest.param(lambda: win_rates({"a": [1, 2], "b": [1]}), "same triplets", id="lengths"),
        pytest.param(lambda: win_rates({"a": [1, np.inf], "b": [1, 2]}), "inf", id="inf"),
        pytest.param(lambda: bradley_terry([[0, 1, 2]]), "square", id="bt-shape"),
        pytest.param(lambda: bradley_terry([[0, -1], [1, 0]]), "finite and non-negative", id="bt-negative"),
        pytest.param(lambda: split_half([np.ones((2, 2))]), "at least 2", id="one-observer"),
        pytest.param(lambda: leave_one_out([np.ones((2, 2)), np.ones((3, 2))]), "one grid",
                     id="grids"),
    ],
)
def test_bad_input(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_bradley_terry_from_win_rates() -> None:
    """rates * n of WinRates (NaN diagonal) is accepted; a clear winner ranks first."""
    a = np.arange(50.0)
    w = win_rates({"best": a + 1, "mid": a, "worst": a - 1}, n_boot=10, rng=0)
    b = bradley_terry(w.rates * w.n)
    assert list(np.argsort(-b)) == [0, 1, 2]


def test_kendalls_w_by_hand() -> None:
    """Hand-worked: three judges rank four items as (1,2,3,4), (2,1,3,4), (1,2,4,3): rank
    sums 4, 5, 10, 11, mean 7.5, S = 12.25 + 6.25 + 6.25 + 12.25 = 37; W = 12·37 /
    (9·60) = 0.8222."""
    from vista.metrics.stats import kendalls_w

    assert kendalls_w([[1, 2, 3, 4], [2, 1, 3, 4], [1, 2, 4, 3]]) == pytest.approx(444 / 540)
    assert kendalls_w([[1, 2, 3], [3, 1, 2], [2, 3, 1]]) == 0.0
    # a tie: ranks (1.5, 1.5, 3) and (1, 2, 3): sums 2.5, 3.5, 6, S = 6.5; T = 6 for the
    # tied pair; W = 12·6.5 / (4·24 - 2·6) = 78 / 84
    assert kendalls_w([[1.5, 1.5, 3], [1, 2, 3]]) == pytest.approx(78 / 84)
    assert math.isnan(kendalls_w([[1], [1]]))
