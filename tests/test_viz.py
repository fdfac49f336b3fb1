"""vista.viz: figures return a Figure, draw into a given Axes, never mutate inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="the viz extra (matplotlib) is not installed")

from matplotlib.figure import Figure

from vista.viz import image_panel, leaderboard, overlay, save_figure, triplet_figure

pytestmark = pytest.mark.viz

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 255, (30, 40, 3), dtype=np.uint8)
HUMAN = RNG.random((30, 40))
MODEL = RNG.random((30, 40))


def _summary(means: dict[str, float], *, metric: str = "ncc", higher: bool = True,
             synthetic: bool = False) -> dict[str, Any]:
    return {
        "dataset": {"name": "toy", "n_scored": 10, "synthetic": synthetic},
        "bootstrap": {"confidence": 0.95},
        "metrics": {metric: {"higher_is_better": higher}},
        "results": {m: {metric: {"mean": v, "low": v - 0.1, "high": v + 0.05}}
                    for m, v in means.items()},
    }


def test_overlay_new_figure_and_given_axes() -> None:
    img, sal = IMAGE.copy(), MODEL.copy()
    fig = overlay(img, sal, title="a cat")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert fig.axes[0].get_title() == "a cat"
    np.testing.assert_array_equal(img, IMAGE)
    np.testing.assert_array_equal(sal, MODEL)
    host = Figure()
    axes = host.subplots(1, 2)
    assert overlay(img, sal, ax=axes[1]) is host
    assert len(axes[1].images) == 1 and len(axes[0].images) == 0  # one blended image


def test_overlay_alpha_follows_the_map() -> None:
    """The map's peak is blended at opacity alpha, its floor leaves the image as it is:
    the "over" operator written out here, pixel by pixel."""
    import matplotlib

    sal = np.zeros((30, 40))
    sal[10, 10] = 1.0
    sal[20, 5] = 0.25
    fig = overlay(IMAGE, sal, alpha=0.6)
    rgb = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(rgb[0, 0], IMAGE[0, 0])
    for (y, x), value in (((10, 10), 1.0), ((20, 5), 0.25)):
        colour = np.array(matplotlib.colormaps["jet"](value)[:3])
        a = 0.6 * np.sqrt(value)
        want = (IMAGE[y, x] / 255.0 * (1 - a) + colour * a) * 255.0
        np.testing.assert_allclose(rgb[y, x], want, atol=1.0)
    const = overlay(IMAGE, np.ones((30, 40)))
    assert any("constant map" in t.get_text() for t in const.axes[0].texts)


@pytest.mark.parametrize("kwargs, error, message", [
    pytest.param({"saliency": np.ones((3, 3))}, ValueError, "on the image grid", id="shape"),
    pytest.param({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]", id="alpha"),
    pytest.param({"cmap": "nope"}, ValueError, "cmap must be a matplotlib colormap", id="cmap"),
])
def test_overlay_errors(kwargs: dict[str, Any], error: type, message: str) -> None:
    args: dict[str, Any] = {"saliency": MODEL, **kwargs}
    with pytest.raises(error, match=message):
        overlay(IMAGE, **args)


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_triplet_figure_layout() -> None:
    """One Axes for the whole figure, one blended image per panel, left to right."""
    fig = triplet_figure(IMAGE, HUMAN, {"center": MODEL, "blip": None}, text="a red car",
                         scores={"center": {"ncc": 0.25, "auc_borji": 0.7}})
    assert len(fig.axes) == 1
    texts = _texts(fig)
    assert "\u201ca red car\u201d" in texts
    assert texts[1:5] == ["image", "human", "center\nNCC 0.25  AUC-Borji 0.70", "blip\n(no map)"]
    images = fig.axes[0].images
    assert len(images) == 4
    lefts = [im.get_extent()[0] for im in images]
    assert lefts == sorted(lefts)
    np.testing.assert_array_equal(images[0].get_array(), IMAGE)  # the image panel, as is


def test_image_panel_one_row_per_segment() -> None:
    rows = [{"text": f"segment {i}", "human": HUMAN, "maps": {"center": MODEL, "uniform": MODEL}}
            for i in range(3)]
    fig = image_panel(IMAGE, rows, title="toy")
    assert len(fig.axes) == 1 and len(fig.axes[0].images) == 9
    texts = _texts(fig)
    assert texts[0] == "toy"
    assert [t for t in texts if t.startswith("segment")] == [f"segment {i}" for i in range(3)]
    assert texts.count("human") == 1 and texts.count("center") == 1  # headers on row one
    tops = sorted({im.get_extent()[3] for im in fig.axes[0].images})
    assert len(tops) == 3  # three rows
    with pytest.raises(ValueError, match="at least one segment"):
        image_panel(IMAGE, [])


def test_leaderboard_order_and_labels() -> None:
    fig = leaderboard(_summary({"a": 0.1, "b": 0.4, "c": float("nan")}, synthetic=True))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # best first, at the top (largest y)
    ys = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert ys["b"] > ys["a"] > ys["c"] and set(labels) == {"a", "b", "c"}
    assert "SYNTHETIC" in ax.get_title()
    assert any("undefined" in t.get_text() for t in ax.texts)
    low = leaderboard(_summary({"a": 0.1, "b": 0.4}, metric="kld", higher=False), metric="kld")
    ys = {t.get_text(): t.get_position()[1] for t in low.axes[0].get_yticklabels()}
    assert ys["a"] > ys["b"]  # lower is better for KLD
    assert "lower is better" in low.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="metric must be one of"):
        leaderboard(_summary({"a": 0.1}), metric="nss")


def test_save_figure_formats(tmp_path: Path) -> None:
    from PIL import Image

    paths = save_figure(overlay(IMAGE, MODEL), tmp_path / "sub" / "fig", formats=("png", "pdf"),
                        dpi=50)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["fig.pdf", "fig.png"]
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    with Image.open(paths[0]) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 10  # not blank
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, vista.viz, vista.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_figures_of_images_sharing_a_file_name(tmp_path: Path) -> None:
    """Two images with the same file name in different folders get one figure each:
    neither overwrites the other's."""
    from PIL import Image

    from vista.dataset import DatasetWriter
    from vista.runfigures import save_run_figures
    from vista.scoring import score

    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "ds", name="same-names") as w:
        for folder in ("p1", "p2"):
            src = tmp_path / folder / "scene.png"
            src.parent.mkdir()
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(src)
            rel = w.add_image(src, name=f"{folder}/scene.png")
            m = rng.random((12, 16)).astype(np.float32)
            w.add(f"{folder}-t", image=rel, text="the scene", human_map=m / m.sum())
    score(tmp_path / "ds", ["center"], out=tmp_path / "run", n_boot=20)
    written = save_run_figures(tmp_path / "run", leaderboards=False, formats=["png"])
    assert len(set(written)) == 2 == len(written)


