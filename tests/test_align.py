"""vista.gaze.align: fixations to text segments by time, weighted by overlap."""

from __future__ import annotations

import numpy as np
import pytest

from vista.gaze.align import align, align_all, overlap_ms
from vista.records import Fixations, Segment


def fix(*spans):
    n = len(spans)
    return Fixations(np.array([s for s, _ in spans], float), np.array([e for _, e in spans], float),
                     np.arange(n) * 10.0,
                     np.arange(n) * 5.0)


# Segment 3000..4000 ms; default window 1500..4000.
@pytest.mark.parametrize(
    "span, weight",
    [
        pytest.param((2000, 2500), 500.0, id="inside"),
        pytest.param((1200, 1700), 200.0, id="cut-by-window-start"),
        pytest.param((3900, 4300), 100.0, id="cut-by-window-end"),
        pytest.param((1000, 5000), 2500.0, id="covers-whole-window"),
        pytest.param((1000, 1500), None, id="ends-at-window-start"),
        pytest.param((4000, 4200), None, id="starts-at-window-end"),
        pytest.param((2000, 2000), None, id="zero-duration"),
        pytest.param((100, 900), None, id="before"),
        pytest.param((4500, 4800), None, id="after"),
    ],
)
def test_overlap_weighting_by_hand(span, weight) -> None:
    sel, w = align(fix(span), Segment("a dog", 3000, 4000))
    if weight is None:
        assert len(sel) == 0 and w.size == 0
    else:
        assert len(sel) == 1 and w.tolist() == [weight]


def test_lead_and_lag_move_the_window() -> None:
    f = fix((0, 1000), (2500, 3200), (4100, 4400))
    seg = Segment("a", 3000, 4000)
    _, w = align(f, seg, lead_ms=0, lag_ms=0)
    assert w.tolist() == [200.0]
    _, w = align(f, seg, lead_ms=0, lag_ms=300)
    assert w.tolist() == [200.0, 200.0]
    _, w = align(f, seg, lead_ms=3000, lag_ms=0)
    assert w.tolist() == [1000.0, 700.0]
    sel, w = align(f, seg, lead_ms=0, lag_ms=-900)  # window 3000..3100
    assert w.tolist() == [100.0] and sel.xs.tolist() == [10.0]


def test_empty_window_selects_nothing() -> None:
    f = fix((0, 10_000))
    sel, w = align(f, Segment("a", 3000, 3000), lead_ms=0, lag_ms=0)
    assert len(sel) == 0 and w.size == 0
    sel, w = align(f, Segment("a", 3000, 4000), lead_ms=-2000, lag_ms=0)  # end before start
    assert len(sel) == 0


def test_selection_keeps_order_and_fields() -> None:
    f = Fixations(*map(np.array, ([0, 100, 200], [50, 150, 250], [1.5, 2.5, 3.5], [4, 5, 6],
                                  ["L", "R", "L"])))
    sel, w = align(f, Segment("x", 120, 220), lead_ms=0, lag_ms=0)
    assert sel.xs.tolist() == [2.5, 3.5] and sel.eyes.tolist() == ["R", "L"]
    assert w.tolist() == [30.0, 20.0]


def test_align_all_equals_align_per_segment(rng) -> None:
    starts = np.sort(rng.uniform(0, 20_000, 60))
    f = Fixations(starts, starts + rng.uniform(80, 500, 60), rng.uniform(0, 100, 60),
                  rng.uniform(0, 100, 60))
    segs = [Segment(str(k), t, t + d) for k, (t, d) in
            enumerate(zip(rng.uniform(0, 20_000, 12), rng.uniform(0, 3000, 12), strict=True))]
    together = align_all(f, segs, lead_ms=800, lag_ms=100)
    for seg, (sel, w) in zip(segs, together, strict=True):
        sel1, w1 = align(f, seg, lead_ms=800, lag_ms=100)
        assert sel == sel1
        np.testing.assert_array_equal(w, w1)
        assert (w > 0).all()


def test_does_not_mutate_and_handles_no_segments() -> None:
    f = fix((0, 100))
    assert align_all(f, []) == []
    align(f, Segment("a", 0, 50))
    assert f.starts_ms.tolist() == [0.0]


def test_overlap_ms_broadcasts() -> None:
    got = overlap_ms([[0], [100]], [[50], [300]], [0, 200], [100, 250])
    assert got.tolist() == [[50.0, 0.0], [0.0, 50.0]]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param({"lead_ms": float("nan")}, ValueError, "lead_ms must be finite", id="nan"),
        pytest.param({"lag_ms": "soon"}, TypeError, "lag_ms must be a number", id="text"),
    ],
)
def test_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        align(fix((0, 1)), Segment("a", 0, 1), **kwargs)


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="Fixations record"):
        align([(0, 1)], Segment("a", 0, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Segment records"):
        align_all(fix((0, 1)), [("a", 0, 1)])  # type: ignore[list-item]
