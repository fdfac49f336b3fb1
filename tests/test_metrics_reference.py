"""vista.metrics against implementations outside the project.

* pysaliency (Kümmerer et al., https://github.com/matthias-k/pysaliency, the version
  installed in the test environment): CC, NSS, SIM, MIT KL-divergence, AUC-Judd and
  the exact ROC area of its ``general_roc``.
* The MIT saliency benchmark's definitions (https://github.com/cvzoya/saliency,
  ``code_forMetrics``), written out here once as plain loops in Python and once in
  GNU Octave (run with ``octave-cli`` when installed), both fed the same random
  locations as vista, so the comparison is exact rather than statistical.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vista.metrics import (
    auc_borji,
    auc_borji_mit,
    auc_judd,
    auc_shuffled,
    info_gain,
    kld,
    ncc,
    nss,
    sim,
)
from vista.metrics.auc import _rank_auc

# pysaliency's ROC code still calls np.trapz
pytestmark = pytest.mark.filterwarnings("ignore:`trapz` is deprecated:DeprecationWarning")


def _maps(seed: int, shape: tuple[int, int] = (48, 64), quantised: bool = False):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    pts = rng.uniform([0, 0], [shape[1], shape[0]], size=(12, 2))
    human = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 30.0) for x, y in pts)
    human = human / human.sum()
    sal = human / human.max() + 0.5 * rng.random(shape)
    if quantised:  # integer-valued map: normalised values land exactly on thresholds
        sal = np.round(sal * 5)
    mask = np.zeros(shape, bool)
    mask[pts[:, 1].astype(int), pts[:, 0].astype(int)] = True
    return sal, human, mask


# ----------------------------------------------------------------------- pysaliency

@pytest.fixture(scope="module")
def pysaliency() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its import warns about pkg_resources
        return pytest.importorskip(
            "pysaliency",
            reason="pysaliency is not installed (pip install --no-build-isolation pysaliency)",
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ncc_equals_pysaliency_cc(seed: int, pysaliency) -> None:
    """pysaliency.metrics.CC (np.corrcoef of z-scored maps) equals VISTA's NCC."""
    s, h, _ = _maps(seed)
    assert ncc(s, h) == pytest.approx(pysaliency.metrics.CC(s, h), abs=1e-12)
    s32, h32 = s.astype(np.float32), h.astype(np.float32)
    assert ncc(s32, h32) == pytest.approx(
        pysaliency.metrics.CC(s32.astype(float), h32.astype(float)), abs=1e-12
    )


def test_nss_relates_to_pysaliency(pysaliency) -> None:
    """pysaliency.metrics.NSS: per-fixation z-scores with the biased (ddof=0) std.

    Over unique fixated pixels, its mean times sqrt((P - 1) / P) is the MIT NSS.
    """
    s, _, mask = _maps(3)
    ys, xs = np.nonzero(mask)
    per_fixation = pysaliency.metrics.NSS(s, xs, ys)
    p = s.size
    assert nss(s, mask) == pytest.approx(per_fixation.mean() * math.sqrt((p - 1) / p), rel=1e-12)


def test_sim_equals_pysaliency_for_maps_with_zero_minimum(pysaliency) -> None:
    """pysaliency.metrics.SIM divides by the sum (shifting only negative maps); the MIT
    code min-max normalises first. For maps whose minimum is 0 the two agree."""
    s, h, _ = _maps(4)
    s = s - s.min()
    h = h - h.min()
    assert sim(s, h) == pytest.approx(pysaliency.metrics.SIM(s, h), abs=1e-12)


def test_kld_equals_pysaliency_mit_kldiv(pysaliency) -> None:
    """pysaliency.metrics.MIT_KLDiv(model, empirical) is the MIT KLdiv with eps 2.2204e-16."""
    s, h, _ = _maps(5)
    assert kld(s, h) == pytest.approx(pysaliency.metrics.MIT_KLDiv(s, h), rel=1e-12)


def test_rank_auc_equals_pysaliency_general_roc(pysaliency) -> None:
    """pysaliency.roc.general_roc sweeps every threshold (exact ROC area, ties half)."""
    rng = np.random.default_rng(6)
    pos = np.round(rng.normal(0.5, 1, 700), 1)  # rounding creates many ties
    neg = np.round(rng.normal(0.0, 1, 900), 1)
    auc, _, _ = pysaliency.roc.general_roc(pos, neg)
    assert _rank_auc(pos, neg) == pytest.approx(auc, abs=1e-12)