def test_leaderboard_names_each_models_n_when_they_differ() -> None:
    """A model scored on fewer triplets (e.g. the observers ceiling, which skips images
    with one observer) shows its own n: the title's n is the dataset's."""
    summary = _summary({"a": 0.1, "observers": 0.4})
    summary["results"]["a"]["ncc"]["n"] = 10
    summary["results"]["observers"]["ncc"]["n"] = 6
    labels = [t.get_text() for t in leaderboard(summary).axes[0].get_yticklabels()]
    assert set(labels) == {"a (n = 10)", "observers (n = 6)"}
    same = _summary({"a": 0.1, "b": 0.4})
    for r in same["results"].values():
        r["ncc"]["n"] = 10
    assert {t.get_text() for t in leaderboard(same).axes[0].get_yticklabels()} == {"a", "b"}


def _tasks() -> list[Any]:
    from vista.runfigures import FigureTask

    rows = [{"text": "a", "human": HUMAN, "maps": {"m": MODEL}}]
    return [FigureTask("image", f"f{k}", ("png",), 60, {"image": IMAGE, "rows": rows,
                                                         "title": f"figure {k}"})
            for k in range(3)] + [FigureTask("leaderboard", "lb", ("png", "svg"), 60,
                                             {"summary": _summary({"a": 0.1, "b": 0.2})})]


