"""vista sanity: cascading model randomisation (Adebayo et al. 2018) on tiny models."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the sanity check needs the explain extra (torch)")
transformers = pytest.importorskip("transformers", reason="needs the explain extra")

from explain_fixtures import (  # noqa: E402
    make_image_processor,
    save_folder,
    tiny_clip_config,
    tiny_image,
    write_clip_tokenizer,
)

from vista.explain.sanity import (  # noqa: E402
    layer_stacks,
    map_similarity,
    randomisation_check,
)

pytestmark = pytest.mark.explain

H, W = 24, 32


class _Stack(torch.nn.Module):
    """Three linear layers in a ModuleList, as a transformer's encoder layers."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.ModuleList([torch.nn.Linear(16, 16) for _ in range(2)]
                                          + [torch.nn.Linear(16, H * W)])

    def forward(self, x: Any) -> Any:
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


class ImageOnly:
    """A hand-built explainer whose map ignores the weights: the image's brightness."""

    def __init__(self) -> None:
        self.model = _Stack()

    def explain(self, image: np.ndarray, texts: list[str]) -> list[np.ndarray]:
        self.model(torch.ones(16))  # runs the model, then ignores it
        return [image.mean(axis=2).astype(np.float32) for _ in texts]


class FromWeights:
    """A hand-built explainer whose map is the model's output laid on the grid: after
    re-initialisation it is another random map."""

    def __init__(self) -> None:
        self.model = _Stack()

    def explain(self, image: np.ndarray, texts: list[str]) -> list[np.ndarray]:
        with torch.no_grad():
            out = self.model(torch.ones(16)).numpy().reshape(H, W)
        return [out.astype(np.float32) for _ in texts]


PAIRS = [(tiny_image(H, W, seed=s), t) for s, t in [(0, "a cat"), (1, "a dog"), (2, "red")]]


def test_map_similarity_by_hand() -> None:
    m = np.arange(48.0).reshape(6, 8)
    rho, ssim = map_similarity(m, m ** 3)  # monotone: same ranks
    assert rho == pytest.approx(1.0) and ssim < 1.0
    rho, _ = map_similarity(m, -m)
    assert rho == pytest.approx(-1.0)
    rho, ssim = map_similarity(m, m)
    assert rho == pytest.approx(1.0) and ssim == pytest.approx(1.0)
    assert math.isnan(map_similarity(m, np.ones_like(m))[0])
    with pytest.raises(ValueError, match="one grid"):
        map_similarity(m, m.T)


def test_layer_stacks_finds_the_layers() -> None:
    stacks = layer_stacks(_Stack())
    assert [len(s) for s in stacks] == [3]


def test_a_map_that_ignores_the_weights_is_flagged() -> None:
    exp = ImageOnly()
    r = randomisation_check(exp, PAIRS, n_boot=200, seed=1)
    assert r.verdict == "fails" and len(r.steps) == 3 and r.stacks == [3]
    for step in r.steps:
        assert step.spearman[0] == pytest.approx(1.0) and step.ssim[0] == pytest.approx(1.0)


def test_a_map_made_by_the_weights_passes_and_weights_are_restored() -> None:
    exp = FromWeights()
    before = {k: v.clone() for k, v in exp.model.state_dict().items()}
    r = randomisation_check(exp, PAIRS, n_boot=200, seed=1)
    assert r.verdict == "passes"
    assert r.steps[-1].spearman[2] < 0.5
    after = exp.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        randomisation_check(ImageOnly(), PAIRS[:1])

    class NoModel:
        model = None

        def explain(self, image: Any, texts: Any) -> Any:
            return []

    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        randomisation_check(NoModel(), PAIRS)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-clip")
    tok = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    model = transformers.CLIPModel(tiny_clip_config(len(tok)))
    return save_folder(folder, model, tok, make_image_processor("clip", size=32))


def test_sanity_cli_on_a_tiny_clip(clip_folder: Path, tmp_path: Path) -> None:
    """The registered path: load_explainer, demo triplets, three steps (the vision
    tower has 3 blocks, the text tower 2), a JSON report and a figure."""
    from click.testing import CliRunner

    from vista.cli import cli

    out = tmp_path / "sanity"
    res = CliRunner().invoke(cli, ["sanity", "--model", "clip", "--weights", str(clip_folder),
                                   "--n", "3", "--n-boot", "100", "--device", "cpu",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "verdict:" in res.output and "step 3" in res.output
    report = json.loads((out / "sanity.json").read_text())
    assert report["stacks"] == [2, 3] and len(report["steps"]) == 3
    assert report["params"]["n"] == 3 and len(report["params"]["triplets"]) == 3
    for step in report["steps"]:
        assert -1 <= step["spearman"][0] <= 1
        assert step["n_changed"] > 0  # the Hugging Face initialiser really re-drew weights
    # the tiny CLIP's Grad-CAM map depends on its weights: with every block re-drawn it
    # no longer ranks pixels as before (Spearman 1.0 here would mean nothing was re-drawn)
    assert report["steps"][-1]["spearman"][0] < 0.9
    assert (out / "sanity.png").stat().st_size > 0
