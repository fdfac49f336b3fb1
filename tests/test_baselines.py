"""vista.scoring.baselines and the source registry: centre bias, uniform, external maps,
inter-observer ceiling, and the one parser of row names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vista.records import Triplet
from vista.scoring.baselines import (
    CenterBias,
    External,
    InterObserver,
    Uniform,
    center_bias_map,
    observer_groups,
)
from vista.scoring.sources import parse_row, resolve_source, row_names, source_from_params


def test_center_bias_moments() -> None:
    """Reference: a Gaussian sampled at pixel centres on a grid many sigmas wide has its
    mean at the grid centre and standard deviation sigma (in pixels): here sigma is
    0.1 * H = 20 px vertically and 0.1 * W = 30 px horizontally."""
    m = center_bias_map((200, 300), sigma=0.1).astype(np.float64)
    assert m.sum() == pytest.approx(1.0)
    ys = np.arange(200) + 0.5
    xs = np.arange(300) + 0.5
    py, px = m.sum(axis=1), m.sum(axis=0)
    assert (py * ys).sum() == pytest.approx(100.0)
    assert (px * xs).sum() == pytest.approx(150.0)
    assert np.sqrt((py * (ys - 100) ** 2).sum()) == pytest.approx(20.0, rel=1e-3)
    assert np.sqrt((px * (xs - 150) ** 2).sum()) == pytest.approx(30.0, rel=1e-3)
    np.testing.assert_allclose(m, m[::-1, ::-1], rtol=1e-6)  # symmetric about the centre


def test_center_bias_default_and_dtype() -> None:
    m = center_bias_map((3, 4))
    assert m.dtype == np.float32 and m.shape == (3, 4)
    assert float(m.sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("shape, sigma, message", [
    pytest.param((0, 4), 0.25, "shape must be positive", id="zero-height"),
    pytest.param((4,), 0.25, r"shape must be \(H, W\)", id="one-dim"),
    pytest.param((4, 4), 0.0, "sigma must be a finite number > 0", id="sigma-zero"),
    pytest.param((4, 4), float("nan"), "sigma must be a finite number > 0", id="sigma-nan"),
])
def test_center_bias_errors(shape: Any, sigma: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        center_bias_map(shape, sigma=sigma)


def test_sources_do_not_depend_on_image_content() -> None:
    img = np.random.default_rng(0).integers(0, 255, (6, 9, 3), dtype=np.uint8)
    before = img.copy()
    ts = [Triplet("a", "x.png", "t", "m.npy"), Triplet("b", "x.png", "u", "m.npy")]
    (c1, c2) = CenterBias().maps(img, ["t", "u"], ts)
    (u1, _) = Uniform().maps(img, ["t", "u"], ts)
    np.testing.assert_array_equal(img, before)  # inputs are never mutated
    assert c1.shape == (6, 9) and np.array_equal(c1, c2)
    assert np.all(u1 == np.float32(1 / 54))


def _save_png(path: Path, arr: np.ndarray, mode: str) -> None:
    from PIL import Image

    Image.fromarray(arr).convert(mode).save(path)


def test_external_reads_npy_and_png(tmp_path: Path) -> None:
    np.save(tmp_path / "t1.npy", np.arange(12, dtype=np.float64).reshape(3, 4))
    _save_png(tmp_path / "t2.png", np.arange(12, dtype=np.uint8).reshape(3, 4) * 20, "L")
    _save_png(tmp_path / "t3.png", np.zeros((3, 4, 3), np.uint8), "RGB")
    ext = External(tmp_path)
    assert ext.name == f"external:{tmp_path.name}"
    assert ext.load("t1").dtype == np.float32 and ext.load("t1")[2, 3] == 11
    assert ext.load("t2")[0, 1] == 20
    with pytest.raises(ValueError, match="grayscale PNG"):
        ext.load("t3")
    with pytest.raises(FileNotFoundError, match=r"'t9'.*t9\.npy or \.png"):
        ext.load("t9")
    assert ext.missing(["t1", "t2", "t9", "t8"]) == ["t9", "t8"]
    # another grid is resized onto the image's (vista.imaging.resize_map), and the map
    # says so instead of the source counting it behind the caller's back
    from vista.imaging import resize_map

    maps = ext.maps(np.zeros((6, 8, 3)), ["a"], [Triplet("t1", "x.png", "a", "m.npy")])
    assert maps[0].values.shape == (6, 8) and maps[0].params["resized_from"] == [3, 4]
    np.testing.assert_array_equal(maps[0].values, resize_map(ext.load("t1"), (6, 8)))
    assert "n_resized" not in ext.params


def test_external_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        External(tmp_path / "nope")
    np.save(tmp_path / "bad.npy", np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        External(tmp_path).load("bad")


def _t(tid: str, image: str, text: str, observer: str | None) -> Triplet:
    return Triplet(tid, image, text, f"{tid}.npy", {} if observer is None else
                   {"observer": observer})


def test_observer_groups_modes() -> None:
    ts = [_t("a1", "a.png", "a cat", "P1"), _t("a2", "a.png", "a cat", "P2"),
          _t("a3", "a.png", "the mat", "P3"), _t("b1", "b.png", "a dog", "P1"),
          _t("n1", "a.png", "a cat", None)]

    def ids(groups: dict[str, list[Triplet]]) -> dict[str, list[str]]:
        return {k: [t.triplet_id for t in v] for k, v in groups.items()}

    auto = ids(observer_groups(ts))
    assert auto["a1"] == ["a2"]          # same text from another observer
    assert auto["a3"] == ["a1", "a2"]    # nobody else said it: the image's other observers
    assert auto["b1"] == [] and auto["n1"] == []
    assert ids(observer_groups(ts, by="image+text"))["a3"] == []
    assert ids(observer_groups(ts, by="image"))["a1"] == ["a2", "a3"]
    with pytest.raises(ValueError, match="by must be one of"):
        observer_groups(ts, by="text")


def test_inter_observer_mean_of_others() -> None:
    """Each other observer's map is normalised to sum 1 first, then averaged."""
    maps = {"a1": np.array([[1.0, 0.0], [0.0, 0.0]]), "a2": np.array([[0.0, 4.0], [0.0, 0.0]]),
            "a3": np.array([[0.0, 0.0], [2.0, 0.0]])}

    triplets = [_t(k, "a.png", "a cat", f"P{k[-1]}") for k in maps]

    class DS:
        def __iter__(self) -> Any:
            return iter(triplets)

        def load_map(self, t: Triplet) -> np.ndarray:
            return maps[t.triplet_id]

    src = InterObserver()
    assert src.prepare(DS()) == {}
    (pred,) = src.maps(np.zeros((2, 2, 3)), ["a cat"], [triplets[0]])
    np.testing.assert_allclose(pred, [[0.0, 0.5], [0.5, 0.0]])


