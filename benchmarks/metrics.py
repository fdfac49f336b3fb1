"""Speed of vista's metrics on VISTA-sized data, against baselines timed in the same run.

    python benchmarks/metrics.py              # 508 pairs of 768×1024 maps
    python benchmarks/metrics.py --pairs 64   # a quick look

Synthetic, seeded data: each pair is a human density map (Gaussian blobs, sigma 30 px,
at about 30 fixations) and a model-like saliency map (smooth noise plus part of the
human map, min-max normalised), both float32 like the maps vista stores; pairs are
made in chunks of 32 so memory stays under half a gigabyte.

Timed on the same pairs:

* vista: ``ncc``, ``auc_borji`` (1000 + 1000 samples), ``auc_borji_mit`` (100 splits),
  and a 1000-iteration ``bootstrap`` of the 508 NCC values, its image (cluster)
  version and the win rates of three models, with their ratio to it;
* pysaliency (if installed): ``metrics.CC`` and the uniform-negatives AUC, i.e. the
  per-image ``roc.general_roc(map[fixations], map.flatten())`` that
  ``SaliencyMapModel.AUC(..., nonfixations="uniform")`` runs;
* a plain numpy script written the way a lab would: ``np.corrcoef`` and the MIT
  AUC-Borji as a loop over splits and thresholds;
* the memory floor: one dot product of the two maps per pair.

Generation time is excluded; the order of the methods rotates from pair to pair so
that none always finds the maps in cache. Prints each time and the ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from vista.metrics import auc_borji, auc_borji_mit, fixation_mask, ncc
from vista.metrics.bootstrap import bootstrap
from vista.metrics.stats import win_rates

H, W = 768, 1024
CHUNK = 32


def make_pairs(n: int, seed: int) -> Iterator[list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Chunks of (saliency, human, fixations N×3) triplets."""
    import cv2

    rng = np.random.default_rng(seed)
    ys, xs = np.arange(H, dtype=np.float32), np.arange(W, dtype=np.float32)
    for start in range(0, n, CHUNK):
        chunk = []
        for _ in range(min(CHUNK, n - start)):
            k = int(rng.integers(25, 36))
            fx, fy = rng.uniform(0, W - 1, k), rng.uniform(0, H - 1, k)
            dur = rng.uniform(100, 600, k)
            sigma = 30.0
            gy = np.exp(-((ys[None, :] - fy[:, None]) ** 2) / (2 * sigma**2)).astype(np.float32)
            gx = np.exp(-((xs[None, :] - fx[:, None]) ** 2) / (2 * sigma**2)).astype(np.float32)
            human = (gy.T * dur.astype(np.float32)) @ gx
            human /= human.sum()
            noise = cv2.resize(rng.random((12, 16), dtype=np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
            sal = noise + 0.6 * human / human.max()
            sal = (sal - sal.min()) / (sal.max() - sal.min())
            chunk.append((sal.astype(np.float32), human.astype(np.float32), np.column_stack([fx, fy, dur])))
        yield chunk


def lab_auc_borji(sal: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> float:
    """MIT AUC_Borji as a lab would port it: normalise, loop over splits and thresholds."""
    s = sal.astype(np.float64).ravel()
    s = (s - s.min()) / (s.max() - s.min())
    sth = s[mask.ravel() > 0]
    n = sth.size
    r = rng.integers(0, s.size, size=(n, 100))
    rand = s[r]
    auc = np.empty(100)
    for k in range(100):
        cur = rand[:, k]
        th = np.arange(0, max(sth.max(), cur.max()) + 1e-12, 0.1)[::-1]
        tp = np.zeros(th.size + 2)
        fp = np.zeros(th.size + 2)
        tp[-1] = fp[-1] = 1
        for i, t in enumerate(th):
            tp[i + 1] = np.sum(sth >= t) / n
            fp[i + 1] = np.sum(cur >= t) / n
        auc[k] = np.trapezoid(tp, fp)
    return float(auc.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=508, help="number of pairs (default 508)")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    parser.add_argument("--no-pysaliency", action="store_true", help="skip pysaliency")
    parser.add_argument(
        "--repeat", type=int, default=1,
        help="time each method this many times per pair and keep the fastest, to filter "
        "out other processes on a shared machine (default 1)",
    )
    args = parser.parse_args()

    pysal: Any = None
    if not args.no_pysaliency:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pysaliency

                pysal = pysaliency
        except ImportError:
            print("pysaliency not installed: its row is skipped")

    times: dict[str, float] = defaultdict(float)
    ncc_values: list[float] = []
    rng = np.random.default_rng(1)

    if pysal is not None:  # compile numba kernels before timing
        warm = np.random.default_rng(0)
        pysal.roc.general_roc(warm.random(50), warm.random(80))
    np.seterr(all="ignore")
    warnings.simplefilter("ignore", DeprecationWarning)
    t_start = time.perf_counter()
    n_done = 0
    for chunk in make_pairs(args.pairs, args.seed):
        for sal, hum, fix in chunk:
            mask = fixation_mask(fix, (H, W))
            ys_, xs_ = np.nonzero(mask)
            methods: list[tuple[str, Callable[[], object]]] = [
                ("vista ncc", lambda: ncc(sal, hum)),  # noqa: B023
                ("vista auc_borji", lambda: auc_borji(sal, hum, rng=rng)),  # noqa: B023
                ("vista auc_borji_mit", lambda: auc_borji_mit(sal, mask, rng=rng)),  # noqa: B023
                ("floor dot", lambda: float(np.dot(sal.ravel(), hum.ravel()))),  # noqa: B023
                ("lab corrcoef", lambda: np.corrcoef(sal.ravel(), hum.ravel())[0, 1]),  # noqa: B023
                ("lab mit auc loop", lambda: lab_auc_borji(sal, mask, rng)),  # noqa: B023
            ]
            if pysal is not None:
                methods.append(("pysaliency CC", lambda: pysal.metrics.CC(sal, hum)))  # noqa: B023
                methods.append((
                    "pysaliency AUC uniform",
                    lambda: pysal.roc.general_roc(
                        np.asarray(sal[ys_, xs_]).astype(float),  # noqa: B023
                        sal.flatten().astype(float),  # noqa: B023
                    )[0],
                ))
            # rotate the order so that no method always finds the pair in cache
            k = n_done % len(methods)
            for key, fn in methods[k:] + methods[:k]:
                best = math.inf
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    out = fn()
                    best = min(best, time.perf_counter() - t0)
                times[key] += best
                if key == "vista ncc":
                    ncc_values.append(float(out))  # type: ignore[arg-type]
            n_done += 1
    wall = time.perf_counter() - t_start
    boot = []
    for seed in range(6):  # the first call pays one-time costs; keep the fastest of the rest
        t0 = time.perf_counter()
        bootstrap(ncc_values, n_boot=1000, rng=seed)
        boot.append(time.perf_counter() - t0)
    times["vista bootstrap 1000"] = min(boot[1:])
    times.update(_interval_timings(ncc_values))

    vista_core = times["vista ncc"] + times["vista auc_borji"] + times["vista auc_borji_mit"]
    lab = times["lab corrcoef"] + times["lab mit auc loop"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.pairs} pairs of {H}x{W} float32 maps, ~30 fixations each; repeat {args.repeat}; "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the end (wall {wall:.1f} s)"
    )
    print()
    for key in sorted(times):
        print(f"  {key:<26} {times[key]:8.3f} s")
    print()
    print(f"  vista ncc + auc_borji + auc_borji_mit  {vista_core:8.3f} s")
    print(f"  lab script (corrcoef + MIT loop)       {lab:8.3f} s   ratio {lab / vista_core:5.1f}x")
    if pysal is not None:
        ps = times["pysaliency CC"] + times["pysaliency AUC uniform"]
        print(f"  pysaliency (CC + uniform AUC)          {ps:8.3f} s   ratio {ps / vista_core:5.1f}x")
        print(f"    CC only: pysaliency / vista ncc       {times['pysaliency CC'] / times['vista ncc']:5.1f}x")
    floor = times["floor dot"]
    print(f"  memory floor (one dot per pair)        {floor:8.3f} s   vista = {vista_core / floor:4.1f} passes")
    print(f"  bootstrap, 1000 iterations over {len(ncc_values)} values: {times['vista bootstrap 1000'] * 1e3:.1f} ms")
    base = times["vista bootstrap 1000"]
    for key in ("cluster bootstrap 1000", "win rates 3 models 1000"):
        print(f"  {key} (images of 3 segments): {times[key] * 1e3:.1f} ms   "
              f"ratio to the triplet bootstrap {times[key] / base:4.1f}x")


def _interval_timings(values: list[float]) -> dict[str, float]:
    """The image (cluster) bootstrap and the win rates of three models over the same
    values, the triplets grouped three to an image; fastest of 5 after a first call."""
    n = len(values)
    images = np.arange(n) // 3
    arr = np.asarray(values)
    shifted = {"a": arr, "b": arr + np.sin(np.arange(n)) * 0.05, "c": arr[::-1].copy()}
    out = {}
    for key, fn in (("cluster bootstrap 1000", lambda s: bootstrap(arr, clusters=images, rng=s)),
                    ("win rates 3 models 1000", lambda s: win_rates(shifted, clusters=images,
                                                                    rng=s))):
        runs = []
        for seed in range(6):
            t0 = time.perf_counter()
            fn(seed)
            runs.append(time.perf_counter() - t0)
        out[key] = min(runs[1:])
    return out


if __name__ == "__main__":
    main()
