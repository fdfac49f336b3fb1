"""Reader speed: ASC parse throughput and EDF read time, against baselines run here.

ASC: a binocular 1000 Hz recording of about ``--size-mb`` MB is written with
:class:`vista.gaze.asc.AscWriter` (samples with 1% lost, a fixation and a saccade
every 250 ms, a trial every 10 s), then read by

- ``vista.gaze.asc.read_asc`` without samples (events and messages),
- ``read_asc(samples=True)``,
- a line-by-line parser of the kind lab scripts use (``str.split`` and ``float`` on
  every sample line, events by keyword), the baseline.

EDF: the recordings shipped with eyelinkio, read by ``eyelinkio.read_edf`` (the
baseline) and by ``vista.gaze.edf.read_edf`` with and without samples.

Run: ``python benchmarks/gaze_io.py [--size-mb 80] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from vista.gaze.asc import AscWriter, read_asc


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def write_big_asc(path: Path, size_mb: float, seed: int = 0) -> int:
    """Write about ``size_mb`` MB of binocular 1000 Hz ASC; return the sample count."""
    rng = np.random.default_rng(seed)
    n = int(size_mb * 1e6 / 58)  # ~58 bytes per binocular sample line
    block = 10_000
    t = 1_000_000
    with AscWriter(path, overwrite=True, preamble=["CONVERTED FROM bench.edf"]) as w:
        w.display_coords(t - 10, 0, 0, 1919, 1079)
        w.start(t, eyes="LR", rate_hz=1000)
        for _ in range(0, n, block):
            w.message(t, f"TRIALID {t}")
            w.message(t, "!V IMGLOAD CENTER images/img.png 960 540")
            xs = rng.normal(960, 150, (block, 2))
            ys = rng.normal(540, 120, (block, 2))
            ps = rng.normal(1000, 40, (block, 2))
            lost = rng.random(block) < 0.01
            xs[lost], ys[lost] = np.nan, np.nan
            times = np.arange(t, t + block, dtype=float)
            for k in range(0, block, 250):
                w.samples(times[k:k + 250], xs[k:k + 250], ys[k:k + 250], ps[k:k + 250])
                for eye in "LR":
                    w.fixation(eye, t + k, t + k + 199, 900.0, 500.0, 1000)
                    w.saccade(eye, t + k + 200, t + k + 240, 900.0, 500.0, 1000.0, 560.0, 3.2, 250)
            w.message(t + block - 1, "TRIAL_RESULT 0")
            t += block
        w.end(t)
    return (n // block + (n % block > 0)) * block


def naive_parse(path: Path) -> tuple[int, int]:
    """The baseline: every line split and converted in Python."""
    samples: list[list[float]] = []
    fixations: list[list[float]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            head = parts[0]
            if head[0].isdigit():
                samples.append([float(v) if v != "." else math.nan for v in parts[1:7]])
            elif head == "EFIX":
                fixations.append([float(v) for v in parts[2:7]])
    return len(samples), len(fixations)


def bench_asc(size_mb: float, repeat: int, keep: Path | None) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="vista-bench-")
    path = (keep or Path(tmp.name)) / "bench.asc"
    t0 = time.perf_counter()
    n = write_big_asc(path, size_mb)
    t_write = time.perf_counter() - t0
    mb = path.stat().st_size / 1e6
    print(f"ASC: {mb:.1f} MB, {n} binocular samples at 1000 Hz "
          f"(written by AscWriter in {t_write:.1f} s, {mb / t_write:.1f} MB/s)")
    t_events, rec = best_of(lambda: read_asc(path), repeat)
    t_samples, rec_s = best_of(lambda: read_asc(path, samples=True), repeat)
    t_naive, (n_naive, n_fix) = best_of(lambda: naive_parse(path), 1)
    assert len(rec_s.samples) == n_naive and len(rec.fixations) == n_fix
    print(f"  vista read_asc, events only : {t_events:7.2f} s  {mb / t_events:7.1f} MB/s")
    print(f"  vista read_asc, samples     : {t_samples:7.2f} s  {mb / t_samples:7.1f} MB/s")
    print(f"  naive line-by-line baseline : {t_naive:7.2f} s  {mb / t_naive:7.1f} MB/s")
    print(f"  ratio vs baseline: {t_naive / t_samples:.1f}x (samples), "
          f"{t_naive / t_events:.1f}x (events only)")
    tmp.cleanup()


def bench_edf(repeat: int) -> None:
    try:
        import eyelinkio
    except ImportError:
        print("EDF: skipped (eyelinkio not installed: pip install 'vista-gaze[eyelink]')")
        return
    from vista.gaze.edf import _quiet_stdout, read_edf

    data = Path(eyelinkio.__file__).parent / "tests" / "data"
    print("EDF: files shipped with eyelinkio; best of "
          f"{repeat} (vista) and of {max(1, repeat - 1)} (eyelinkio)")
    print(f"  {'file':<24}{'MB':>6}{'eyelinkio':>11}{'MB/s':>7}{'vista':>9}{'ratio':>7}"
          f"{'vista+samples':>15}{'ratio':>7}")
    for name in ("test_raw.edf", "test_2_raw.edf", "test_raw_binocular.edf"):
        path = data / name
        if not path.is_file():
            continue
        mb = path.stat().st_size / 1e6

        def theirs(p: Path = path) -> Any:
            with _quiet_stdout():
                return eyelinkio.read_edf(str(p))

        t_ref, _ = best_of(theirs, max(1, repeat - 1))
        t_ev, _ = best_of(partial(read_edf, path), repeat)
        t_smp, _ = best_of(partial(read_edf, path, samples=True), repeat)
        print(f"  {name:<24}{mb:6.2f}{t_ref:10.2f}s{mb / t_ref:7.1f}{t_ev:8.2f}s"
              f"{t_ref / t_ev:6.1f}x{t_smp:14.2f}s{t_ref / t_smp:6.1f}x")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=80.0, help="ASC size in MB (default 80)")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (default 3)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="folder to keep the generated ASC in (default: a temporary one)")
    ap.add_argument("--skip-asc", action="store_true", help="only the EDF part")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    if not args.skip_asc:
        bench_asc(args.size_mb, args.repeat, args.keep)
    bench_edf(args.repeat)


if __name__ == "__main__":
    main()
