"""The example third-party method package (``examples/plugin_method``): registered
through its function, and found through the ``vista.plugins`` entry point."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
pytest.importorskip("transformers", reason="needs the explain extra (transformers)")

from explain_fixtures import tiny_image  # noqa: E402
from explain_fixtures_methods import (  # noqa: E402
    check_method,
    clip_folder,
    one_torch_thread,
)

import vista._registry as registry_module  # noqa: E402
from vista.explain import load_explainer  # noqa: E402
from vista.explain.registry import METHODS, method_names  # noqa: E402

pytestmark = pytest.mark.explain
__all__ = ["one_torch_thread"]  # the autouse fixture, imported to apply here

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin_method"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import vista_method_example

    yield vista_method_example
    METHODS.remove("gradnorm")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_folder(tmp_path_factory.mktemp("plugin-clip"))


def test_registered_by_its_function_and_explains(example: Any, folder: Path) -> None:
    example.register()
    assert "gradnorm" in method_names("clip") and "gradnorm" in method_names("siglip")
    explainer = load_explainer("clip", method="gradnorm", weights=str(folder), device="cpu")
    check_method(explainer, ["the cat", "a dog"], "similarity")
    maps = explainer.explain(tiny_image(), ["the cat", "a dog"])
    assert np.abs(maps[0].values - maps[1].values).max() > 0
    assert maps[0].params["method"] == "gradnorm"
    with pytest.raises(ValueError, match="does not support clipseg"):
        load_explainer("clipseg", method="gradnorm", weights=str(folder), device="cpu")


def test_found_through_the_entry_point(example: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_plugins`` loads the entry point that the example's pyproject.toml
    declares (installed metadata replaced by that one entry)."""
    text = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points."vista.plugins"]' in text
    assert 'gradnorm = "vista_method_example:register"' in text
    point = EntryPoint(name="gradnorm", value="vista_method_example:register",
                       group=registry_module.PLUGIN_GROUP)

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [point] if group == registry_module.PLUGIN_GROUP else []

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    monkeypatch.setattr(registry_module, "_plugins_loaded", False)
    monkeypatch.setattr(registry_module, "_plugin_errors", {})
    assert "gradnorm" not in METHODS._entries
    METHODS.get("gradnorm")  # an unknown name loads the plugins once, then finds it
    assert METHODS.get("gradnorm").families == ("clip", "siglip")
    assert registry_module.load_plugins() == {}


def test_installed_package_is_found(tmp_path: Path) -> None:
    """``pip install`` of a copy of the example (no network, no dependencies) and a
    fresh interpreter that sees only its installed metadata finds the method."""
    import shutil
    import subprocess
    import sys

    source = shutil.copytree(EXAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(target),
                          str(source)], capture_output=True, text=True, timeout=120)
    if pip.returncode != 0:
        pytest.skip(f"pip could not build the example offline: {pip.stderr.strip()[-200:]}")
    code = ("from vista.explain.registry import METHODS; "
            "print(METHODS.get('gradnorm').families)")
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('clip', 'siglip')"
