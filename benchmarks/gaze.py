"""Benchmark: building duration-weighted fixation maps.

    python benchmarks/gaze.py [--segments 508] [--fixations 30] [--naive-subset 20]

Builds one map per segment (default 508 segments x 30 fixations, 768x1024 image,
sigma 35 px, fixation positions at sub-pixel precision, weights 100-500 ms) three ways
in the same run:

* vista: :func:`vista.gaze.kde.density_map` (separable Gaussians, one matrix product);
* naive: the dense per-fixation sum, a full-grid Gaussian per fixation, as common lab
  scripts do. Timed on a subset of the maps and extrapolated to all (said so below);
* cached patch: the PyGazeAnalyser way, a precomputed Gaussian patch cut at 3 sigma
  added at each fixation's rounded position.

Each is checked against the naive dense sum on that subset: the largest absolute
difference of the normalised maps, relative to the dense map's peak.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

from vista.gaze.kde import density_map

H, W = 768, 1024
SIGMA = 35.0
REFERENCE_NAIVE_S = 67.0  # the naive sum on a quiet reference 2-core machine


def naive_dense(xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, yy: np.ndarray,
                xx: np.ndarray) -> np.ndarray:
    """Sum of full-grid 2-D Gaussians, one per fixation, normalised to sum 1."""
    out = np.zeros((H, W))
    for x, y, w in zip(xs, ys, ws, strict=True):
        out += w * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * SIGMA * SIGMA))
    return out / out.sum()


def make_patch(sigma: float) -> tuple[np.ndarray, int]:
    """A Gaussian patch of half-width ceil(3 sigma), peak 1 at its centre."""
    half = math.ceil(3.0 * sigma)
    d = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return np.outer(g, g), half


def cached_patch(xs: np.ndarray, ys: np.ndarray, ws: np.ndarray, patch: np.ndarray,
                 half: int) -> np.ndarray:
    """PyGazeAnalyser-style: add the patch at each rounded position on a padded canvas,
    crop to the image and normalise."""
    canvas = np.zeros((H + 2 * half, W + 2 * half))
    for x, y, w in zip(xs, ys, ws, strict=True):
        cx, cy = round(float(x)), round(float(y))
        canvas[cy:cy + 2 * half + 1, cx:cx + 2 * half + 1] += w * patch
    out = canvas[half:half + H, half:half + W]
    return out / out.sum()


def rel_error(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).max() / ref.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=508)
    ap.add_argument("--fixations", type=int, default=30)
    ap.add_argument("--naive-subset", type=int, default=20,
                    help="maps timed with the naive dense sum (extrapolated to all)")
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for vista and patch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    m, n = args.segments, args.fixations
    xs = rng.uniform(0, W - 1, (m, n))
    ys = rng.uniform(0, H - 1, (m, n))
    ws = rng.uniform(100, 500, (m, n))
    k = min(args.naive_subset, m)

    print(f"maps: {m} segments x {n} fixations, {H}x{W} image, sigma {SIGMA:g} px")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"numpy {np.__version__}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")

    def time_vista(dtype: type) -> float:
        density_map(xs[0], ys[0], ws[0], shape=(H, W), sigma_px=SIGMA, dtype=dtype)  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for i in range(m):
                density_map(xs[i], ys[i], ws[i], shape=(H, W), sigma_px=SIGMA, dtype=dtype)
            times.append(time.perf_counter() - t0)
        return min(times)

    # float32 is what `vista maps` computes and stores; float64 is the function's default
    t_vista = time_vista(np.float32)
    t_vista64 = time_vista(np.float64)

    patch, half = make_patch(SIGMA)
    patch_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for i in range(m):
            cached_patch(xs[i], ys[i], ws[i], patch, half)
        patch_times.append(time.perf_counter() - t0)
    t_patch = min(patch_times)

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    t0 = time.perf_counter()
    dense = [naive_dense(xs[i], ys[i], ws[i], yy, xx) for i in range(k)]
    t_naive_subset = time.perf_counter() - t0
    t_naive = t_naive_subset / k * m

    err_vista = max(rel_error(density_map(xs[i], ys[i], ws[i], shape=(H, W), sigma_px=SIGMA,
                                          dtype=np.float32), dense[i]) for i in range(k))
    err_vista64 = max(rel_error(density_map(xs[i], ys[i], ws[i], shape=(H, W), sigma_px=SIGMA),
                                dense[i]) for i in range(k))
    err_patch = max(rel_error(cached_patch(xs[i], ys[i], ws[i], patch, half), dense[i])
                    for i in range(k))
    # the patch's error from the 3-sigma cut alone: positions already on whole pixels
    k_int = min(5, k)
    xr, yr = np.round(xs[:k_int]), np.round(ys[:k_int])
    err_patch_cut = max(
        rel_error(cached_patch(xr[i], yr[i], ws[i], patch, half),
                  naive_dense(xr[i], yr[i], ws[i], yy, xx)) for i in range(k_int))

    print()
    print(f"{'method':<34}{'total s':>10}{'ms/map':>10}{'max err / peak':>17}")
    print(f"{'vista density_map, float32':<34}{t_vista:>10.3f}{1e3 * t_vista / m:>10.2f}"
          f"{err_vista:>17.1e}")
    print(f"{'vista density_map, float64':<34}{t_vista64:>10.3f}{1e3 * t_vista64 / m:>10.2f}"
          f"{err_vista64:>17.1e}")
    print(f"{'cached 3-sigma patch (PyGaze)':<34}{t_patch:>10.3f}{1e3 * t_patch / m:>10.2f}"
          f"{err_patch:>17.1e}")
    print(f"{'naive dense sum (extrapolated)':<34}{t_naive:>10.1f}{1e3 * t_naive / m:>10.1f}"
          f"{'reference':>17}")
    print(f"  naive timed on {k} maps ({t_naive_subset:.1f} s) and extrapolated x{m / k:.1f}; "
          f"errors measured on those {k} maps")
    print(f"  vista and patch: best of {args.repeats} runs over all {m} maps; the ratios and "
          f"targets below use float32, the precision `vista maps` computes and stores")
    print(f"  cached patch with positions already on whole pixels (3-sigma cut only): "
          f"max err / peak {err_patch_cut:.1e} ({k_int} maps)")
    print()
    print(f"speed-up vs naive dense sum:  {t_naive / t_vista:8.1f}x   (target >= 90x)")
    print(f"speed-up vs cached patch:     {t_patch / t_vista:8.1f}x   (target >= 2x)")
    print(f"vista total:                  {t_vista:8.3f} s  (target < 0.7 s)")
    print(f"vista max error / peak:       {err_vista:8.1e}   (target <= 1e-6)")
    print()
    print(f"machine load: the naive sum took {t_naive:.0f} s here against {REFERENCE_NAIVE_S:.0f} s "
          f"on a quiet reference 2-core machine; scaled to that machine vista's total "
          f"is {t_vista * REFERENCE_NAIVE_S / t_naive:.2f} s")


if __name__ == "__main__":
    main()
