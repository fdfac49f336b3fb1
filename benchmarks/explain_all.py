"""Every family, recipe and method timed on full-size random models against its
per-pair reference way, in the same run, with the 7-row Table 1 extrapolation.

    python benchmarks/explain_all.py --threads 2             # every family, 3 texts a call
    python benchmarks/explain_all.py --families vilt clip --segments 5
    python benchmarks/explain_all.py --table1                # only the 7 Table 1 rows
    python benchmarks/explain_all.py --captum                # + captum's methods (slow)

Models: the released architectures at full size with random weights
(``benchmarks/explain.py``'s ``build_family``: BLIP-ITM base and large, ALBEF,
CLIP ViT-B/16 and B/32, ViLT, CLIPSeg rd64; CLIPSeg rd16 as rd64 with
``reduce_dim=16``; SigLIP from ``explain_methods.py``), saved and loaded through
``load_explainer``. Weight matrices are drawn with trained-like scales (std 0.02 or
N(0, 1/fan_in)); transformers' BLIP vision init of 1e-10 is replaced, since its
denormal floats slow the backward pass about tenfold. After the timings the script
counts denormal floats in the activations of one BLIP forward, to show there are none.

Rows, each measured in this run on one 480 x 640 image:

- ``vista``: one ``explain(image, texts)`` call with ``--segments`` texts;
- ``ref.``: the reference code's way, one pair a call with the parameters trainable
  (``requires_grad``), as the reference notebooks and scripts run them: for BLIP-ITM
  the port of LAVIS ``compute_gradcam`` in ``explain.py`` (``lavis_per_pair``: a full
  forward, image encoder included, and ``loss.backward()`` per pair); for ALBEF the
  notebook's way on the explainer's parts (``fusion_per_pair``); for CLIP Grad-CAM,
  Chefer's CLIP notebook, CLIPSeg's Quickstart and ViLT's ``demo.py`` the flows in
  ``per_pair.py`` (built on the reference ports the recipes are tested against);
  vista one text a call for any other row;
- ``1 text``: vista's own explainer one text a call with trainable parameters, the
  strictest baseline (it keeps every saving of vista but the sharing across texts).

Printed per row: seconds per pair of each way and the ratios (the figures to read on
shared cores: both sides suffer the same load), then the Table 1 extrapolation:
seconds per pair of the 7 rows (``TABLE1``) times 508 pairs. Median of ``--repeats``
calls after a warm-up call. With ``--table1`` the script also counts the floating-
point operations of each row's vista call (torch's own per-op formulas) and measures
this machine's float32 matrix-product peak, and prints the floor they set: the time
vista's arithmetic would take if every operation ran at that peak.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explain import SEGMENTS, build_family, build_folder, lavis_per_pair

N_PAIRS = 508
#: VISTA's Table 1 model rows (family, recipe), each timed at its recipe.
TABLE1 = [("clip", "gradcam"), ("clip", "chefer"), ("blip-itm-base", "lavis"),
          ("blip-itm-large", "lavis"), ("albef", "grounding"), ("vilt", "ipot"),
          ("clipseg", "rd64-refined")]
FAMILIES = ("blip-itm-base", "blip-itm-large", "albef", "clip", "vilt", "clipseg",
            "clipseg-rd16", "siglip")
EXTRA: dict[str, dict[str, Any]] = {"albef": {"vision_heads": 12}}
#: GFLOP per pair of each Table 1 row's vista call (``--table1``), by row label.
FLOPS: dict[str, float] = {}
#: (max deviation / range, min r) of each row's maps from fp32 (``--precision``).
DEVIATION: dict[str, tuple[float, float]] = {}


def build(family: str, root: Path) -> dict[str, Path]:
    """Folders of the family's full-size random models ("" and, for CLIP, "patch32")."""
    import explain_methods
    import transformers as tf

    folder = root / family
    if family == "blip-itm-large":
        return {"": build_folder(folder, large=True)}
    if family == "siglip":
        folder.mkdir(parents=True)
        return {"": explain_methods.build("siglip", folder)}
    if family == "clipseg-rd16":
        build_family("clipseg", folder)
        cfg = tf.CLIPSegConfig.from_pretrained(folder)
        cfg.reduce_dim, cfg.use_complex_transposed_convolution = 16, False
        tf.CLIPSegForImageSegmentation(cfg).save_pretrained(folder)
        return {"": folder}
    out = {"": build_family(family, folder)}
    if family == "clip":
        out["patch32"] = build_family("clip", root / "clip-b32", patch=32)
    return out


