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
- ``per pair``: the reference code's way, one text a call with the parameters
  trainable (``requires_grad``), as the reference notebooks and scripts run them.
  For BLIP-ITM the per-pair way is the port of LAVIS ``compute_gradcam`` in
  ``explain.py`` (``lavis_per_pair``: a full forward, image encoder included, and
  ``loss.backward()`` per pair), timed once per family; the other rows call vista's
  own explainer one text at a time with trainable parameters, a lower bound on the
  reference scripts' time (they backpropagate through the image encoder as well).

Printed per row: seconds per pair of both ways and their ratio (the figure to read
on shared cores: both sides suffer the same load), and the Table 1 extrapolation:
seconds per pair of the 7 rows (``TABLE1``) times 508 pairs. Median of
``--repeats`` calls after a warm-up call.
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


def one_text_a_call(ex: Any, image: np.ndarray, texts: list[str], repeats: int) -> np.ndarray:
    """Seconds per pair of ``ex`` called once per text with trainable parameters."""
    ex.model.requires_grad_(True)
    try:
        return median_time(lambda: [ex.explain(image, [t]) for t in texts],
                           lambda: ex.explain(image, texts[:1]), repeats) / len(texts)
    finally:
        ex.model.requires_grad_(False)


def bench_family(family: str, args: argparse.Namespace, root: Path,
                 image: np.ndarray) -> list[tuple[str, Any, Any, str]]:
    """(row label, vista (wall, CPU) s/pair, per-pair (wall, CPU) s/pair, per-pair way)
    per case."""
    from vista.explain import load_explainer

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
        spec = None if recipe is None else next(
            r for r in __import__("vista.explain", fromlist=["recipes"]).recipes(family)
            if r.name == recipe)
        arch = "patch32" if spec is not None and spec.weights and "patch32" in spec.weights else ""
        ex = load_explainer(family, weights=str(folders[arch]), device="cpu", **kw,
                            **EXTRA.get(family, {}))
        ours = median_time(lambda ex=ex: ex.explain(image, texts),
                           lambda ex=ex: ex.explain(image, texts[:1]), args.repeats) / len(texts)
        if lavis is not None and ex.method == "gradcam":
            ref, way = lavis, "LAVIS compute_gradcam per pair"
        elif family == "albef" and ex.method == "gradcam" and ex.batches_images:
            ref = median_time(lambda ex=ex: fusion_per_pair(ex, image, texts),
                              lambda ex=ex: fusion_per_pair(ex, image, texts[:1]),
                              1) / len(texts)
            way = "ALBEF notebook per pair (full backward)"
        else:
            ref, way = one_text_a_call(ex, image, texts, args.repeats), "one text a call"
        label = f"{family}:{recipe}" if recipe else f"{family}/{method}"
        rows.append((label + (" (B/32)" if arch else ""), ours, ref, way))
        print(f"{rows[-1][0]:<40}{ours[0]:>8.3f}{ref[0]:>9.3f}{ref[0] / ours[0]:>7.1f}x"
              f"{ours[1]:>8.3f}{ref[1]:>9.3f}{ref[1] / ours[1]:>7.1f}x  {way}", flush=True)
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
    parser.add_argument("--scale-to", type=float, default=None, metavar="S",
                        help="s/pair of blip-itm-base:lavis on a quiet machine; the Table 1 "
                             "extrapolation is also printed scaled by S / this run's figure")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    families = [f for f in args.families if not args.table1 or any(f == t for t, _ in TABLE1)]
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    print(f"{args.threads} torch threads, {args.segments} texts a call, median of "
          f"{args.repeats}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':<40}{'wall s/pair':^24}{'CPU s/pair':^24}")
    print(f"{'family:recipe / method':<40}{'vista':>8}{'per pair':>9}{'ratio':>8}"
          f"{'vista':>8}{'per pair':>9}{'ratio':>8}  per-pair way")
    rows: dict[str, tuple[str, Any, Any, str]] = {}
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
