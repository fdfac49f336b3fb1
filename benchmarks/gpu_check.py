"""The GPU path checked and timed in one prepared run (under 5 minutes on one GPU).

    python benchmarks/gpu_check.py                      # on cuda: everything below
    python benchmarks/gpu_check.py --device cpu --quick # tiny models, a subset (tests)
    python benchmarks/gpu_check.py --skip-parity        # only the BLIP-base timings

1. Parity: for every family, every recipe and every method (captum's included), on
   tiny random models (``tests/explain_fixtures*.py``), the maps of
   ``explain_many`` on ``--device`` (several images a micro-batch where the family
   batches images) against ``explain`` on CPU, one image a call, both float32
   (TF32 off). Passes when ``max |device - cpu| <= TOL x the map's range``
   (TOL = 1e-3). captum's GradientShap and NoiseTunnel draw random baselines or
   noise on the model's device, so their draws differ between devices: their rows
   print the correlation and are not judged. Then the same on one full-size random
   BLIP-ITM-base (``benchmarks/explain.py``'s model, vision init std 0.02), fp32
   and bf16 (bf16 printed, not judged: its deviation is the precision's).
2. BLIP-ITM-base (full size, random weights), 5 texts an image, micro-batches of
   1-64 images (5-320 pairs a batch): pairs/s, fp32 and bf16;
3. peak GPU memory of each (``torch.cuda.max_memory_allocated``);
4. the LAVIS per-pair way (trainable parameters, one forward and
   ``loss.backward()`` per pair: ``explain.py``'s ``lavis_per_pair``) on the same
   device, in the same run.

Targets, printed as pass/fail: at least 200 pairs/s for BLIP-ITM-base on one H100,
and at least 20x the per-pair way. With ``--device cpu`` the timings are printed but
the targets are not judged (they are GPU targets). ``--quick``: blip-itm-base and
clip tiny models only (default recipe and one method each), and the timings on the
tiny BLIP at batch sizes 1 and 2: the code paths, in seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

TOL = 1e-3
STOCHASTIC = ("GradientShap", "NoiseTunnel")
TEXTS = ["a cat sits on the mat", "the red dog", "a man near a big tree"]
BATCHES = (1, 2, 4, 8, 16, 32, 64)
TARGET_PAIRS_S = 200.0
TARGET_RATIO = 20.0


def tiny_folders(root: Path, families: list[str]) -> dict[str, Path]:
    """The test suite's tiny random models, saved as real weights are."""
    import explain_fixtures as fx
    import explain_fixtures_methods as fm

    make = {
        "blip-itm-base": lambda p: fx.blip_folder(p),
        "blip-itm-large": lambda p: fx.blip_folder(p),
        "albef": lambda p: fx.albef_checkpoint(p),
        "clip": lambda p: fx.clip_folder(p),
        "vilt": lambda p: fx.vilt_folder(p, 64, init=0.2),
        "clipseg": lambda p: fx.clipseg_folder(p, refined=True),
        "clipseg-rd16": lambda p: fx.clipseg_folder(p, refined=False),
        "siglip": lambda p: fm.siglip_folder(p),
        "blip2-itm": lambda p: fm.blip2_folder(p),
    }
    out = {}
    for family in families:
        (root / family).mkdir(parents=True)
        out[family] = make[family](root / family)
    return out


def cases(family: str, quick: bool) -> list[tuple[str | None, str | None]]:
    """(recipe, method) pairs: every recipe, then every method no recipe names."""
    from vista.explain import method_names, recipes
    from vista.explain.registry import explainer_spec

    if quick:
        spec = explainer_spec(family)
        other = [m for m in method_names(family) if m != spec.default_method]
        return [(spec.default_recipe, None), (None, other[0])] if other else [
            (spec.default_recipe, None)]
    rs = recipes(family)
    covered = {r.method for r in rs}
    return [(r.name, None) for r in rs] + [(None, m) for m in method_names(family)
                                           if m not in covered]


def compare(device_maps: list[Any], cpu_maps: list[Any]) -> tuple[float, float]:
    """(worst |a - b| / range of b, lowest Pearson r) over the maps (a constant map:
    relative to its level, r not defined and left at 1)."""
    worst, corr = 0.0, 1.0
    for a, b in zip(device_maps, cpu_maps, strict=True):
        x, y = np.asarray(a.values, float), np.asarray(b.values, float)
        scale = float(np.ptp(y)) or float(np.abs(y).max()) or 1.0  # a constant map: its level
        worst = max(worst, float(np.abs(x - y).max()) / scale)
        if np.ptp(x) > 0 and np.ptp(y) > 0:
            corr = min(corr, float(np.corrcoef(x.ravel(), y.ravel())[0, 1]))
    return worst, corr