def test_auc_borji_is_the_exact_auc_of_its_samples(pysaliency) -> None:
    """Rebuild auc_borji's samples from the same seed and score them with pysaliency."""
    from vista.metrics.auc import _sample_density

    s, h, _ = _maps(7)
    gen = np.random.default_rng(9)
    pos = _sample_density(h.reshape(-1), 1000, gen)
    assert pos is not None
    neg = gen.integers(0, h.size, size=1000)
    flat = s.reshape(-1)
    ref, _, _ = pysaliency.roc.general_roc(flat[pos].astype(float), flat[neg].astype(float))
    assert auc_borji(s, h, rng=9) == pytest.approx(ref, abs=1e-12)


def test_auc_judd_equals_pysaliency_without_jitter(pysaliency) -> None:
    """pysaliency's AUC-Judd ROC (general_roc with judd=1: thresholds at fixated values,
    negatives the unfixated pixels) equals the MIT AUC_Judd when values are distinct."""
    s, _, mask = _maps(8)
    s = s + np.arange(s.size).reshape(s.shape) * 1e-9  # distinct values, no jitter needed
    ref, _, _ = pysaliency.roc.general_roc(s[mask].astype(float), s[~mask].astype(float), judd=1)
    assert auc_judd(s, mask, jitter=False) == pytest.approx(ref, abs=1e-12)


# ----------------------------------------------------------------------- MIT definitions


def _mit_borji_loop(s: np.ndarray, mask: np.ndarray, rand: np.ndarray, step: float) -> float:
    """AUC_Borji written as the MIT code describes it, one split and one threshold at a
    time; ``rand`` holds each split's random pixel indices (rows = splits)."""
    flat = s.reshape(-1).astype(float)
    flat = (flat - flat.min()) / (flat.max() - flat.min())
    sth = flat[mask.reshape(-1) > 0]
    aucs = []
    for row in rand:
        cur = flat[row]
        top = max(sth.max(), cur.max())
        n = int(np.floor(top / step + 1e-9)) + 1  # Octave/MATLAB range length
        thresholds = [k * step for k in range(n)]
        thresholds[-1] = min(thresholds[-1], top)
        tp, fp = [0.0], [0.0]
        for t in reversed(thresholds):
            tp.append(float(np.sum(sth >= t)) / sth.size)
            fp.append(float(np.sum(cur >= t)) / cur.size)
        tp.append(1.0)
        fp.append(1.0)
        aucs.append(np.trapezoid(tp, fp))
    return float(np.mean(aucs))


@pytest.mark.parametrize("seed,quantised,step", [(0, False, 0.1), (1, True, 0.1), (2, True, 0.05), (3, False, 0.25)])
def test_auc_borji_mit_equals_the_loop(seed: int, quantised: bool, step: float) -> None:
    s, _, mask = _maps(seed, quantised=quantised)
    n_splits = 30
    rand = np.random.default_rng(seed).integers(0, s.size, size=(n_splits, int(mask.sum())))
    ref = _mit_borji_loop(s, mask, rand, step)
    assert auc_borji_mit(s, mask, n_splits=n_splits, step=step, rng=seed) == pytest.approx(ref, abs=1e-12)


# ----------------------------------------------------------------------- Octave

OCTAVE = shutil.which("octave-cli")

