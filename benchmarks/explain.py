"""Speed (and, with --large, memory) of BLIP-ITM Grad-CAM: vista's batched path vs the
per-pair way of LAVIS, measured in the same run on the same random weights.

    python benchmarks/explain.py                 # blip-itm-base, 2 then 1 threads, 5 segments
    python benchmarks/explain.py --threads 2 --repeats 3
    python benchmarks/explain.py --large         # + peak RSS of blip-itm-large
    python benchmarks/explain.py --recipes       # each recipe vs its family's vista-0.1
    python benchmarks/explain.py --recipes --families clip vilt --threads 2

The model is the full-size BLIP-ITM architecture (the configs of
Salesforce/blip-itm-base-coco and -large-coco: ViT-B/16 or ViT-L/16 at 384 px, a
12-layer BERT-base text encoder with cross-attention) with random weights: the same
compute as the real model, no download. It is saved with ``save_pretrained``, with a
BERT WordPiece tokenizer and a BLIP image processor, to a temporary folder and loaded
through ``load_explainer`` -- the path real weights take.

Rows:

- ``per-pair (LAVIS)``: parameters trainable, one forward (image encoder included) and
  one full ``loss.backward()`` per image-text pair, attention and its gradient saved
  by hooks, LAVIS's Grad-CAM arithmetic.
- ``vista, one text a call``: vista's explainer called once per pair (frozen
  parameters, gradient to the attention tensor only, but no batching).
- ``vista, batched``: vista's explainer called once with the image's segments.

``--recipes``: for each family, full-size random models (the real configurations,
weights drawn with standard deviation 0.02 as trained-like magnitudes; the denormal
floats of transformers' BLIP vision init of 1e-10 would slow the backward pass
tenfold) are saved and loaded through ``load_explainer``, and every recipe's
``explain`` of one 480 x 640 image with 5 segments is timed against the family's
``vista-0.1`` recipe (today's choices) in the same run. A recipe whose default
weights are another architecture (``clip:chefer``: ViT-B/32) is timed on that
architecture. Printed: wall and process CPU seconds per image, and the ratio of CPU
times to ``vista-0.1`` (CPU time is the steadier figure on shared cores).

The 508-pair figure is an extrapolation: the measured time per image (its
``--segments`` segments in one call) times 508 / segments. The script sets the
process's torch thread count for each measurement (it is a script, not the library)
and reports the load average, since on shared cores wall times grow with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SEGMENTS = [
    "a man in a red jacket is standing next to the bicycle",
    "on the left there is a small dog looking at the camera",
    "behind them a white car is parked near the tree",
    "the woman on the right is holding a cup of coffee",
    "and in the background you can see some buildings and the sky",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
N_PAIRS_TARGET = 508


def blip_config(large: bool) -> Any:
    """BlipConfig of Salesforce/blip-itm-{base,large}-coco, vision init std 0.02.

    transformers initialises BLIP's vision weights with ``initializer_range=1e-10``.
    From that init, activations and gradients in the vision tower reach denormal
    floats and the backward pass of the per-pair baseline runs about 10x slower
    than with trained weights; 0.02 (ViT's usual init) gives trained-like magnitudes,
    so the timings mean something.
    """
    from transformers import BlipConfig

    vision: dict[str, Any] = {"image_size": 384, "patch_size": 16, "initializer_range": 0.02}
    if large:
        vision.update(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                      intermediate_size=4096)
    else:
        vision.update(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072)
    text = {"vocab_size": 30524, "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072,
            "max_position_embeddings": 512}
    return BlipConfig(text_config=text, vision_config=vision, image_text_hidden_size=256)


def build_folder(folder: Path, *, large: bool) -> Path:
    """Random-weight BLIP-ITM + tokenizer + image processor saved to ``folder``."""
    import torch
    import transformers
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    tok = _bert_tokenizer(folder, extra=True)
    torch.manual_seed(0)
    BlipForImageTextRetrieval(blip_config(large)).save_pretrained(folder)
    cls = getattr(transformers, "BlipImageProcessorPil", None) or transformers.BlipImageProcessor
    proc = cls(size={"height": 384, "width": 384},
               image_mean=[0.48145466, 0.4578275, 0.40821073],
               image_std=[0.26862954, 0.26130258, 0.27577711])
    BlipProcessor(image_processor=proc, tokenizer=tok).save_pretrained(folder)
    return folder


def lavis_per_pair(
    folder: Path, image: np.ndarray, texts: list[str], block: int, *, device: str = "cpu"
) -> tuple[Any, Any, Any]:
    """The per-pair way: trainable parameters, full forward and ``loss.backward()``
    for each pair (LAVIS ``compute_gradcam`` on a batch of one), on ``device``."""
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoTokenizer, BlipForImageTextRetrieval

    model = BlipForImageTextRetrieval.from_pretrained(folder).eval().to(device)  # trainable
    tok = AutoTokenizer.from_pretrained(folder)
    proc = AutoImageProcessor.from_pretrained(folder, backend="pil")
    enc_id = tok.convert_tokens_to_ids("[ENC]")
    layer = model.text_encoder.encoder.layer[block].crossattention.self

    def run_pair(text: str) -> Any:
        pixels = proc(images=Image.fromarray(image), return_tensors="pt")["pixel_values"]
        t = tok([text], truncation=True, max_length=35, return_tensors="pt").to(device)
        ids = t["input_ids"].clone()
        ids[:, 0] = enc_id
        saved: dict[str, Any] = {}

        def hook(module: Any, args: Any, output: Any, saved: dict[str, Any] = saved) -> None:
            saved["attn"] = output[1]
            output[1].register_hook(lambda g: saved.__setitem__("grad", g))

        handle = layer.register_forward_hook(hook)
        try:
            out = model(input_ids=ids, pixel_values=pixels.to(device),
                        attention_mask=t["attention_mask"])
            loss = out.itm_score[:, 1].sum()
            model.zero_grad()
            loss.backward()
        finally:
            handle.remove()
        with torch.no_grad():
            mask = t["attention_mask"].view(1, 1, -1, 1, 1)
            n = int(t["attention_mask"].sum()) - 2
            heads, side = saved["attn"].shape[1], round((saved["attn"].shape[-1] - 1) ** 0.5)
            cams = saved["attn"][:, :, :, 1:].reshape(1, heads, -1, side, side) * mask
            grads = saved["grad"][:, :, :, 1:].clamp(0).reshape(1, heads, -1, side, side) * mask
            gc = (cams * grads)[0].mean(0)
            return (gc[1 : n + 1].sum(0) / n).cpu().numpy()

    def run() -> list[Any]:
        return [run_pair(text) for text in texts]

    def warm() -> None:
        run_pair(texts[0])

    return run, warm, model


def timed(fn: Any, warmup: Any, repeats: int) -> tuple[float, float, Any]:
    """Median wall time and median process CPU time (all threads) of ``repeats``
    calls of ``fn``, after one call of ``warmup``."""
    warmup()
    walls, cpus = [], []
    out = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def bench_base(args: argparse.Namespace) -> None:
    import torch

    from vista.explain import load_explainer

    texts = SEGMENTS[: args.segments]
    n = len(texts)
    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    threads_before = torch.get_num_threads()
    results: dict[int, list[tuple[str, float, float]]] = {}
    loads: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = build_folder(Path(tmp), large=False)
        print(f"built and saved random blip-itm-base in {time.perf_counter() - t0:.1f} s")
        ex = load_explainer("blip-itm-base", weights=str(folder), device="cpu")
        run_lavis, warm_lavis, lavis_model = lavis_per_pair(folder, image, texts, ex.block)
        lavis_maps: Any = None
        try:
            for threads in args.threads:
                torch.set_num_threads(threads)
                load0 = os.getloadavg()[0]
                t_lavis, c_lavis, lavis_maps = timed(run_lavis, warm_lavis, 1)
                t_single, c_single, _ = timed(lambda: [ex.explain(image, [t]) for t in texts],
                                              lambda: ex.explain(image, texts[:1]), args.repeats)
                t_batch, c_batch, _ = timed(lambda: ex.explain(image, texts),
                                            lambda: ex.explain(image, texts[:1]), args.repeats)
                loads[threads] = (load0, os.getloadavg()[0])
                results[threads] = [
                    ("per-pair (LAVIS: trainable, full backward)", t_lavis, c_lavis),
                    ("vista, one text a call (frozen, grad to attention)", t_single, c_single),
                    (f"vista, batched ({n} segments a call)", t_batch, c_batch),
                ]
        finally:
            torch.set_num_threads(threads_before)
        del lavis_model

    # same maps (model grid, before the resize) from both ways
    raw, _ = ex._explain_batch(image, texts)
    diff = max(float(np.max(np.abs(a - b))) / (float(np.max(np.abs(b))) or 1.0)
               for a, b in zip(raw, lavis_maps, strict=True))
    print(f"\nblip-itm-base, 384 px, random weights, {n} segments of one image; "
          f"vista: median of {args.repeats} runs, per-pair: 1 run")
    for threads, rows in results.items():
        load0, load1 = loads[threads]
        t_lavis = rows[0][1]
        print(f"\n{threads} torch thread(s); load average {load0:.1f} -> {load1:.1f} on "
              f"{os.cpu_count()} cores")
        c_lavis = rows[0][2]
        print(f"{'way':<52} {'s/pair':>7} {'pairs/s':>8} {'ratio':>6} {'CPU s/pair':>10} "
              f"{'CPU ratio':>9}")
        for label, t, c in rows:
            print(f"{label:<52} {t / n:>7.3f} {n / t:>8.2f} {t_lavis / t:>5.1f}x {c / n:>10.3f} "
                  f"{c_lavis / c:>8.1f}x")
        t_batch = rows[2][1]
        total = t_batch * N_PAIRS_TARGET / n
        print(f"{N_PAIRS_TARGET}-pair run, extrapolated from {t_batch:.2f} s per image "
              f"({n} segments an image): {total:.0f} s")
        if threads != 2:
            continue
        print(f"targets (2 threads): <= 0.25 s/pair -> "
              f"{'met' if t_batch / n <= 0.25 else 'NOT met'}; "
              f">= 7x per-pair -> {'met' if t_lavis / t_batch >= 7 else 'NOT met'}; "
              f"508 pairs < 2 min -> {'met' if total < 120 else 'NOT met'}")
    if 1 in results:
        c1_batch, c1_lavis = results[1][2][2], results[1][0][2]
        print(f"\nCPU time with 1 thread (what one core of its own would take, free of the "
              f"waiting that shared cores add): vista batched {c1_batch / n:.3f} s/pair, "
              f"per-pair {c1_lavis / n:.3f} s/pair ({c1_lavis / c1_batch:.1f}x); "
              f"{N_PAIRS_TARGET} pairs on one core: {c1_batch / n * N_PAIRS_TARGET:.0f} s")
    print(f"\nmax relative difference of vista's maps vs the per-pair maps: {diff:.1e}")
    print("On a machine whose cores are shared with other jobs, torch's threads wait for "
          "each other at every parallel op, so 2 threads can be slower than 1; on unshared "
          "cores the 1-thread time bounds the 2-thread time from above.")


_CHILD = r"""
import json, resource, sys, time
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[2]))
from vista.explain import load_explainer

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

