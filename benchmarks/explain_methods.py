"""Seconds per image-text pair of every explanation method on full-size models with
random weights, and the ratio to the family's default method measured in the same run.

    python benchmarks/explain_methods.py                       # clip, siglip, blip-itm-base
    python benchmarks/explain_methods.py --families clip --captum   # + the captum methods
    python benchmarks/explain_methods.py --families blip2-itm  # ViT-g: ~5 GB of weights

Models (the architectures of the released checkpoints, random weights, saved with
``save_pretrained`` to a temporary folder and loaded through ``load_explainer``, the
path real weights take):

- ``clip``: ViT-B/16 at 224 px, the 12-layer 512-wide text tower
  (openai/clip-vit-base-patch16);
- ``siglip``: google/siglip-base-patch16-224 (``SiglipConfig()``'s defaults);
- ``blip-itm-base``: the config of ``benchmarks/explain.py`` (ViT-B/16 at 384 px);
- ``blip2-itm``: ``Blip2Config()``'s defaults (ViT-g/14 at 224 px, 39 blocks; a
  12-layer Q-Former, 32 queries), as Salesforce/blip2-itm-vit-g.

Init scales: every weight matrix is drawn N(0, 1/fan_in) and every LayerNorm set to
(1, 0), so activations and gradients keep a trained network's order of magnitude
(transformers' 1e-10 BLIP vision init drives the backward pass into denormals;
see ``benchmarks/explain.py``).

Each row is one ``explain(image, texts)`` call with ``--segments`` texts (median
of ``--repeats`` calls after one warm-up); s/pair is that time divided by the number
of texts. The family's default method is timed first and again last, and the faster
of the two is the baseline of the ratios (load changes during a run). captum rows use captum's defaults as vista records them (50 steps for
IntegratedGradients, 16 samples for GradientShap, one patch-size window for
Occlusion, 50 superpixels for FeatureAblation, 10 samples for NoiseTunnel).
The load average is printed: on shared cores wall times grow with it.
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
from explain import SEGMENTS, SPECIALS, blip_config

METHODS = {
    "clip": ["legrad", "gradeclip", "gem", "rollout", "relevance"],
    "siglip": ["legrad", "gradeclip", "rollout"],
    "blip-itm-base": ["bimodal"],
    "blip2-itm": [],
}
CAPTUM = ["captum:Saliency", "captum:InputXGradient", "captum:IntegratedGradients",
          "captum:GradientShap", "captum:NoiseTunnel:Saliency", "captum:Occlusion",
          "captum:FeatureAblation"]


def realistic_init(model: Any, seed: int = 0) -> Any:
    """Weight matrices N(0, 1/fan_in), LayerNorms (1, 0), in place."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = 1 if "query_tokens" in name or "probe" in name else int(np.prod(p.shape[1:]))
                p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(fan_in))
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm) and module.weight is not None:
                module.weight.fill_(1.0)
                module.bias.zero_()
    return model


def tokenizer(vocab_size: int) -> Any:
    """A BERT WordPiece tokenizer over the segments' words, ``vocab_size`` ids."""
    from transformers import BertTokenizer

    words = sorted({w for s in SEGMENTS for w in s.split()})
    filler = [f"tok{i}" for i in range(vocab_size - len(SPECIALS) - len(words) - 2)]
    vocab = {t: i for i, t in enumerate([*SPECIALS, *words, *filler])}
    tok = BertTokenizer(vocab=vocab, model_max_length=512)
    tok.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})
    return tok


def build(family: str, folder: Path) -> Path:
    """The family's full-size random model, its tokenizer and image processor."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    if family == "clip":
        model = tf.CLIPModel(tf.CLIPConfig(vision_config={"patch_size": 16}))
        proc: Any = tf.CLIPImageProcessorPil(size={"shortest_edge": 224},
                                             crop_size={"height": 224, "width": 224})
        tok = tokenizer(model.config.text_config.vocab_size)
        tok.model_max_length = 77
    elif family == "siglip":
        model = tf.SiglipModel(tf.SiglipConfig())
        proc = tf.SiglipImageProcessorPil(size={"height": 224, "width": 224})
        tok = tokenizer(model.config.text_config.vocab_size)
    elif family == "blip-itm-base":
        model = tf.BlipForImageTextRetrieval(blip_config(False))
        proc = tf.BlipImageProcessorPil(size={"height": 384, "width": 384}, image_mean=mean,
                                        image_std=std)
        tok = tokenizer(30522)
    else:
        model = tf.Blip2ForImageTextRetrieval(tf.Blip2Config(
            qformer_config={"use_qformer_text_input": True}))
        proc = tf.BlipImageProcessorPil(size={"height": 224, "width": 224}, image_mean=mean,
                                        image_std=std)
        tok = tokenizer(model.config.qformer_config.vocab_size)
    realistic_init(model)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    proc.save_pretrained(folder)
    return folder


def per_pair(explainer: Any, image: np.ndarray, texts: list[str], repeats: int) -> float:
    explainer.explain(image, texts[:1])  # warm-up
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        explainer.explain(image, texts)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls) / len(texts)


def bench_family(family: str, args: argparse.Namespace, root: Path) -> list[tuple[str, float]]:
    from vista.explain import load_explainer

    folder = build(family, root / family)
    from PIL import Image
    from skimage import data

    # a photograph (SLIC finds superpixels in it; uniform noise would be one segment)
    image = np.asarray(Image.fromarray(data.astronaut()).resize((640, 480)))
    texts = SEGMENTS[: args.segments]
    rows = []
    chosen = args.methods or [*METHODS[family], *(CAPTUM if args.captum else [])]
    methods = [None, *chosen, None]
    for method in methods:
        explainer = load_explainer(family, method=method, weights=str(folder), device="cpu")
        rows.append((explainer.method if method is None else method,
                     per_pair(explainer, image, texts, args.repeats)))
        del explainer
    # the default is measured first and last; the faster of the two is the baseline
    first, last = rows[0], rows.pop()
    rows[0] = (first[0], min(first[1], last[1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["clip", "siglip", "blip-itm-base"],
                        choices=list(METHODS))
    parser.add_argument("--captum", action="store_true", help="add the captum rows (slow)")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="only these methods (and the default), e.g. captum:FeatureAblation")
    parser.add_argument("--segments", type=int, default=3, help="texts per call (default 3)")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls (default 2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: steadier on shared cores)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"threads {args.threads}, {args.segments} texts a call, load {os.getloadavg()}")
    print(f"{'family':<15}{'method':<30}{'s/pair':>9}{'x default':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            rows = bench_family(family, args, Path(tmp))
            base = rows[0][1]
            for i, (method, seconds) in enumerate(rows):
                label = f"{method} (default)" if i == 0 else method
                print(f"{family:<15}{label:<30}{seconds:>9.2f}{seconds / base:>11.1f}", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