# The MIT definitions in Octave, written for this test from the descriptions in the MIT
# benchmark's code: same normalisations, range operator, >= counts and trapz.
OCTAVE_SCRIPT = r"""
load('-mat', 'in.mat');
S = double(sal(:)); S = (S - min(S)) / (max(S) - min(S));
F = double(fix(:)); Sth = S(F > 0); N = numel(Sth);
% AUC-Borji with the given random indices (1-based, one column per split)
auc = zeros(1, size(r, 2));
for k = 1:size(r, 2)
  cur = S(r(:, k));
  th = fliplr([0:step:double(max([Sth; cur]))]);
  tp = [0; arrayfun(@(t) sum(Sth >= t) / N, th(:)); 1];
  fp = [0; arrayfun(@(t) sum(cur >= t) / numel(cur), th(:)); 1];
  auc(k) = trapz(fp, tp);
end
borji = mean(auc);
% shuffled AUC with the given other-image locations (one column per split)
auc = zeros(1, size(o, 2));
for k = 1:size(o, 2)
  cur = S(o(:, k));
  th = fliplr([0:step:double(max([Sth; cur]))]);
  tp = [0; arrayfun(@(t) sum(Sth >= t) / N, th(:)); 1];
  fp = [0; arrayfun(@(t) sum(cur >= t) / numel(cur), th(:)); 1];
  auc(k) = trapz(fp, tp);
end
shuffled = mean(auc);
% AUC-Judd without jitter
th = sort(Sth, 'descend'); P = numel(S);
tp = zeros(N + 2, 1); fp = zeros(N + 2, 1); tp(end) = 1; fp(end) = 1;
for i = 1:N
  tp(i + 1) = i / N; fp(i + 1) = (sum(S >= th(i)) - i) / (P - N);
end
judd = trapz(fp, tp);
% NSS (MATLAB std: N-1)
m = double(sal(:)); z = (m - mean(m)) / std(m); nssv = mean(z(F > 0));
% SIM
a = double(sal(:)); a = (a - min(a)) / (max(a) - min(a)); a = a / sum(a);
b = double(hum(:)); b = (b - min(b)) / (max(b) - min(b)); b = b / sum(b);
simv = sum(min(a, b));
% KL divergence
a = double(sal(:)) / sum(double(sal(:))); b = double(hum(:)) / sum(double(hum(:)));
kldv = sum(b .* log(eps + b ./ (a + eps)));
% information gain over the given baseline
a = double(sal(:)); a = (a - min(a)) / (max(a) - min(a)); a = a / sum(a);
c = double(base(:)); c = (c - min(c)) / (max(c) - min(c)); c = c / sum(c);
ig = mean(log2(eps + a(F > 0)) - log2(eps + c(F > 0)));
% correlation
ccv = corr(double(sal(:)), double(hum(:)));
printf('%.17g\n', borji, shuffled, judd, nssv, simv, kldv, ig, ccv);
"""


@pytest.mark.skipif(OCTAVE is None, reason="GNU Octave (octave-cli) is not installed")
@pytest.mark.parametrize("seed,quantised", [(0, False), (1, True)])
def test_against_octave(seed: int, quantised: bool, tmp_path: Path) -> None:
    """Every MIT metric against the Octave implementation above, fed vista's random draws."""
    from scipy.io import savemat

    s, h, mask = _maps(seed, quantised=quantised)
    n_splits, step = 20, 0.1
    n = int(mask.sum())
    rand = np.random.default_rng(seed).integers(0, s.size, size=(n_splits, n))
    # the other-image locations auc_shuffled draws for this seed
    others = np.roll(mask, 9, axis=1) | np.roll(mask, 17, axis=0)
    other_idx = np.flatnonzero(others)
    m = min(n, other_idx.size)
    keys = np.random.default_rng(seed).random((n_splits, other_idx.size))
    chosen = other_idx[np.argpartition(keys, m - 1, axis=1)[:, :m]]
    baseline = np.add.outer(np.hanning(s.shape[0]), np.hanning(s.shape[1]))
    # MATLAB indexes column-major: convert C-order flat indices to 1-based Fortran ones
    def fortran(idx: np.ndarray) -> np.ndarray:
        r, c = np.divmod(idx, s.shape[1])
        return (c * s.shape[0] + r + 1).T.astype(float)

    savemat(tmp_path / "in.mat", {
        "sal": s, "hum": h, "fix": mask.astype(float), "base": baseline,
        "r": fortran(rand), "o": fortran(chosen), "step": step,
    })
    (tmp_path / "run.m").write_text(OCTAVE_SCRIPT)
    proc = subprocess.run(
        [str(OCTAVE), "--no-gui", "--quiet", "--no-window-system", "run.m"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    values = [float(v) for v in proc.stdout.split()]
    assert len(values) == 8, proc.stdout + proc.stderr
    borji, shuffled, judd, nss_ref, sim_ref, kld_ref, ig_ref, cc_ref = values
    assert auc_borji_mit(s, mask, n_splits=n_splits, step=step, rng=seed) == pytest.approx(borji, abs=1e-12)
    assert auc_shuffled(s, mask, others, n_splits=n_splits, step=step, rng=seed) == pytest.approx(shuffled, abs=1e-12)
    assert auc_judd(s, mask, jitter=False) == pytest.approx(judd, abs=1e-12)
    assert nss(s, mask) == pytest.approx(nss_ref, abs=1e-12)
    assert sim(s, h) == pytest.approx(sim_ref, abs=1e-12)
    assert kld(s, h) == pytest.approx(kld_ref, abs=1e-10)
    assert info_gain(s, mask, baseline=baseline) == pytest.approx(ig_ref, abs=1e-10)
    assert ncc(s, h) == pytest.approx(cc_ref, abs=1e-12)


def test_no_warning_on_ordinary_maps() -> None:
    s, h, mask = _maps(11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ncc(s, h)
        auc_borji(s, h, rng=0)
        auc_borji_mit(s, mask, rng=0)