@pytest.mark.parametrize("name, message", [
    pytest.param("centre", "model must be one of", id="spelling"),
    pytest.param("external:", "needs a folder", id="no-folder"),
    pytest.param("center/legrad", "takes no recipe", id="baseline-method"),
    pytest.param("clip:/legrad", "recipe after ':'", id="empty-recipe"),
    pytest.param("clip/", "method after '/'", id="empty-method"),
    pytest.param("clip/ legrad", "method after '/'", id="space"),
    pytest.param("clip:no-such-recipe", "unknown recipe 'no-such-recipe' for clip; recipes "
                 "of clip: ", id="unknown-recipe"),
    pytest.param("clip/no-such-method", "unknown method 'no-such-method' for clip",
                 id="unknown-method"),
])
def test_row_name_errors(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_source(name)


@pytest.mark.parametrize("text, name, recipe, method, argument", [
    pytest.param("clip", "clip", None, None, None, id="plain"),
    pytest.param("blip-itm-base:lavis", "blip-itm-base", "lavis", None, None, id="recipe"),
    pytest.param("clip/legrad", "clip", None, "legrad", None, id="method"),
    pytest.param("clip:chefer/legrad", "clip", "chefer", "legrad", None, id="both"),
    pytest.param("clip/captum:IntegratedGradients", "clip", None, "captum:IntegratedGradients",
                 None, id="method-with-colon"),
    pytest.param("external:a/b:c", "external", None, None, "a/b:c", id="external"),
])
def test_row_spelling(text: str, name: str, recipe: str | None, method: str | None,
                      argument: str | None) -> None:
    row = parse_row(text)
    assert (row.name, row.recipe, row.method, row.argument) == (name, recipe, method, argument)


def test_explainer_rows_are_lazy_and_carry_recipe_and_method() -> None:
    """Resolving an explainer row loads nothing; its recipe and method go to
    load_explainer (only when given) and into its label."""
    src = resolve_source("clip:chefer/legrad", weights="/nowhere", device="cpu")
    assert src.name == "clip:chefer/legrad" and src._explainer is None
    assert (src.recipe, src.method, src.weights) == ("chefer", "legrad", "/nowhere")
    assert "clip" in row_names() and "external:DIR" in row_names()
    with pytest.raises(ValueError, match="has no weights"):
        resolve_source("center", weights="/x")


def test_names_and_params_round_trip(tmp_path: Path) -> None:
    for src in (CenterBias(sigma=0.3), Uniform(), InterObserver(by="image"), External(tmp_path)):
        again = source_from_params(src.params)
        assert type(again) is type(src) and again.params == src.params
    assert source_from_params({"model": "clip", "kind": "explainer"}) is None
    with pytest.raises(ValueError, match="do not describe a known row"):
        source_from_params({"model": "nope", "kind": "baseline"})


def test_every_viewer_comparison_reads_the_same_field() -> None:
    """A triplet with both ``participant`` and ``observer`` is the participant's, for the
    human-other groups, the other-text control and the per-participant statistics."""
    from vista.scoring.controls import participant_of, substitutes

    ts = [Triplet("a1", "a.png", "a cat", "m1.npy", {"participant": "P1", "observer": "P2"}),
          Triplet("a2", "a.png", "a cat", "m2.npy", {"participant": "P2", "observer": "P1"}),
          Triplet("a3", "a.png", "a dog", "m3.npy", {"observer": "P1"}),
          Triplet("a4", "a.png", "a cow", "m4.npy", {})]
    assert [t.viewer for t in ts] == ["P1", "P2", "P1", None]
    assert [participant_of(t) for t in ts] == ["P1", "P2", "P1", None]
    groups = {k: [t.triplet_id for t in v] for k, v in observer_groups(ts).items()}
    # a1 (P1) is predicted by P2's triplet, not by a3, which is P1's own
    assert groups == {"a1": ["a2"], "a2": ["a1"], "a3": ["a2"], "a4": []}
    # the other-text control prefers the same viewer: a1's substitute is a3 (P1, other text)
    assert substitutes(ts)["a1"] == "a3"