def cases(family: str, captum: bool, table1: bool) -> list[tuple[str | None, str | None]]:
    """(recipe, method): every recipe, then each method no recipe uses."""
    from vista.explain import method_names, recipes

    if table1:
        return [(r, None) for f, r in TABLE1 if f == family]
    rs = recipes(family)
    used = {r.method for r in rs}
    return [(r.name, None) for r in rs] + [
        (None, m) for m in method_names(family)
        if m not in used and (captum or not m.startswith("captum"))]


def median_time(fn: Any, warm: Any, repeats: int) -> np.ndarray:
    """Median (wall, process CPU) seconds of ``repeats`` calls after one warm-up."""
    warm()
    times = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array([statistics.median(t[0] for t in times),
                     statistics.median(t[1] for t in times)])


def fusion_per_pair(ex: Any, image: np.ndarray, texts: list[str]) -> None:
    """The ALBEF notebook's and LAVIS's way on a BLIP/ALBEF explainer's own parts:
    parameters trainable, per pair the image encoded with its graph, the match logit,
    ``model.zero_grad()`` and ``loss.backward()`` through the whole model, the
    attention and its gradient kept by hooks."""
    from vista.explain.hooks import capture_hook, run_with_hooks

    ex.model.requires_grad_(True)
    try:
        for text in texts:
            enc, _, _ = ex._tokenize([ex._clean(text) or text])
            ids = ex._input_ids(enc["input_ids"].clone())
            probs: list[Any] = []
            _, attention = ex._cross_attention()

            def forward(ids: Any = ids, enc: Any = enc) -> Any:
                embeds = ex._encode_image(ex._pixels(image))
                return ex._match_logit(ids, enc["attention_mask"], embeds)

            score = run_with_hooks(forward, [(attention, "forward", capture_hook(probs, 1))])
            probs[0].retain_grad()
            ex.model.zero_grad()
            score.sum().backward()
    finally:
        ex.model.zero_grad(set_to_none=True)
        ex.model.requires_grad_(False)


def label_of(family: str, recipe: str | None, method: str | None) -> str:
    """A row's label: ``family:recipe`` or ``family/method``."""
    return f"{family}:{recipe}" if recipe else f"{family}/{method}"


def deviation(maps: list[Any], reference: list[Any]) -> tuple[float, float]:
    """(largest |map - fp32 map| / fp32 map's range, lowest Pearson r) over the texts."""
    devs, rs = [], []
    for m, r in zip(maps, reference, strict=True):
        a, b = np.asarray(m.values, np.float64), np.asarray(r.values, np.float64)
        devs.append(float(np.abs(a - b).max() / max(np.ptp(b), 1e-30)))
        rs.append(float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if np.ptp(a) and np.ptp(b)
                  else float("nan"))
    return max(devs), min(rs)


