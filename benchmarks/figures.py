"""Speed of ``vista figure`` and ``vista report``, against the code they replaced, timed
in the same run.

    python benchmarks/figures.py                  # the demo, and a 508-triplet run
    python benchmarks/figures.py --skip-large     # the demo only
    python benchmarks/figures.py --old-large      # also the old code on the large run
    python benchmarks/figures.py --skip-demo --large-images 20 --old-large   # a quicker ratio

The demo run is the README's: ``vista score --model center --model uniform --out RUN``
on the shipped demo dataset (8 images, 160 px wide), then ``vista figure RUN`` (per-image
panels and leaderboards, PNG and PDF) and ``vista report RUN``. The large run is
synthetic and seeded: 102 images of 640×480 px (smooth colour noise), 508 triplets
(VISTA's size), scored with the same two rows.

The old code is ``vista/viz.py`` and ``vista/report.py`` as they were before the
figures were redesigned (read with ``git show``, the parent of the commit that added
``vista/runfigures.py``; ``--old REV`` picks another), loaded beside the new ones.
Both are called in this process, after a warm-up, into fresh folders. Printed: wall
time, CPU time (this process and its worker processes) and the bytes written; the
command lines of the new code are timed too (``vista figure``, ``vista report``, in a
subprocess: with Python's start-up). On a shared machine, compare the CPU times and the
ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(fn: Callable[[], Any], out: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, bytes written to ``out``) of one call."""
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - wall, _cpu() - cpu, _size(out)


def old_modules(rev: str | None) -> tuple[types.ModuleType, types.ModuleType]:
    """The old viz and report modules, loaded from git as ``vista._old_viz`` and
    ``vista._old_report`` (their imports of the renamed helpers adjusted)."""
    if rev is None:
        added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--",
                                "vista/runfigures.py"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()[-1]
        rev = f"{added}^"

    def load(name: str, path: str, edits: dict[str, str]) -> types.ModuleType:
        src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
        for old, new in edits.items():
            src = src.replace(old, new)
        spec = importlib.util.spec_from_loader(f"vista.{name}", loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "vista"
        sys.modules[spec.name] = module
        exec(compile(src, f"{rev}:{path}", "exec"), module.__dict__)
        return module

    viz = load("_old_viz", "vista/viz.py", {})
    report = load("_old_report", "vista/report.py", {
        "from .scoring import Run, _table_rows": "from .scoring import Run\n"
                                                "    from .scoring import table_rows as _table_rows",
        "from .viz import": "from ._old_viz import",
        "from .dataset import write_atomic": "from ._io import write_atomic"})
    return viz, report


def demo_run(work: Path) -> Path:
    from vista.scoring import demo_dataset_path, score

    run = work / "demo-run"
    score(demo_dataset_path(), ["center", "uniform"], out=run)
    return run


def large_run(work: Path, *, n_images: int = 102, n_triplets: int = 508) -> Path:
    """102 smooth colour images of 640×480 and 508 triplets with smooth maps, scored."""
    import cv2
    from PIL import Image

    from vista.dataset import DatasetWriter
    from vista.scoring import score

    rng = np.random.default_rng(0)
    src = work / "large-src"
    src.mkdir()
    per = [n_triplets // n_images + (i < n_triplets % n_images) for i in range(n_images)]
    with DatasetWriter(work / "large-ds", name="large") as w:
        for i, k in enumerate(per):
            noise = rng.random((60, 80, 3)).astype(np.float32)
            img = cv2.resize(noise, (640, 480), interpolation=cv2.INTER_CUBIC)
            Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(src / f"im{i}.jpg")
            rel = w.add_image(src / f"im{i}.jpg")
            for j in range(k):
                m = cv2.GaussianBlur(rng.random((480, 640)).astype(np.float32) ** 8, (0, 0), 25)
                w.add(f"im{i}-{j}", image=rel, text=f"segment {j} of image {i}",
                      human_map=m / m.sum())
    run = work / "large-run"
    score(work / "large-ds", ["center", "uniform"], out=run)
    return run


def cli(args: list[str], out: Path) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), _cpu()
    subprocess.run([sys.executable, "-m", "vista", *args], check=True, capture_output=True)
    return time.perf_counter() - wall, _cpu() - cpu, _size(out)


def row(label: str, t: tuple[float, float, int], base: tuple[float, float, int] | None) -> None:
    ratio = "" if base is None else f"{base[0] / t[0]:6.1f}× {base[1] / t[1]:6.1f}×"
    print(f"{label:<44} {t[0]:8.2f} {t[1]:8.2f} {t[2] / 1e6:9.2f}  {ratio}")


def bench(run: Path, work: Path, tag: str, old: tuple[Any, Any] | None, *, report: bool) -> None:
    from vista.report import write_report
    from vista.runfigures import save_run_figures

    base_fig = base_rep = None
    if old is not None:
        out = work / f"{tag}-old-figures"
        base_fig = timed(lambda: old[0].save_run_figures(run, out=out), out)
        row(f"{tag}: figures, old code", base_fig, None)
    out = work / f"{tag}-new-figures"
    row(f"{tag}: figures, new code", timed(lambda: save_run_figures(run, out=out), out), base_fig)
    if report:
        if old is not None:
            page = work / f"{tag}-old-report.html"
            base_rep = timed(lambda: old[1].write_report(run, out=page), page)
            row(f"{tag}: report, old code", base_rep, None)
        page = work / f"{tag}-new-report.html"
        row(f"{tag}: report, new code", timed(lambda: write_report(run, out=page), page),
            base_rep)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default=None, help="git revision of the old code (default: "
                                                "before vista/runfigures.py was added)")
    ap.add_argument("--skip-large", action="store_true", help="time the demo only")
    ap.add_argument("--skip-demo", action="store_true", help="time the large run only")
    ap.add_argument("--large-images", type=int, default=102,
                    help="images of the large run (default 102: with 508 triplets, VISTA's "
                         "size; otherwise 5 triplets per image)")
    ap.add_argument("--old-large", action="store_true",
                    help="time the old code on the large run too (minutes)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the runs (default: "
                                                           "a temporary folder)")
    args = ap.parse_args(argv)
    import matplotlib.figure  # noqa: F401  (imported once, before any timing)

    old = old_modules(args.old)
    with tempfile.TemporaryDirectory(prefix="vista-bench-figures-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        run = demo_run(work)
        warm = work / "warm-up"
        from vista.runfigures import save_run_figures

        save_run_figures(run, out=warm, images=False)  # imports, fonts, colormaps
        print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
        print(f"{'':<44} {'wall s':>8} {'CPU s':>8} {'MB':>9}  ratio wall, CPU")
        if not args.skip_demo:
            bench(run, work, "demo", old, report=True)
            row("demo: `vista figure RUN` (command)", cli(["figure", str(run), "--out",
                                                            str(work / "cli-figures")],
                                                           work / "cli-figures"), None)
            row("demo: `vista report RUN` (command)", cli(["report", str(run), "--out",
                                                            str(work / "cli-report.html")],
                                                           work / "cli-report.html"), None)
        if not args.skip_large:
            n = args.large_images
            triplets = 508 if n == 102 else 5 * n
            t = time.perf_counter()
            big = large_run(work, n_images=n, n_triplets=triplets)
            print(f"(large run made and scored in {time.perf_counter() - t:.0f} s)")
            bench(big, work, f"{triplets} triplets", old if args.old_large else None,
                  report=False)


if __name__ == "__main__":
    main()
