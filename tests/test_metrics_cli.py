"""``vista metrics``: one pair of maps from .npy, .png or .jpg files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vista.cli import cli
from vista.metrics import auc_borji, compute_all, ncc


@pytest.fixture
def files(tmp_path: Path, rng: np.random.Generator) -> dict[str, Path]:
    yy, xx = np.mgrid[:40, :50]
    human = np.exp(-((xx - 20) ** 2 + (yy - 15) ** 2) / 40.0)
    human /= human.sum()
    saliency = human / human.max() + 0.3 * rng.random((40, 50))
    fix = np.array([[20.0, 15.0, 300.0], [22.4, 16.6, 150.0], [30.0, 30.0, 80.0]])
    mask = np.zeros((40, 50), np.uint8)
    mask[[15, 17, 30], [20, 22, 30]] = 255
    paths = {
        "human": tmp_path / "human.npy",
        "saliency": tmp_path / "saliency.npy",
        "fixations": tmp_path / "fix.npy",
        "mask_png": tmp_path / "mask.png",
        "saliency_png": tmp_path / "saliency.png",
        "small": tmp_path / "small.npy",
    }
    np.save(paths["human"], human)
    np.save(paths["saliency"], saliency)
    np.save(paths["fixations"], fix)
    np.save(paths["small"], saliency[::2, ::2])
    Image.fromarray(mask).save(paths["mask_png"])
    Image.fromarray((saliency / saliency.max() * 255).astype(np.uint8)).save(paths["saliency_png"])
    return paths


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["metrics", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_density_metrics_table(files: dict[str, Path]) -> None:
    code, out, _ = run(files["saliency"], files["human"])
    assert code == 0, out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["ncc", "auc_borji", "sim", "kld"]
    assert "(lower is better)" in out.splitlines()[-1]
    s, h = np.load(files["saliency"]), np.load(files["human"])
    assert f"{ncc(s, h):.6f}" in out
    assert f"{auc_borji(s, h, rng=0):.6f}" in out  # --seed 0 by default


def test_json_with_fixations_matches_the_library(files: dict[str, Path]) -> None:
    code, out, _ = run(files["saliency"], files["human"], "--fixations", files["fixations"],
                       "--json", "--seed", 7)
    assert code == 0, out
    doc = json.loads(out)
    s, h, f = (np.load(files[k]) for k in ("saliency", "human", "fixations"))
    assert doc["metrics"] == compute_all(s, h, fixations=f, rng=7)
    assert doc["seed"] == 7 and doc["resize"] is False and doc["vista_version"]
    assert {"auc_borji_mit", "auc_judd", "nss", "info_gain"} <= set(doc["metrics"])


def test_png_mask_equals_points(files: dict[str, Path]) -> None:
    """A PNG mask of the fixated pixels gives the same table as the N×3 fixations."""
    _, by_points, _ = run(files["saliency"], files["human"], "--fixations", files["fixations"], "--json")
    _, by_mask, _ = run(files["saliency"], files["human"], "--fixations", files["mask_png"], "--json")
    assert json.loads(by_points)["metrics"] == json.loads(by_mask)["metrics"]


def test_png_saliency_is_read_as_grayscale(files: dict[str, Path]) -> None:
    code, out, _ = run(files["saliency_png"], files["human"], "--metric", "ncc", "--json")
    assert code == 0, out
    assert json.loads(out)["metrics"]["ncc"] > 0.5


def test_metric_selection(files: dict[str, Path]) -> None:
    code, out, _ = run(files["saliency"], files["human"], "--metric", "ncc", "--metric", "kld")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["ncc", "kld"]


def test_resize_flag(files: dict[str, Path]) -> None:
    code, _, err = run(files["small"], files["human"])
    assert code == 1
    assert "has shape (20, 25) but human" in err and "has shape (40, 50); pass --resize" in err
    code, out, _ = run(files["small"], files["human"], "--resize", "--json")
    assert code == 0 and json.loads(out)["resize"] is True


def test_nan_is_reported_with_the_reason(files: dict[str, Path], tmp_path: Path) -> None:
    flat = tmp_path / "flat.npy"
    np.save(flat, np.ones((40, 50)))
    code, out, err = run(flat, files["human"], "--metric", "ncc", "--json")
    assert code == 0
    assert json.loads(out)["metrics"]["ncc"] is None
    assert "warning: ncc is undefined: the saliency map is constant; returning NaN" in err


@pytest.mark.parametrize(
    "args,message",
    [
        pytest.param(["{saliency}", "{human}", "--metric", "nss"], "metric 'nss' needs fixations", id="needs-fixations"),
        pytest.param(["{saliency}", "{human}", "--metric", "cc"], "Invalid value for '--metric'", id="unknown-metric"),
        pytest.param(["{saliency}", "{missing}"], "does not exist", id="missing-file"),
        pytest.param(["{saliency}", "{text}"], "unsupported file type .txt", id="bad-type"),
        pytest.param(["{saliency}", "{human}", "--fixations", "{bad_fix}"], "expected a mask with the human map's shape", id="bad-fixations"),
        pytest.param(["{saliency}", "{broken_png}"], "cannot read human image", id="broken-png"),
        pytest.param(["{saliency}", "{human}", "--seed", "-1"], "Invalid value for '--seed'", id="negative-seed"),
        pytest.param(["{small}", "{human}"], "pass --resize", id="size-mismatch"),
        pytest.param(["{saliency}", "{human}", "--fixations", "{fixations}", "--metric", "auc_shuffled"], "vista score", id="shuffled-needs-other-images"),
    ],
)
def test_errors_are_one_line(files: dict[str, Path], tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "notes.txt").write_text("x")
    np.save(tmp_path / "bad_fix.npy", np.zeros((4, 7)))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths = {**{k: str(v) for k, v in files.items()}, "missing": str(tmp_path / "nope.npy"),
             "text": str(tmp_path / "notes.txt"), "bad_fix": str(tmp_path / "bad_fix.npy"),
             "broken_png": str(tmp_path / "broken.png")}
    code, _, err = run(*[a.format(**paths) for a in args])
    assert code != 0
    assert message in err
    assert "Traceback" not in err


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(cli, ["metrics", "--help"])
    assert result.exit_code == 0
    for option in ["--fixations", "--metric", "--json", "--resize", "--seed", "[default: 0"]:
        assert option in result.output