@pytest.mark.parametrize("with_thread", [False, True], ids=["fork", "threaded-parent"])
def test_workers_draw_what_one_process_draws(with_thread: bool) -> None:
    """Figures drawn by worker processes are byte for byte the ones drawn here, in
    order; a parent running threads (a notebook kernel) gets a fork server instead of
    fork."""
    import threading

    from vista.runfigures import render

    serial = [(t.name, files) for t, files in render(_tasks(), jobs=1)]
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    if with_thread:
        thread.start()
    try:
        parallel = [(t.name, files) for t, files in render(_tasks(), jobs=2)]
    finally:
        stop.set()
    assert [n for n, _ in parallel] == ["f0", "f1", "f2", "lb"]
    for (_, a), (_, b) in zip(serial, parallel, strict=True):
        assert a["png"] == b["png"]
    with pytest.raises(ValueError, match="jobs must be from 1 to 256"):
        list(render(_tasks(), jobs=0))


def _unfilter(raw: bytes, width: int, height: int, channels: int) -> np.ndarray:
    """The rows of a PNG-predicted stream (PDF /Predictor 10), un-filtered by hand: the
    PNG specification's filters 0-4 (None, Sub, Up, Average, Paeth)."""
    stride = width * channels
    out = np.zeros((height, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        row = np.zeros(stride, np.int32)
        for x in range(stride):
            a = row[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[x] = (line[x] + pred) % 256
        out[y], prev = row, row
    return out.reshape(height, width, channels).astype(np.uint8)


def _pdf_images(pdf: bytes) -> list[np.ndarray]:
    import re
    import zlib

    out = []
    for head, data in re.findall(rb"/Subtype /Image(.*?)stream\n(.*?)\nendstream", pdf, re.S):
        w = int(re.search(rb"/Width (\d+)", head).group(1))  # type: ignore[union-attr]
        h = int(re.search(rb"/Height (\d+)", head).group(1))  # type: ignore[union-attr]
        out.append(_unfilter(zlib.decompress(data), w, h, 3))
    return out


def test_pdf_embeds_each_panel_once_at_its_own_resolution() -> None:
    """The PDF holds one image per panel, at the image's own size, whose decoded pixels
    are the blended panel exactly (PDF stores rows bottom-up) and the same as
    matplotlib's own PNG encoder gives; the PNG carries vista as its Creator."""
    import io

    from PIL import Image

    from vista.viz import composite, encode_formats

    fig = triplet_figure(IMAGE, HUMAN, {"m": MODEL}, text="a cat", panel_size=1.0)
    files = encode_formats(fig, ["pdf", "png"], dpi=100)
    got = _pdf_images(files["pdf"])
    assert len(got) == 3 and all(g.shape == IMAGE.shape for g in got)
    want = [composite(IMAGE, m) for m in (None, HUMAN, MODEL)]
    for g, x in zip(got, want, strict=True):
        np.testing.assert_array_equal(g[::-1], x)
    plain = io.BytesIO()
    for im in fig.axes[0].images:
        im.set_interpolation("none")  # as encode_formats embeds them
    fig.savefig(plain, format="pdf", dpi=100)  # matplotlib's own encoder, Pillow level 6
    for g, x in zip(got, _pdf_images(plain.getvalue()), strict=True):
        np.testing.assert_array_equal(g, x)
    with Image.open(io.BytesIO(files["png"])) as im:
        assert im.info["Creator"].startswith("vista ") and im.mode == "RGB"
        assert np.asarray(im).std() > 10
