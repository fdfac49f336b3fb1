"""Small datasets and runs built on the fly for the dataset, figure and report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vista.dataset import DatasetWriter


def small_dataset(root: Path, *, observers: int = 1, size: tuple[int, int] = (12, 16)) -> Path:
    """Three random images, two segments each (one per observer), maps with one peak
    plus a floor, and their fixations; returns the dataset folder ``root/ds``."""
    from PIL import Image

    img_dir = root / "src"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    h, w = size
    with DatasetWriter(root / "ds", name="small") as writer:
        for i in range(3):
            path = img_dir / f"img{i}.png"
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
            rel = writer.add_image(path)
            for k in range(2):
                for o in range(observers):
                    m = np.zeros((h, w), np.float32)
                    m[2 + 3 * k + o, 3 + 4 * i] = 1.0
                    m = m + 0.01
                    fix = np.array([[3.0 + 4 * i, 2.0 + 3 * k + o, 250.0]])
                    writer.add(f"i{i}-s{k}" + (f"-o{o}" if observers > 1 else ""), image=rel,
                               text=f"thing {k}", human_map=m / m.sum(), fixations=fix,
                               meta={"observer": f"P{o}"})
    return root / "ds"