def parity_row(family: str, folder: Path, recipe: str | None, method: str | None,
               device: str, precision: str = "fp32", *, tiny: bool = True
               ) -> tuple[str, float, float, str]:
    """Maps of ``explain_many`` on ``device`` against ``explain`` on CPU."""
    from explain_fixtures import tiny_image

    from vista.explain import load_explainer

    extra: dict[str, Any] = {"vision_heads": 3} if family == "albef" else {}
    if tiny and "gem" in (recipe, method):
        extra["depth"] = 2  # the tiny model has 3 blocks; GEM's default depth is 7
    kw: dict[str, Any] = {"recipe": recipe, "method": method, "weights": str(folder)}
    items = [(tiny_image(24, 40, seed=s), TEXTS[: 1 + s % 3]) for s in range(3)]
    cpu = load_explainer(family, device="cpu", **kw, **extra)
    ref = [m for image, texts in items for m in cpu.explain(image, texts)]
    dev = load_explainer(family, device=device, precision=precision, **kw, **extra)
    got = [m for maps in dev.explain_many(items, max_images=4) for m in maps]
    worst, corr = compare(got, ref)
    label = f"{family}:{recipe}" if recipe else f"{family}/{method}"
    stochastic = method is not None and any(s in method for s in STOCHASTIC)
    verdict = ("stochastic" if stochastic or precision != "fp32" else
               "pass" if worst <= TOL else "FAIL")
    return label, worst, corr, verdict


def run_parity(args: argparse.Namespace, root: Path) -> list[str]:
    from vista.explain import explainer_names

    families = ["blip-itm-base", "clip"] if args.quick else list(explainer_names())
    folders = tiny_folders(root / "tiny", families)
    print(f"\n1. parity: explain_many on {args.device} vs explain on cpu, tiny models; "
          f"pass: max |diff| <= {TOL:g} x range")
    print(f"{'family:recipe / method':<48}{'max |diff|/range':>17}{'min r':>8}  verdict")
    failed = []
    for family in families:
        for recipe, method in cases(family, args.quick):
            try:
                label, worst, corr, verdict = parity_row(family, folders[family], recipe,
                                                         method, args.device)
            except Exception as exc:  # one broken case must not hide the others
                label = f"{family}:{recipe}" if recipe else f"{family}/{method}"
                print(f"{label:<48} FAIL {type(exc).__name__}: {str(exc)[:80]}", flush=True)
                failed.append(label)
                continue
            print(f"{label:<48}{worst:>17.2e}{corr:>8.4f}  {verdict}", flush=True)
            if verdict == "FAIL":
                failed.append(label)
    return failed


def run_precision(args: argparse.Namespace, root: Path) -> None:
    """bf16 and fp16 (autocast on ``--device``) against fp32 on CPU, every family's
    recipes and methods on the tiny models: printed, not judged."""
    from vista.explain import explainer_names

    families = ["blip-itm-base", "clip"] if args.quick else list(explainer_names())
    folders = tiny_folders(root / "tiny-precision", families)
    print(f"\nprecision: bf16 / fp16 on {args.device} vs fp32 on cpu (max |diff| / range, "
          "min Pearson r over the maps); an error is printed in place of the figures")
    for family in families:
        for recipe, method in cases(family, args.quick):
            cells = []
            for precision in ("bf16", "fp16"):
                try:
                    label, worst, corr, _ = parity_row(family, folders[family], recipe, method,
                                                       args.device, precision)
                    cells.append(f"{precision} {worst:9.2e} r={corr:.4f}")
                except Exception as exc:  # report and go on: this is a survey
                    label = f"{family}:{recipe}" if recipe else f"{family}/{method}"
                    cells.append(f"{precision} {type(exc).__name__}: {str(exc)[:60]}")
            print(f"{label:<48}" + "   ".join(cells), flush=True)


