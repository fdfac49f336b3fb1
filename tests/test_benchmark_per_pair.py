"""``benchmarks/per_pair.py``: the reference per-pair ways that ``explain_all.py``
times vista against run on tiny models, and the pytorch-grad-cam port makes vista's
``clip:gradcam`` map."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
pytest.importorskip("transformers", reason="needs the explain extra (transformers)")
pytest.importorskip("cv2", reason="the pytorch-grad-cam port resizes with OpenCV")

from explain_fixtures import clip_folder, clipseg_folder, tiny_image, vilt_folder  # noqa: E402
from explain_references import assert_close_in_range  # noqa: E402

from vista.explain import load_explainer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import per_pair  # noqa: E402

pytestmark = pytest.mark.explain

TEXTS = ["the cat", "a dog on the mat"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("per-pair")
    return {"clip": clip_folder(root / "clip"),
            "clipseg": clipseg_folder(root / "clipseg", refined=True),
            "vilt": vilt_folder(root / "vilt")}


def test_grad_cam_port_makes_vistas_clip_gradcam_map(folders: dict[str, Path]) -> None:
    ex = load_explainer("clip", weights=str(folders["clip"]), device="cpu", recipe="gradcam")
    image = tiny_image(40, 56)
    pixels, _ = ex._pixels(image)
    ours, _ = ex._explain_batch(image, TEXTS)
    ex.model.requires_grad_(True)
    try:
        for text, mine in zip(TEXTS, ours, strict=True):
            got = per_pair._grad_cam(ex, pixels, text)
            mine = np.asarray(mine, np.float64)
            assert np.ptp(mine) > 0
            assert_close_in_range(got, (mine - mine.min()) / mine.max(), rel=1e-4)
    finally:
        ex.model.requires_grad_(False)


@pytest.mark.parametrize(("family", "recipe", "options", "way"), [
    ("clip", "gradcam", {}, "clip_gradcam"),
    ("clip", "chefer", {}, "clip_chefer"),
    ("clipseg", "rd64-refined", {}, "clipseg_sigmoid"),
    ("vilt", "ipot", {}, "vilt_ipot"),
    ("clip", "relevance", {}, None),
    ("clip", "gradcam", {"block": 0}, None),
])
def test_each_row_gets_its_reference_way_and_it_runs(
        folders: dict[str, Path], family: str, recipe: str, options: dict[str, Any],
        way: str | None) -> None:
    ex = load_explainer(family, weights=str(folders[family]), device="cpu", recipe=recipe,
                        **options)
    found = per_pair.per_pair_way(family, ex)
    if way is None:
        assert found is None
        return
    assert found is not None and found[0] is getattr(per_pair, way)
    ex.model.requires_grad_(True)
    try:
        found[0](ex, tiny_image(40, 56), TEXTS)
    finally:
        ex.model.requires_grad_(False)
