"""Fixation detection from samples: synthetic gaze with known fixations, and a real
recording compared with the EyeLink parser's own fixations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vista.gaze.detect import (
    DETECTORS,
    detect_fixations,
    detector_names,
    dispersion_deg,
    register,
    velocities_deg_s,
)
from vista.gaze.recording import Samples
from vista.records import Screen

PPD = 40.0  # px per degree
TRUTH = [  # start, end (inclusive sample times), x, y
    (0.0, 249.0, 300.0, 200.0),
    (290.0, 589.0, 700.0, 500.0),
    (630.0, 899.0, 200.0, 650.0),
    (940.0, 1199.0, 900.0, 300.0),
]


def _synthetic(rng: np.random.Generator, *, noise_px: float = 0.4,
               gap: tuple[int, int] | None = None) -> Samples:
    """1000 Hz samples: the fixations of TRUTH with Gaussian noise, joined by 40 ms
    linear saccades (about 300-500 deg/s)."""
    t = np.arange(1200.0)
    x = np.empty_like(t)
    y = np.empty_like(t)
    for (s0, e0, x0, y0), nxt in zip(TRUTH, [*TRUTH[1:], None], strict=True):
        sl = slice(int(s0), int(e0) + 1)
        x[sl], y[sl] = x0, y0
        if nxt is not None:
            ramp = slice(int(e0) + 1, int(nxt[0]))
            k = np.linspace(0, 1, int(nxt[0]) - int(e0) + 1)[1:-1]
            x[ramp] = x0 + (nxt[2] - x0) * k
            y[ramp] = y0 + (nxt[3] - y0) * k
    x = x + rng.normal(0, noise_px, t.size)
    y = y + rng.normal(0, noise_px, t.size)
    if gap is not None:
        x[gap[0]:gap[1]] = np.nan
        y[gap[0]:gap[1]] = np.nan
    return Samples(t, x, y, np.full(t.size, 1000.0), "R")


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_recovers_known_fixations(rng: np.random.Generator, method: str) -> None:
    f = detect_fixations(_synthetic(rng), method=method, px_per_degree=PPD)
    assert len(f) == len(TRUTH)
    starts, ends, xs, ys = (np.array(c) for c in zip(*TRUTH, strict=True))
    # I-VT loses half its 10 ms velocity window at each edge; I-DT stops within
    # the saccade's first samples
    assert np.abs(f.starts_ms - starts).max() <= 6
    assert np.abs(f.ends_ms - ends).max() <= 6
    assert np.abs(f.xs - xs).max() < 1.0 and np.abs(f.ys - ys).max() < 1.0
    assert (f.eyes == "R").all()


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_missing_samples_split_fixations(rng: np.random.Generator, method: str) -> None:
    s = _synthetic(rng, gap=(400, 460))  # a blink inside the second fixation
    f = detect_fixations(s, method=method, px_per_degree=PPD)
    assert len(f) == 5
    pieces = f.select([1, 2])  # the second fixation, cut in two by the gap
    assert pieces.ends_ms[0] < 400 and pieces.starts_ms[1] >= 460
    assert not ((f.starts_ms < 400) & (f.ends_ms >= 460)).any()


def test_min_duration_and_thresholds(rng: np.random.Generator) -> None:
    s = _synthetic(rng)
    assert len(detect_fixations(s, px_per_degree=PPD, min_duration_ms=280)) == 1
    # a threshold above the saccades' speed merges everything into one fixation
    merged = detect_fixations(s, px_per_degree=PPD, velocity_threshold_deg_s=5000)
    assert len(merged) == 1 and merged.starts_ms[0] == 0 and merged.ends_ms[0] == 1199
    wide = detect_fixations(s, method="idt", px_per_degree=PPD, dispersion_threshold_deg=100)
    assert len(wide) == 1


def test_binocular_and_eye_selection(rng: np.random.Generator) -> None:
    right = _synthetic(rng)
    left = _synthetic(rng)
    both = Samples(right.times_ms, np.c_[left.xs[:, 0], right.xs[:, 0]],
                   np.c_[left.ys[:, 0], right.ys[:, 0]],
                   np.c_[left.pupils[:, 0], right.pupils[:, 0]], "LR")
    f = detect_fixations(both, px_per_degree=PPD)
    assert len(f) == 8 and sorted(f.eyes.tolist()) == ["L"] * 4 + ["R"] * 4
    assert (np.diff(f.starts_ms) >= 0).all()
    assert detect_fixations(both, px_per_degree=PPD, eye="L").eyes.tolist() == ["L"] * 4


def test_screen_gives_px_per_degree(rng: np.random.Generator) -> None:
    s = _synthetic(rng)
    screen = Screen(1920, 1080, 531.0, 298.7, 700.0)
    a = detect_fixations(s, screen=screen)
    b = detect_fixations(s, px_per_degree=screen.px_per_degree)
    assert a == b


def test_inputs_not_mutated(rng: np.random.Generator) -> None:
    s = _synthetic(rng, gap=(10, 20))
    before = s.xs.copy()
    detect_fixations(s, method="idt", px_per_degree=PPD)
    np.testing.assert_array_equal(s.xs, before)


ERRORS = [
    pytest.param({"method": "nope", "px_per_degree": 40}, ValueError,
                 "unknown fixation detector .*; known fixation detectors: ivt, idt", id="unknown-method"),
    pytest.param({}, ValueError, "exactly one of screen= and px_per_degree=", id="no-scale"),
    pytest.param({"px_per_degree": 40, "screen": Screen(10, 10, 1, 1, 1)}, ValueError,
                 "exactly one", id="both-scales"),
    pytest.param({"px_per_degree": -1}, ValueError, "px_per_degree must be", id="ppd"),
    pytest.param({"px_per_degree": 40, "velocity_threshold_deg_s": 0}, ValueError,
                 "velocity_threshold_deg_s", id="velocity"),
    pytest.param({"px_per_degree": 40, "eye": "L"}, ValueError, "eye must be one of",
                 id="eye"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), ERRORS)
def test_errors(rng: np.random.Generator, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        detect_fixations(_synthetic(rng), **kwargs)


def test_not_samples() -> None:
    with pytest.raises(TypeError, match="Samples record"):
        detect_fixations(np.zeros((3, 3)), px_per_degree=40)  # type: ignore[arg-type]


def test_registry() -> None:
    assert {"ivt", "idt"} <= set(detector_names())
    with pytest.raises(ValueError, match="already registered"):
        register("ivt")(DETECTORS.get("ivt"))

    @register("first-sample")
    def _first(t, x, y, p):  # type: ignore[no-untyped-def]
        return np.array([0]), np.array([len(t) - 1])

    try:
        s = Samples([0, 50, 100, 150], [1, 2, 3, 4], [0] * 4, [1] * 4, "R")
        f = detect_fixations(s, method="first-sample", px_per_degree=10)
        assert f.xs.tolist() == [2.5] and f.ends_ms.tolist() == [150]
    finally:
        DETECTORS.remove("first-sample")


def test_helpers_reference_values() -> None:
    """Hand-computed: 3 px in 1 ms at 10 px/deg is 300 deg/s; Salvucci & Goldberg's
    dispersion of a 10×20 px box at 10 px/deg is (10 + 20) / 10 = 3 deg."""
    v = velocities_deg_s([0, 1, 2, 3], [0, 3, 6, np.nan], [0, 0, 0, 0], px_per_degree=10)
    assert v[:3].tolist() == [300.0, 300.0, 300.0] and np.isnan(v[3])
    assert dispersion_deg([0, 10, 5], [0, 20, 0], px_per_degree=10) == 3.0
    w = velocities_deg_s(np.arange(7.0), np.arange(7.0) ** 2, np.zeros(7), px_per_degree=1,
                         window_ms=4)
    assert w[3] == (25 - 1) / 4 * 1000  # samples 1 and 5 around sample 3


def test_agreement_with_the_eyelink_parser() -> None:
    """On test_raw.edf (shipped with eyelinkio) I-VT with the defaults finds most of
    the EyeLink parser's fixations: measured 19 of 21 overlapped by at least half."""
    eyelinkio = pytest.importorskip("eyelinkio", reason="needs the eyelink extra")
    from vista.gaze.io import read_recording

    path = Path(eyelinkio.__file__).parent / "tests" / "data" / "test_raw.edf"
    rec = read_recording(path, samples=True)
    assert rec.samples is not None
    mine = detect_fixations(rec.samples, px_per_degree=38.0)
    ref = rec.fixations
    matched = 0
    for s0, e0 in zip(ref.starts_ms, ref.ends_ms, strict=True):
        overlap = np.clip(np.minimum(mine.ends_ms, e0) - np.maximum(mine.starts_ms, s0), 0, None)
        matched += overlap.max(initial=0) >= 0.5 * (e0 - s0)
    assert matched / len(ref) >= 0.85
    assert 0.8 <= len(mine) / len(ref) <= 1.3
