"""Several images in one call (``explain_many``: micro-batches of images, maps equal to
one-image calls), the ``precision`` option recorded in every map, and the prepared
GPU check run in its CPU mode, on tiny random models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
pytest.importorskip("transformers", reason="the explain extra (transformers) is not installed")

from explain_fixtures import albef_checkpoint, blip_folder, clip_folder, tiny_image

from vista.explain import load_explainer
from vista.explain.batching import micro_batches

pytestmark = pytest.mark.explain

TEXTS = ["a cat sits on the mat", "the red dog", "a man near a big tree"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    mk = tmp_path_factory.mktemp
    return {"blip-itm-base": blip_folder(mk("blip")), "albef": albef_checkpoint(mk("albef")),
            "clip": clip_folder(mk("clip"))}


def _load(folders: dict[str, Path], family: str, **kw: Any) -> Any:
    extra: dict[str, Any] = {"vision_heads": 3} if family == "albef" else {}
    return load_explainer(family, weights=str(folders[family]), device="cpu", **extra, **kw)


def _items() -> list[tuple[np.ndarray, list[str]]]:
    sizes = [(24, 40), (32, 32), (20, 36), (28, 30)]
    return [(tiny_image(h, w, seed=i), TEXTS[: 1 + i % 3]) for i, (h, w) in enumerate(sizes)]


@pytest.mark.parametrize(("family", "recipe"), [("blip-itm-base", "lavis"),
                                                ("blip-itm-base", "lavis-notebook"),
                                                ("albef", "grounding"),
                                                ("albef", "grounding-itc"),
                                                ("clip", "chefer")])
def test_many_images_equal_one_image_calls(folders: dict[str, Path], family: str,
                                           recipe: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Micro-batches of 3 images (4 images of different sizes, 1-3 texts each) give the
    maps and params of one ``explain`` call per image; families that batch images
    really run several in one ``_explain_images`` call."""
    ex = _load(folders, family, recipe=recipe)
    sizes: list[int] = []
    if getattr(ex, "batches_images", False):
        original = ex._explain_images

        def spy(images: list[Any], texts: list[Any]) -> Any:
            sizes.append(len(images))
            return original(images, texts)

        monkeypatch.setattr(ex, "_explain_images", spy)
    items = _items()
    many = ex.explain_many(items, max_images=3)
    expected_sizes = {("blip-itm-base", "lavis"), ("blip-itm-base", "lavis-notebook"),
                      ("albef", "grounding")}
    assert sizes == ([3, 1] if (family, recipe) in expected_sizes else [])
    assert [len(maps) for maps in many] == [len(t) for _, t in items]
    for (image, texts), maps in zip(items, many, strict=True):
        alone = ex.explain(image, texts)
        for a, b in zip(alone, maps, strict=True):
            assert b.values.shape == image.shape[:2]
            span = max(float(np.ptp(a.values)), 1e-30)
            assert float(np.abs(a.values - b.values).max()) <= 1e-4 * span
            for key, value in a.params.items():
                if isinstance(value, float):
                    assert b.params[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
                else:
                    assert b.params[key] == value, key
    assert any(np.ptp(m.values) > 0 for maps in many for m in maps)


def test_micro_batch_sizes() -> None:
    counts = [5, 5, 30, 5, 5]
    assert micro_batches(counts, 0, max_images=8, max_rows=None) == 5
    assert micro_batches(counts, 0, max_images=8, max_rows=10) == 2
    assert micro_batches(counts, 2, max_images=8, max_rows=10) == 1  # never empty
    assert micro_batches(counts, 3, max_images=1, max_rows=None) == 1


def test_explain_many_checks_input(folders: dict[str, Path]) -> None:
    ex = _load(folders, "blip-itm-base")
    with pytest.raises(ValueError, match="max_images"):
        ex.explain_many(_items(), max_images=0)
    with pytest.raises(ValueError, match="image must be"):
        ex.explain_many([(np.zeros((4, 4)), TEXTS)])


def test_precision_recorded_and_close_to_fp32(folders: dict[str, Path]) -> None:
    """Every map records its precision; bf16 (autocast on CPU) stays close to fp32 and
    differs from it (autocast really ran); an unknown precision is one line."""
    image = tiny_image(24, 40, seed=5)
    ref = _load(folders, "blip-itm-base").explain(image, TEXTS)
    low = _load(folders, "blip-itm-base", precision="bf16").explain(image, TEXTS)
    assert {m.params["precision"] for m in ref} == {"fp32"}
    assert {m.params["precision"] for m in low} == {"bf16"}
    diffs = []
    for a, b in zip(ref, low, strict=True):
        r = np.corrcoef(a.values.ravel(), b.values.ravel())[0, 1]
        assert r > 0.9
        diffs.append(float(np.abs(a.values - b.values).max()))
    assert max(diffs) > 0
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16', 'fp16'"):
        _load(folders, "clip", precision="half")


def test_gpu_check_runs_on_cpu() -> None:
    """The prepared GPU script in its CPU mode: parity rows pass, the timings print."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu",
         "--quick", "--threads", "1"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "parity: pass" in out and "FAIL" not in out
    assert "blip-itm-base:lavis" in out and "clip:chefer" in out
    assert "LAVIS per-pair way on cpu" in out and "best pairs/s" in out


def test_precision_reaches_the_map_cache_key(folders: dict[str, Path]) -> None:
    """``vista score --precision`` -> resolve_source -> load_explainer: recorded in the
    row's params, hence a different map-cache key; a bad value names the option."""
    from click.testing import CliRunner

    from vista.cli import cli
    from vista.scoring import map_cache_key, resolve_source

    weights = str(folders["blip-itm-base"])
    low = resolve_source("blip-itm-base", weights=weights, device="cpu", precision="bf16")
    full = resolve_source("blip-itm-base", weights=weights, device="cpu")
    assert low.params["options"]["precision"] == "bf16"
    assert full.params["options"]["precision"] == "fp32"
    sha = "0" * 64
    assert map_cache_key(sha, "a cat", low.params) != map_cache_key(sha, "a cat", full.params)
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_source("blip-itm-base", weights=weights, precision="half")
    result = CliRunner().invoke(cli, ["score", "--model", "center", "--precision", "half"])
    assert result.exit_code == 2 and "--precision" in result.output


def test_clipseg_vision_stops_at_the_deepest_extract_layer(tmp_path: Path) -> None:
    """The layers the decoder reads are those of the full vision pass, bit for bit."""
    import torch
    from explain_fixtures import clipseg_folder

    from vista.explain.clipseg import vision_states

    ex = load_explainer("clipseg", weights=str(clipseg_folder(tmp_path, refined=True)),
                        device="cpu")
    model = ex.model
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model.clip.get_image_features(pixel_values=pixels, output_hidden_states=True)
        ours = vision_states(model, pixels)
    deepest = max(model.extract_layers)
    assert len(ours) == deepest + 2 < len(full.hidden_states) + 1
    for i in model.extract_layers:
        assert torch.equal(ours[i + 1], full.hidden_states[i + 1])


def test_out_of_memory_halves_the_micro_batch() -> None:
    """An out-of-memory error (torch.cuda.OutOfMemoryError by name) halves the
    micro-batch and retries it; any other error propagates."""
    from vista.explain.batching import explain_many

    class OutOfMemoryError(RuntimeError):
        pass

    class Fake:
        batches_images = True
        device = "cpu"
        precision = "fp32"

        def __init__(self, limit: int, error: type[Exception]) -> None:
            self.limit, self.error, self.calls = limit, error, []  # type: ignore[var-annotated]

        def _explain_images(self, images: list[Any], texts: list[Any]) -> Any:
            self.calls.append(len(images))
            if len(images) > self.limit:
                raise self.error("out of memory")
            return [([np.zeros((2, 2))] * len(t), [{}] * len(t)) for t in texts]

        def _maps(self, rgb: Any, raw: Any, extra: Any) -> list[Any]:
            return list(raw)

    items = [(tiny_image(8, 8, seed=i), ["a"]) for i in range(5)]
    fake = Fake(2, OutOfMemoryError)
    out = explain_many(fake, items, max_images=4)
    assert len(out) == 5 and fake.calls == [4, 2, 2, 1]
    with pytest.raises(MemoryError):
        explain_many(Fake(2, MemoryError), items, max_images=4)
