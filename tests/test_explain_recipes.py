"""Recipes across families: what every map records, batched equals one text at a
time for every recipe, and the one-line errors that list the valid names. Each
recipe's agreement with its reference file is tested in the family's test module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
pytest.importorskip("transformers", reason="the explain extra (transformers) is not installed")

from explain_fixtures import (
    albef_checkpoint,
    blip_folder,
    clip_folder,
    clipseg_folder,
    tiny_image,
    vilt_folder,
)

from vista.explain import load_explainer, recipe_names, recipes
from vista.explain.registry import explainer_spec

pytestmark = pytest.mark.explain

#: The built-in recipes (other modules may add more to the same families).
BUILTIN = {
    "blip-itm-base": ("lavis", "lavis-notebook", "vista-0.1"),
    "blip-itm-large": ("lavis", "lavis-notebook", "vista-0.1"),
    "albef": ("grounding", "grounding-itc", "notebook", "vista-0.1"),
    "clip": ("chefer", "chefer-pad", "gradcam", "relevance", "vista-0.1"),
    "vilt": ("ipot", "gradcam", "vista-0.1"),
    "clipseg": ("rd64", "rd64-refined", "rd16", "vista-0.1"),
    "clipseg-rd16": ("rd16", "vista-0.1"),
}
DEFAULTS = {"blip-itm-base": "lavis", "blip-itm-large": "lavis", "albef": "grounding",
            "clip": "chefer", "vilt": "ipot", "clipseg": "rd64-refined", "clipseg-rd16": "rd16"}
TEXTS = ["a cat sits on the mat", "the red dog", "a man near a big tree"]
CASES = [pytest.param(f, r, id=f"{f}:{r}") for f, names in BUILTIN.items() for r in names]
EXTRA: dict[str, dict[str, Any]] = {"albef": {"vision_heads": 3}}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    mk = tmp_path_factory.mktemp
    blip = blip_folder(mk("blip"))
    return {"blip-itm-base": blip, "blip-itm-large": blip,
            "albef": albef_checkpoint(mk("albef")), "clip": clip_folder(mk("clip")),
            "vilt": vilt_folder(mk("vilt"), 64, init=0.2),
            "clipseg": clipseg_folder(mk("clipseg"), refined=True),
            "clipseg-rd16": clipseg_folder(mk("clipseg16"), refined=False)}


def _load(folders: dict[str, Path], family: str, recipe: str | None = None,
          **overrides: Any) -> Any:
    return load_explainer(family, recipe=recipe, weights=str(folders[family]), device="cpu",
                          **EXTRA.get(family, {}), **overrides)


def test_builtin_recipes_and_defaults() -> None:
    for family, names in BUILTIN.items():
        assert set(names) <= set(recipe_names(family))
        spec = explainer_spec(family)
        assert spec.default_recipe == DEFAULTS[family]
        default = next(r for r in recipes(family) if r.name == spec.default_recipe)
        assert spec.default_method == default.method
        for r in recipes(family):
            if r.name in names:
                assert r.reference and r.function and r.summary


@pytest.mark.parametrize(("family", "recipe"), CASES)
def test_batched_equals_one_at_a_time_and_params(folders: dict[str, Path], family: str,
                                                 recipe: str) -> None:
    """Three texts in one call give each text's map alone (the texts pad each other,
    the image is shared); every map records the recipe, its method and every choice
    it fixed, on a non-square image."""
    ex = _load(folders, family, recipe)
    image = tiny_image(24, 40, seed=3)
    batch = ex.explain(image, TEXTS)
    assert any(np.ptp(m.values) > 0 for m in batch)
    spec = next(r for r in recipes(family) if r.name == recipe)
    for text, m in zip(TEXTS, batch, strict=True):
        (alone,) = ex.explain(image, [text])
        span = max(float(np.ptp(m.values)), 1e-30)
        assert float(np.abs(alone.values - m.values).max()) <= 1e-4 * span
        assert m.values.shape == (24, 40) and np.isfinite(m.values).all()
        assert m.params["recipe"] == recipe and m.params["method"] == spec.method
        assert m.params["overrides"] == EXTRA.get(family, {})
        assert spec.reference in m.params["reference"]
        for key, value in spec.choices().items():
            if key in ("block", "start_block") or key == "weights":
                continue  # recorded resolved (0-based, non-negative) / as the id used
            assert m.params[key] == value, key
        assert "weights_sha256" in m.params or "weights_commit" in m.params


def test_overrides_recorded_and_postprocess_for_any_recipe(folders: dict[str, Path]) -> None:
    ex = _load(folders, "blip-itm-base", "lavis", block=7, postprocess="getattmap")
    m = ex.explain(tiny_image(24, 40), ["a cat"])[0]
    assert m.params["recipe"] == "lavis"
    assert m.params["overrides"] == {"block": 7, "postprocess": "getattmap"}
    assert m.params["block"] == 7 and m.params["postprocess"] == "getattmap"
    assert m.values.min() == 0.0 and m.values.max() == 1.0  # getAttMap's min-max
    notebook = _load(folders, "blip-itm-base", "lavis-notebook").explain(tiny_image(24, 40),
                                                                        ["a cat"])[0]
    np.testing.assert_allclose(m.values, notebook.values, atol=1e-6)


@pytest.mark.parametrize(
    ("family", "kwargs", "message"),
    [
        pytest.param("blip-itm-base", {"recipe": "nope"},
                     r"unknown recipe 'nope' for blip-itm-base; recipes of blip-itm-base: lavis,",
                     id="unknown-recipe"),
        pytest.param("blip-itm-base", {"recipe": "chefer"},
                     r"unknown recipe 'chefer' for blip-itm-base \(a recipe of clip\); recipes",
                     id="wrong-family"),
        pytest.param("blip-itm-base", {"recipe": "lavis", "score": "itc"},
                     r"score='itc' contradicts recipe blip-itm-base:lavis .*; choose another "
                     r"recipe: lavis \(gradcam\)", id="contradicting-override"),
        pytest.param("clip", {"recipe": "chefer", "method": "gradcam"},
                     r"method 'gradcam' contradicts recipe clip:chefer", id="method-vs-recipe"),
        pytest.param("vilt", {"method": "sigmoid"},
                     r"method 'sigmoid' does not support vilt; .* methods for vilt: gradcam, ipot",
                     id="unsupported-method"),
        pytest.param("vilt", {"method": "nope"}, r"unknown method 'nope'; known methods: gradcam",
                     id="unknown-method"),
        pytest.param("clip", {"recipe": "chefer", "blok": 1},
                     r"unknown option\(s\) 'blok' for clip relevance; allowed:",
                     id="unknown-override"),
    ],
)
def test_bad_recipe_input_is_one_line(folders: dict[str, Path], family: str,
                                      kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        _load(folders, family, **kwargs)
    assert "\n" not in str(info.value)


def test_method_alone_picks_the_family_recipe(folders: dict[str, Path]) -> None:
    assert _load(folders, "clip", method="relevance").recipe == "chefer"  # the default's
    assert _load(folders, "clip", method="gradcam").recipe == "gradcam"
    assert _load(folders, "vilt", method="gradcam").recipe == "gradcam"
    assert _load(folders, "clipseg", method="gradcam").recipe == "gradcam"  # method defaults


def test_weights_provenance(folders: dict[str, Path], tmp_path: Path) -> None:
    """A local folder is named by a content hash (which changes with the contents),
    an ALBEF checkpoint by its sha256, a Hub snapshot by its resolved commit."""
    import hashlib
    import shutil

    from vista.explain.weights import weights_provenance

    albef = _load(folders, "albef")
    expected = hashlib.sha256(folders["albef"].read_bytes()).hexdigest()
    assert albef.provenance == {"weights_sha256": expected, "weights_file": "albef_tiny.pth"}
    copy = shutil.copytree(folders["clip"], tmp_path / "clip")
    before = weights_provenance(copy, hub=False)
    assert before == weights_provenance(folders["clip"], hub=False)
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    assert weights_provenance(copy, hub=False) != before
    snapshot = tmp_path / "models--org--m" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    assert weights_provenance(snapshot, hub=True) == {"weights_commit": "0123abcd"}


def test_transformers_floor_checked_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from vista.explain.weights import TRANSFORMERS_FLOOR, require_transformers

    assert TRANSFORMERS_FLOOR == (5, 20)
    monkeypatch.setattr(transformers, "__version__", "4.57.1")
    with pytest.raises(ImportError, match=r"need transformers>=5\.20; found 4\.57\.1: pip install"):
        require_transformers()
    with pytest.raises(ImportError, match=r"transformers>=5\.20"):
        load_explainer("clip", weights="/nonexistent", device="cpu")