ex = load_explainer("blip-itm-large", weights=sys.argv[1], device="cpu")
after_load = hwm()
image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
texts = json.loads(sys.argv[3])
t0 = time.perf_counter()
for _ in range(2):
    ex.explain(image, texts)
dt = (time.perf_counter() - t0) / 2
print(json.dumps({"after_load_gb": after_load, "peak_gb": hwm(),
                  "ru_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                  "s_per_image": dt}))
"""


def bench_large(args: argparse.Namespace) -> None:
    texts = SEGMENTS[: args.segments]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_folder(Path(tmp), large=True)
        print(f"\nbuilt and saved random blip-itm-large in {time.perf_counter() - t0:.1f} s")
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, tmp, str(args.threads[0]), json.dumps(texts)],
            capture_output=True, text=True, check=False,
        )
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit("the blip-itm-large child process failed")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # The peak is the child's VmHWM (/proc/self/status). Its ru_maxrss is printed
    # too, but Linux folds the pre-exec peak of the forked copy of this (parent)
    # process into it, so after the base benchmark it reports the parent's size.
    print(f"blip-itm-large, float32, {len(texts)} segments, {args.threads[0]} threads, "
          "in a fresh process (peak RSS = VmHWM):")
    print(f"  peak RSS after load_explainer: {res['after_load_gb']:.2f} GB (the safetensors "
          "weights are memory-mapped and paged in on first use)")
    print(f"  peak RSS after two explain calls: {res['peak_gb']:.2f} GB "
          f"(ru_maxrss {res['ru_maxrss_gb']:.2f} GB, which includes the parent's size at fork)")
    print(f"  {res['s_per_image']:.2f} s per image = {res['s_per_image'] / len(texts):.3f} s/pair")
    print(f"  target < 2.5 GB -> {'met' if res['peak_gb'] < 2.5 else 'NOT met'}")


def _bert_tokenizer(folder: Path, extra: bool = False) -> Any:
    from transformers import BertTokenizer

    words = sorted({w for s in SEGMENTS for w in s.split()})
    filler = [f"tok{i}" for i in range(30522 - len(SPECIALS) - len(words))]
    vocab = {t: i for i, t in enumerate([*SPECIALS, *words, *filler])}
    tok = BertTokenizer(vocab=vocab, model_max_length=512)
    if extra:
        tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    tok.save_pretrained(folder)
    return tok


def _clip_tokenizer(folder: Path) -> Any:
    """A CLIP BPE tokenizer whose merges make every word of ``SEGMENTS`` one token, as
    the real 49,408-entry vocabulary does for such common words: texts get their real
    length (about 14 tokens, not one token per letter)."""
    import string

    import transformers

    chars = [*string.ascii_lowercase]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    merges: list[str] = []
    for token in [*chars, *(c + "</w>" for c in chars)]:
        vocab[token] = len(vocab)
    for word in sorted({w for s in SEGMENTS for w in s.split()}, key=lambda w: (-len(w), w)):
        pieces = [*word[:-1], word[-1] + "</w>"]
        head = pieces[0]
        for piece in pieces[1:]:
            merges.append(f"{head} {piece}")
            head += piece
            vocab.setdefault(head, len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges))
                                       + "\n", encoding="utf-8")
    tok = transformers.CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    tok.save_pretrained(folder)
    return tok


def _processor(kind: str, size: int, mean: list[float], std: list[float]) -> Any:
    import transformers

    names = {"clip": "CLIPImageProcessor", "vit": "ViTImageProcessor",
             "vilt": "ViltImageProcessor"}
    cls = getattr(transformers, names[kind] + "Pil", None) or getattr(transformers, names[kind])
    common: dict[str, Any] = {"image_mean": mean, "image_std": std}
    if kind == "clip":
        return cls(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                   **common)
    if kind == "vilt":
        return cls(size={"shortest_edge": size}, size_divisor=32, **common)
    return cls(size={"height": size, "width": size}, **common)


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build_family(family: str, folder: Path, *, patch: int = 16) -> Path:
    """A full-size random model of ``family`` saved as its real weights are."""
    import torch
    import transformers

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    if family == "blip-itm-base":
        return build_folder(folder, large=False)
    if family == "clip":
        tok = _clip_tokenizer(folder)
        cfg = transformers.CLIPConfig(
            text_config={"vocab_size": 49408, "initializer_range": 0.02},
            vision_config={"patch_size": patch, "initializer_range": 0.02}, projection_dim=512)
        transformers.CLIPModel(cfg).save_pretrained(folder)
        _processor("clip", 224, CLIP_MEAN, CLIP_STD).save_pretrained(folder)
        del tok
        return folder
    if family == "clipseg":
        _clip_tokenizer(folder)
        cfg = transformers.CLIPSegConfig(
            text_config={"vocab_size": 49408}, vision_config={"image_size": 352, "patch_size": 16},
            use_complex_transposed_convolution=True)
        transformers.CLIPSegForImageSegmentation(cfg).save_pretrained(folder)
        _processor("vit", 352, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]).save_pretrained(folder)
        return folder
    if family == "vilt":
        tok = _bert_tokenizer(folder)
        cfg = transformers.ViltConfig(vocab_size=len(tok), initializer_range=0.02)
        transformers.ViltForImageAndTextRetrieval(cfg).save_pretrained(folder)
        _processor("vilt", 384, [0.5] * 3, [0.5] * 3).save_pretrained(folder)
        return folder
    if family == "albef":
        from vista.explain.albef_model import build_albef

        tok = _bert_tokenizer(folder)
        cfg = {"vision_width": 768, "vision_depth": 12, "vision_mlp": 3072, "patch_size": 16,
               "image_size": 384, "text_width": 768, "vocab_size": len(tok), "text_layers": 12,
               "fusion_layer": 6, "text_mlp": 3072, "max_positions": 512, "type_vocab": 2,
               "encoder_width": 768, "embed_dim": 256}
        model = build_albef(cfg, text_heads=12, vision_heads=12)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.02) if p.ndim > 1 else p.zero_()
            for module in model.modules():  # layer norms' gains 1: 0 would flatten every state
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight.fill_(1.0)
            model.temp.fill_(0.07)
        torch.save({"model": model.state_dict()}, folder / "albef.pth")
        return folder
    raise ValueError(f"no benchmark model for {family!r}")


RECIPE_FAMILIES = ("blip-itm-base", "albef", "clip", "vilt", "clipseg")


def bench_recipes(args: argparse.Namespace) -> None:
    import torch

    from vista.explain import catalog, load_explainer, recipes

    own = {catalog.LAVIS_ITM, catalog.LAVIS_NOTEBOOK, catalog.ALBEF_GROUNDING,
           catalog.ALBEF_NOTEBOOK, catalog.CHEFER_CLIP, catalog.VILT_DEMO,
           catalog.CLIPSEG_QUICKSTART, catalog.VISTA_01}
    texts = SEGMENTS[: args.segments]
    image = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    torch.set_num_threads(args.threads[0])
    print(f"\nrecipes: one 480 x 640 image, {len(texts)} segments a call, {args.threads[0]} "
          f"torch threads, median of {args.repeats} runs after a warm-up; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'family:recipe':<30} {'weights':<8} {'wall s':>7} {'CPU s':>7} "
          f"{'CPU vs vista-0.1':>17}")
    for family in args.families:
        with tempfile.TemporaryDirectory() as tmp:
            folders = {"": build_family(family, Path(tmp) / "model")}
            if family == "clip":
                folders["patch32"] = build_family(family, Path(tmp) / "b32", patch=32)
            base = None
            names = [r.name for r in recipes(family) if r.reference in own]
            for name in ["vista-0.1", *[n for n in names if n != "vista-0.1"]]:
                recipe = next(r for r in recipes(family) if r.name == name)
                arch = "patch32" if recipe.weights and "patch32" in recipe.weights else ""
                extra = {"vision_heads": 12} if family == "albef" else {}
                ex = load_explainer(family, recipe=name, weights=str(folders[arch]),
                                    device="cpu", **extra)
                t, c, _ = timed(lambda ex=ex: ex.explain(image, texts),
                                lambda ex=ex: ex.explain(image, texts[:1]), args.repeats)
                base = c if name == "vista-0.1" else base
                label = arch or ("B/16" if family == "clip" else "")
                print(f"{family + ':' + name:<30} {label:<8} {t:>7.2f} {c:>7.2f} "
                      f"{c / base:>16.2f}x", flush=True)
                del ex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1],
                        help="torch thread counts to measure, each in turn (default: 2 1)")
    parser.add_argument("--segments", type=int, default=5,
                        help="segments of one image, 1-5 (default 5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs after one warm-up (default 3)")
    parser.add_argument("--large", action="store_true",
                        help="also measure peak RSS of blip-itm-large (subprocess)")
    parser.add_argument("--large-only", action="store_true",
                        help="only the blip-itm-large memory measurement")
    parser.add_argument("--recipes", action="store_true",
                        help="time every recipe against its family's vista-0.1 (only this)")
    parser.add_argument("--families", nargs="+", default=list(RECIPE_FAMILIES),
                        choices=RECIPE_FAMILIES, help="families for --recipes (default: all)")
    args = parser.parse_args()
    if args.recipes:
        bench_recipes(args)
        return
    if not 1 <= args.segments <= len(SEGMENTS):
        parser.error(f"--segments must be in 1..{len(SEGMENTS)}")
    if not args.large_only:
        bench_base(args)
    if args.large or args.large_only:
        bench_large(args)


if __name__ == "__main__":
    main()
