"""vista score's own overhead (everything but the model) against a BLIP-ITM-base run.

    python benchmarks/score_overhead.py                      # 8 images of 640x480, 5 texts each
    python benchmarks/score_overhead.py --images 16 --threads 2 --all-metrics

Rows, all measured in the same run on the same dataset:

- ``model``: the full-size BLIP-ITM-base architecture with random weights (the configs
  of Salesforce/blip-itm-base-coco; built by ``benchmarks/explain.py``'s
  ``build_folder``, loaded through ``load_explainer``) explaining each image's texts in
  one call, as ``vista score`` calls it. Loading is timed apart.
- ``vista score, model excluded``: ``vista.scoring.score`` on the same dataset with a
  row that hands back the model's maps computed above (no model work): reading and
  checking the dataset, its content fingerprint, the run folder and its lock, the map
  cache (image hashes, atomic writes of every map), the fsynced journal, the metrics,
  the bootstrap and the summary files.
- ``vista score, end to end``: the real ``blip-itm-base`` row through ``--weights``
  (model loading included), for a check that the two parts add up.

The target (the cluster/speed issue): the overhead is under 5% of the model's time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from explain import SEGMENTS, build_folder  # the sibling benchmark's builder


def make_dataset(root: Path, *, n_images: int, n_texts: int, seed: int = 0) -> Path:
    """``n_images`` random 640×480 photos-like images, ``n_texts`` segments each, with
    smooth human maps and 20 fixations per triplet."""
    from PIL import Image

    from vista.dataset import DatasetWriter

    rng = np.random.default_rng(seed)
    src = root / "src"
    src.mkdir(parents=True)
    yy, xx = np.mgrid[0:480, 0:640]
    with DatasetWriter(root / "ds", name="overhead") as w:
        for i in range(n_images):
            path = src / f"img{i}.png"
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(path)
            rel = w.add_image(path)
            for k in range(n_texts):
                fx, fy = rng.uniform(40, 600, 20), rng.uniform(40, 440, 20)
                m = np.zeros((480, 640))
                for x, y in zip(fx[:5], fy[:5], strict=True):
                    m += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 30.0 ** 2))
                w.add(f"i{i}-s{k}", image=rel, text=SEGMENTS[k % len(SEGMENTS)],
                      human_map=(m / m.sum()).astype(np.float32),
                      fixations=np.column_stack([fx, fy, np.full(20, 250.0)]))
    return root / "ds"


class Replay:
    """A row that hands back maps computed beforehand: no model work at all."""

    cacheable = True

    def __init__(self, maps: dict[tuple[str, str], Any], params: dict[str, Any]) -> None:
        self.name = "blip-itm-base"
        self._maps = maps
        self._params = params

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Any]) -> list[Any]:
        return [self._maps[(t.image_path, t.text)] for t in triplets]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--texts", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--all-metrics", action="store_true",
                    help="all nine metrics instead of the default NCC and AUC-Borji")
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()

    import torch

    from vista.dataset import read_dataset
    from vista.explain import load_explainer
    from vista.scoring import score
    from vista.scoring.sources import ExplainerSource

    torch.set_num_threads(args.threads)
    metrics = (["auc_borji_mit", "auc_judd", "auc_shuffled", "nss", "sim", "kld", "info_gain"]
               if args.all_metrics else [])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_dataset(root, n_images=args.images, n_texts=args.texts)
        weights = str(build_folder(root / "blip", large=False))
        t0 = time.perf_counter()
        ex = load_explainer("blip-itm-base", weights=weights, device="cpu")
        t_load = time.perf_counter() - t0
        ds = read_dataset(data)
        groups: dict[str, list[Any]] = {}
        for t in ds:
            groups.setdefault(t.image_path, []).append(t)
        ex.explain(ds.load_image(ds.triplets[0]), [ds.triplets[0].text])  # warm-up
        maps: dict[tuple[str, str], Any] = {}
        images = {path: ds.load_image(ts[0]) for path, ts in groups.items()}
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        for path, ts in groups.items():  # the model alone: images decoded beforehand
            for t, m in zip(ts, ex.explain(images[path], [t.text for t in ts]), strict=True):
                maps[(path, t.text)] = m
        t_model = time.perf_counter() - t0
        src = ExplainerSource("blip-itm-base", weights=weights, device="cpu")
        src._explainer = ex  # the loaded model: its params, without a second load
        params = src.params
        t0 = time.perf_counter()
        score(data, [Replay(maps, params)], metrics=metrics, out=root / "replay",
              n_boot=args.bootstrap)
        t_overhead = time.perf_counter() - t0
        t0 = time.perf_counter()
        score(data, ["blip-itm-base"], metrics=metrics, out=root / "real", n_boot=args.bootstrap,
              weights=weights, device="cpu")
        t_real = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
    n = args.images * args.texts
    print(f"{args.images} images of 640x480, {args.texts} texts each ({n} pairs), "
          f"{2 + len(metrics)} metrics, {args.bootstrap} bootstrap resamples, "
          f"{args.threads} torch threads; load average {load0:.1f} -> {load1:.1f}")
    print(f"{'row':<38} {'seconds':>8} {'s/pair':>8}")
    for label, secs in (("model load (once)", t_load),
                        ("model: BLIP-ITM-base explain", t_model),
                        ("vista score, model excluded", t_overhead),
                        ("vista score, end to end (load incl.)", t_real)):
        print(f"{label:<38} {secs:8.2f} {secs / n:8.4f}")
    print(f"overhead / model: {100 * t_overhead / t_model:.1f}% (target under 5%)")


if __name__ == "__main__":
    main()