def full_size_parity(args: argparse.Namespace, folder: Path) -> list[str]:
    print("\nfull-size random blip-itm-base (lavis recipe), fp32 then bf16 on "
          f"{args.device} vs fp32 on cpu")
    failed = []
    for precision in ("fp32", "bf16"):
        label, worst, corr, verdict = parity_row("blip-itm-base", folder, "lavis", None,
                                                 args.device, precision, tiny=False)
        verdict = verdict if precision == "fp32" else "(precision, not judged)"
        print(f"{label + ' ' + precision:<48}{worst:>17.2e}{corr:>8.4f}  {verdict}", flush=True)
        if verdict == "FAIL":
            failed.append(label)
    return failed


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def throughput(args: argparse.Namespace, folder: Path) -> tuple[float, float]:
    """Pairs/s and peak memory of BLIP-ITM-base per micro-batch size; the LAVIS way."""
    import torch
    from explain import SEGMENTS, lavis_per_pair

    from vista.explain import load_explainer

    rng = np.random.default_rng(0)
    size = 64 if args.quick else 480
    batches = (1, 2) if args.quick else BATCHES
    images = [rng.integers(0, 256, (size, size * 4 // 3, 3), dtype=np.uint8)
              for _ in range(max(batches))]
    texts = SEGMENTS[:5]
    cuda = args.device.startswith("cuda")
    print(f"\n2-3. blip-itm-base pairs/s on {args.device}, {len(texts)} texts an image, "
          "one micro-batch of B images a call (median of 2 calls after a warm-up)")
    print(f"{'precision':<10}{'B images':>9}{'pairs':>7}{'pairs/s':>10}{'peak GB':>9}")
    best = 0.0
    for precision in ("fp32", "bf16"):
        ex = load_explainer("blip-itm-base", recipe="lavis", weights=str(folder),
                            device=args.device, precision=precision)
        for b in batches:
            items = [(im, texts) for im in images[:b]]
            ex.explain_many(items, max_images=b)
            walls = []
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            for _ in range(2):
                sync(args.device)
                t0 = time.perf_counter()
                ex.explain_many(items, max_images=b)
                sync(args.device)
                walls.append(time.perf_counter() - t0)
            rate = b * len(texts) / statistics.median(walls)
            best = max(best, rate)
            peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else float("nan")
            print(f"{precision:<10}{b:>9}{b * len(texts):>7}{rate:>10.1f}{peak:>9.2f}", flush=True)
        del ex
    run, warm, model = lavis_per_pair(folder, images[0], texts, 6, device=args.device)
    warm()
    sync(args.device)
    t0 = time.perf_counter()
    run()
    sync(args.device)
    lavis = len(texts) / (time.perf_counter() - t0)
    del model
    print(f"\n4. LAVIS per-pair way on {args.device}: {lavis:.1f} pairs/s")
    return best, lavis


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device (default cuda)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and a subset: the code paths in seconds")
    parser.add_argument("--skip-parity", action="store_true", help="only the timings")
    parser.add_argument("--skip-timings", action="store_true", help="no BLIP-base timings")
    parser.add_argument("--precision", action="store_true",
                        help="also survey bf16 and fp16 against fp32 for every case")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    import torch
    from explain import build_folder

    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"device {args.device} ({name}); torch {torch.__version__}; load {os.getloadavg()}")
    t_start = time.perf_counter()
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.quick:
            import explain_fixtures as fx

            full = fx.blip_folder(root / "blip-tiny")
        else:
            full = build_folder(root / "blip-base", large=False)
        if not args.skip_parity:
            failed += run_parity(args, root)
            if not args.quick:
                failed += full_size_parity(args, full)
        if args.precision:
            run_precision(args, root)
        if args.skip_timings:
            print("\ntimings skipped")
            raise SystemExit(1 if failed else 0)
        best, lavis = throughput(args, full)
    print(f"\nbest pairs/s {best:.1f}; {best / lavis:.1f}x the per-pair way; "
          f"total {time.perf_counter() - t_start:.0f} s")
    if failed:
        print(f"parity FAILED: {', '.join(failed)}")
    else:
        print("parity: pass" if not args.skip_parity else "parity: skipped")
    if args.device.startswith("cuda") and not args.quick:
        print(f"target >= {TARGET_PAIRS_S:.0f} pairs/s: "
              f"{'pass' if best >= TARGET_PAIRS_S else 'FAIL'}; target >= "
              f"{TARGET_RATIO:.0f}x per-pair: {'pass' if best / lavis >= TARGET_RATIO else 'FAIL'}")
    else:
        print("speed targets are for one GPU: not judged here")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