def gflop(fn: Any) -> float:
    """Floating-point operations of ``fn()`` in GFLOP, counted per dispatched op by
    torch's own formulas (``torch.utils.flop_counter``: matrix products,
    convolutions, attention); the dispatch mode sits below autograd and vmap, so
    backward passes and batched gradients are counted at their real shapes."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    with Count() as counter:
        fn()
    return counter.total / 1e9


def gemm_peak(precision: str = "fp32") -> float:
    """This machine's matrix-product rate in GFLOP/s at the current thread count and
    ``precision``: the best of 5 products of two 2048 x 2048 matrices."""
    import torch

    from vista.explain.precision import torch_dtype

    dtype = torch_dtype(precision)
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    a @ b
    best = min(median_time(lambda: a @ b, lambda: None, 1)[0] for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def trainable_time(ex: Any, fn: Any, warm: Any, repeats: int) -> np.ndarray:
    """:func:`median_time` of ``fn`` with ``ex``'s parameters trainable, as the
    reference scripts leave them."""
    ex.model.requires_grad_(True)
    try:
        return median_time(fn, warm, repeats)
    finally:
        ex.model.zero_grad(set_to_none=True)
        ex.model.requires_grad_(False)


def one_text_a_call(ex: Any, image: np.ndarray, texts: list[str], repeats: int) -> np.ndarray:
    """Seconds per pair of ``ex`` called once per text with trainable parameters."""
    return trainable_time(ex, lambda: [ex.explain(image, [t]) for t in texts],
                          lambda: ex.explain(image, texts[:1]), repeats) / len(texts)


def bench_family(family: str, args: argparse.Namespace, root: Path,
                 image: np.ndarray) -> list[tuple[str, Any, Any, str, Any]]:
    """(row label, vista (wall, CPU) s/pair, reference per-pair (wall, CPU) s/pair, the
    reference way, vista one text a call (wall, CPU) s/pair) per case."""
    from per_pair import per_pair_way

    from vista.explain import load_explainer, recipes

    texts = SEGMENTS[: args.segments]
    folders = build(family, root)
    lavis: Any = None
    if family.startswith("blip-itm"):
        run, warm, model = lavis_per_pair(folders[""], image, texts, 6)
        lavis = median_time(run, warm, 1) / len(texts)
        del model
    rows = []
    for recipe, method in cases(family, args.captum, args.table1):
        kw: dict[str, Any] = {"recipe": recipe, "method": method}
        spec = None if recipe is None else next(r for r in recipes(family) if r.name == recipe)
        arch = "patch32" if spec is not None and spec.weights and "patch32" in spec.weights else ""
        ex = load_explainer(family, weights=str(folders[arch]), device="cpu", **kw,
                            precision=args.precision, **EXTRA.get(family, {}))
        label = label_of(family, recipe, method)
        maps = ex.explain(image, texts)
        if args.precision != "fp32":
            DEVIATION[label] = deviation(
                maps, load_explainer(family, weights=str(folders[arch]), device="cpu", **kw,
                                     **EXTRA.get(family, {})).explain(image, texts))
        flat = [m for m in maps if float(np.ptp(m.values)) == 0]
        if flat:
            print(f"warning: {len(flat)} of {len(texts)} maps of {label} "
                  "are constant (a degenerate random model?)", flush=True)
        ours = median_time(lambda ex=ex: ex.explain(image, texts),
                           lambda ex=ex: ex.explain(image, texts[:1]), args.repeats) / len(texts)
        strict = one_text_a_call(ex, image, texts, args.repeats)
        reference = per_pair_way(family, ex)
        if lavis is not None and ex.method == "gradcam":
            ref, way = lavis, "LAVIS compute_gradcam per pair"
        elif family == "albef" and ex.method == "gradcam" and ex.batches_images:
            ref = median_time(lambda ex=ex: fusion_per_pair(ex, image, texts),
                              lambda ex=ex: fusion_per_pair(ex, image, texts[:1]),
                              1) / len(texts)
            way = "ALBEF notebook per pair (full backward)"
        elif reference is not None:
            fn, way = reference
            ref = trainable_time(ex, lambda ex=ex, fn=fn: fn(ex, image, texts),
                                 lambda ex=ex, fn=fn: fn(ex, image, texts[:1]),
                                 args.repeats) / len(texts)
        else:
            ref, way = strict, "vista one text a call"
        if args.table1:
            FLOPS[label] = gflop(lambda ex=ex: ex.explain(image, texts)) / len(texts)
        rows.append((label + (" (B/32)" if arch else ""), ours, ref, way, strict))
        dev = DEVIATION.get(label)
        print(f"{rows[-1][0]:<34}{ours[0]:>7.3f}{ref[0]:>8.3f}{ref[0] / ours[0]:>6.1f}x"
              f"{strict[0]:>8.3f}{strict[0] / ours[0]:>6.1f}x{ref[1] / ours[1]:>7.1f}x  {way}"
              + (f"; {args.precision} vs fp32: max {dev[0]:.2%} of range, r {dev[1]:.4f}"
                 if dev else ""), flush=True)
        del ex
    return rows


def denormal_share(root: Path) -> float:
    """Share of denormal floats among the activations of one BLIP-ITM-base forward."""
    import torch

    from vista.explain import load_explainer

    ex = load_explainer("blip-itm-base", weights=str(root / "blip-itm-base"), device="cpu")
    counts = [0, 0]

    def hook(module: Any, args: Any, output: Any) -> None:
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            tiny = (out != 0) & (out.abs() < torch.finfo(torch.float32).tiny)
            counts[0] += int(tiny.sum())
            counts[1] += out.numel()

    handles = [m.register_forward_hook(hook) for m in ex.model.modules()]
    try:
        ex.explain(np.zeros((64, 64, 3), np.uint8), SEGMENTS[:1])
    finally:
        for h in handles:
            h.remove()
    return counts[0] / max(counts[1], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--table1", action="store_true", help="only the 7 Table 1 rows")
    parser.add_argument("--captum", action="store_true", help="add captum's methods (slow)")
    parser.add_argument("--segments", type=int, default=3, help="texts per call (default 3)")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                        help="vista's precision (default fp32); not fp32: each row's maps "
                             "are compared with fp32 maps of the same call")
    parser.add_argument("--scale-to", type=float, default=None, metavar="S",
                        help="s/pair of blip-itm-base:lavis on a quiet machine; the Table 1 "
                             "extrapolation is also printed scaled by S / this run's figure")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    families = [f for f in args.families if not args.table1 or any(f == t for t, _ in TABLE1)]
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    print(f"{args.precision}, {args.threads} torch threads, {args.segments} texts a call, median of "
          f"{args.repeats}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':<34}{'wall s/pair':^43}{'CPU':>7}")
    print(f"{'family:recipe / method':<34}{'vista':>7}{'ref.':>8}{'ratio':>7}"
          f"{'1 text':>8}{'ratio':>7}{'ratio':>7}  reference per-pair way ('1 text': vista "
          "one text a call, trainable)")
    rows: dict[str, tuple[str, Any, Any, str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            for row in bench_family(family, args, Path(tmp), image):
                rows[row[0]] = row
        if "blip-itm-base" in families:
            print(f"\ndenormal floats in a BLIP-ITM-base forward: "
                  f"{denormal_share(Path(tmp)):.1e} of activations")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    table = [rows.get(f"{f}:{r}") or rows.get(f"{f}:{r} (B/32)") for f, r in TABLE1]
    if all(table):
        ours = sum(r[1] for r in table if r) * N_PAIRS
        ref = sum(r[2] for r in table if r) * N_PAIRS
        print(f"Table 1, 7 rows x {N_PAIRS} pairs: vista {ours[0] / 60:.1f} min wall, "
              f"{ours[1] / 60:.1f} min CPU; per-pair ways {ref[0] / 60:.1f} min wall "
              f"({ref[0] / ours[0]:.1f}x); target < 8 min wall: "
              f"{'met' if ours[0] < 480 else 'NOT met'}. CPU time / {args.threads} bounds "
              f"the wall time on {args.threads} idle cores from below, CPU time from above")
        if len(FLOPS) == len(TABLE1):
            peak = gemm_peak(args.precision)
            work = sum(FLOPS.values()) * N_PAIRS
            print(f"\nfloor: vista's arithmetic for Table 1 is {work / 1e3:.1f} TFLOP "
                  f"(counted); at this machine's {args.precision} matrix-product peak, "
                  f"{peak:.0f} GFLOP/s on {args.threads} threads, that alone takes "
                  f"{work / peak / 60:.1f} min")
            for (f, r), row in zip(TABLE1, table, strict=True):
                g = FLOPS[f"{f}:{r}"]
                print(f"  {f + ':' + r:<24}{g:>6.1f} GFLOP/pair, floor {g / peak:.3f} s/pair, "
                      f"vista {row[1][0]:.3f} s/pair ({g / row[1][0]:.0f} GFLOP/s, "
                      f"{g / peak / row[1][0]:.0%} of the peak)" if row else "")
        base = rows.get("blip-itm-base:lavis")
        if args.scale_to and base is not None:
            scaled = [r[1][0] / base[1][0] * args.scale_to * N_PAIRS for r in table if r]
            parts = ", ".join(f"{f}:{r} {v / 60:.1f}" for (f, r), v in zip(TABLE1, scaled,
                                                                          strict=True))
            print(f"scaled to blip-itm-base:lavis = {args.scale_to} s/pair: "
                  f"{sum(scaled) / 60:.1f} min ({parts} min)")
    low = [r[0] for r in rows.values() if r[2][0] / r[1][0] < 5]
    print(f"rows under 5x their per-pair way: {', '.join(low) or 'none'}")


if __name__ == "__main__":
    main()
