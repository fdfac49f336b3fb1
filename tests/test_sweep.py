"""vista sweep: grid parsing, the analysis of a sweep, and a small sweep end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vista.cli import cli
from vista.records import Screen
from vista.scoring.sweep import Grid, SweepResult, parse_grid
from vista.scoring.sweep_report import analyse, markdown

DEMO = Path(__file__).resolve().parents[1] / "vista" / "data" / "demo"


def test_parse_grid_keys_and_values() -> None:
    g = parse_grid(["sigma_deg=0.5,1", "segmenter=phrase,sentence", "clip.block=6,7"],
                   models=["clip", "center"], sessions=True)
    assert g.keys == ("sigma_deg", "segmenter", "clip.block")
    assert g.values == ((0.5, 1.0), ("phrase", "sentence"), (6, 7))
    assert len(g.points()) == 8 and g.human_keys == ("sigma_deg", "segmenter")
    assert g.points()[1] == {"sigma_deg": 0.5, "segmenter": "phrase", "clip.block": 7}


@pytest.mark.parametrize(
    "specs,message",
    [
        pytest.param([], "the grid is empty", id="empty"),
        pytest.param(["sigma"], "expected KEY=V1,V2", id="no-equals"),
        pytest.param(["bandwidth=1,2"], "bandwidth: unknown key", id="unknown"),
        pytest.param(["center.block=1"], "center.block: unknown key", id="not-an-explainer"),
        pytest.param(["sigma_deg="], "no values", id="no-values"),
        pytest.param(["sigma_deg=a,b"], "'a' is not a number", id="not-a-number"),
        pytest.param(["lead_ms=1", "lead_ms=2"], "given twice", id="twice"),
        pytest.param(["lead_ms=1,1"], "repeated", id="repeated"),
    ],
)
def test_parse_grid_errors(specs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grid(specs, models=["center", "clip"], sessions=True)


def test_human_key_with_only_a_dataset_says_why() -> None:
    with pytest.raises(ValueError, match=r"lead_ms: a human-side key .* needs --sessions"):
        parse_grid(["lead_ms=500,1000"], models=["center"], sessions=False)


def test_two_points_whose_ranks_swap() -> None:
    """Hand-made: model a is better at the first point, b at the second. The ranks swap,
    Kendall's W is 0 and each order holds at half the points; range, min and max by hand."""
    grid = Grid(("lead_ms",), ((500.0, 1500.0),))
    means = [{"a": {"ncc": 0.30}, "b": {"ncc": 0.20}},
             {"a": {"ncc": 0.25}, "b": {"ncc": 0.40}}]
    result = SweepResult(Path("unused"), grid, ["a", "b"], ["ncc"], grid.points(), means,
                         {"ncc": True}, {"model_maps_computed": 2, "model_maps_needed": 8})
    s = analyse(result)["per_metric"]["ncc"]
    assert s["ranks"] == {"a": [1.0, 2.0], "b": [2.0, 1.0]}
    assert s["kendalls_w"] == 0.0 and s["pairs"] == {"a > b": 0.5}
    assert s["range"]["b"] == pytest.approx(0.2)
    assert s["min"]["b"] == {"value": 0.2, "point": "lead_ms=500"}
    assert s["max"]["a"] == {"value": 0.3, "point": "lead_ms=500"}
    summary = analyse(result)
    assert summary["computed_over_needed"]["model_maps"] == 0.25
    assert "order holds at 0.50" in markdown(summary)
    # lower is better: the ranks flip
    lower = analyse(SweepResult(Path("unused"), grid, ["a", "b"], ["ncc"], grid.points(),
                                means, {"ncc": False}))
    assert lower["per_metric"]["ncc"]["ranks"]["a"] == [2.0, 1.0]


@pytest.mark.slow
def test_sweep_end_to_end_resumes_and_extends(tmp_path: Path) -> None:
    """Two simulated participants; sigma_deg × lead_ms with center and human-other. A
    rerun builds nothing; a new lead_ms value builds only its own human maps."""
    from vista.acquisition.session import run_session

    images = tmp_path / "img"
    images.mkdir()
    for name in ("astronaut", "coins"):
        for suffix in (".jpg", ".scene.json"):
            shutil.copy(DEMO / "images" / f"{name}{suffix}", images)
    sessions = []
    for seed in (1, 2):
        run_session(images, participant=f"P{seed}", screen=Screen(1920, 1080, 531, 299, 700),
                    out=tmp_path / f"P{seed}", rng=seed, speed=None, time_limit_s=12,
                    display=False, tracker="simulated")
        sessions += ["--sessions", str(tmp_path / f"P{seed}")]
    out = tmp_path / "sweep"
    args = ["sweep", *sessions, "--model", "center", "--model", "human-other",
            "--grid", "sigma_deg=0.5,2", "--bootstrap", "50", "--out", str(out)]
    first = CliRunner().invoke(cli, [*args, "--grid", "lead_ms=500,1500"])
    assert first.exit_code == 0, first.output
    summary = json.loads((out / "sweep.json").read_text())
    assert len(summary["points"]) == 4 and summary["counts"]["points"] == 4
    built = summary["counts"]["human_maps_built"]
    assert built == summary["counts"]["human_maps_needed"] > 0
    ncc = summary["per_metric"]["ncc"]
    assert set(ncc["values"]) == {"center", "human-other"}
    assert all(len(v) == 4 for v in ncc["values"].values())
    assert (out / "figures" / "ncc-center-heatmap.png").is_file()
    assert (out / "figures" / "ncc-over-lead_ms.png").is_file()
    again = CliRunner().invoke(cli, [*args, "--grid", "lead_ms=500,1500"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "sweep.json").read_text())["counts"]["human_maps_built"] == 0
    more = CliRunner().invoke(cli, [*args, "--grid", "lead_ms=500,1000,1500"])
    assert more.exit_code == 0, more.output
    counts = json.loads((out / "sweep.json").read_text())["counts"]
    assert 0 < counts["human_maps_built"] < built  # only the two new human points
    other = CliRunner().invoke(cli, ["sweep", "--sessions", str(tmp_path / "P1"), "--model",
                                     "center", "--grid", "sigma_deg=1,2", "--out", str(out)])
    assert other.exit_code != 0 and "holds a sweep of other sessions" in other.output


def test_sweep_on_worker_processes_equals_serial(tmp_path: Path) -> None:
    """--executor processes:2 writes the same score tables and sweep summary as serial
    (one simulated participant, one image, sigma_deg=1,2 with center). The default run
    draws the grid-point progress bar on stderr; --quiet draws none."""
    from vista.acquisition.session import run_session

    images = tmp_path / "img"
    images.mkdir()
    for suffix in (".jpg", ".scene.json"):
        shutil.copy(DEMO / "images" / f"astronaut{suffix}", images)
    run_session(images, participant="P1", screen=Screen(1920, 1080, 531, 299, 700),
                out=tmp_path / "P1", rng=1, speed=None, time_limit_s=12, display=False,
                tracker="simulated")
    args = ["sweep", "--sessions", str(tmp_path / "P1"), "--model", "center",
            "--grid", "sigma_deg=1,2", "--bootstrap", "20"]
    serial = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "serial")])
    assert serial.exit_code == 0, serial.output
    assert "grid points" in serial.stderr
    pooled = CliRunner().invoke(cli, ["--quiet", *args, "--executor", "processes:2",
                                      "--out", str(tmp_path / "pooled")])
    assert pooled.exit_code == 0, pooled.output
    assert pooled.stdout == "" and "grid points" not in pooled.stderr
    tables = sorted(p.relative_to(tmp_path / "serial")
                    for p in (tmp_path / "serial" / "runs").rglob("scores.csv"))
    assert len(tables) == 2
    for rel in tables:
        assert (tmp_path / "pooled" / rel).read_bytes() == (tmp_path / "serial" / rel).read_bytes()
    per_metric = [json.loads((tmp_path / f / "sweep.json").read_text())["per_metric"]
                  for f in ("serial", "pooled")]
    assert per_metric[0] == per_metric[1]
    bad = CliRunner().invoke(cli, [*args, "--executor", "threads:2", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "--executor" in bad.output and not (tmp_path / "b").exists()


def test_sweep_bad_input_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["sweep", "--data", str(DEMO), "--model", "center",
                                   "--grid", "sigma_deg=1,2", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "needs --sessions" in res.output
    assert not (tmp_path / "s").exists()
    res = CliRunner().invoke(cli, ["sweep", "--data", str(DEMO), "--model", "center",
                                   "--grid", "width=1", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "width: unknown key" in res.output
    res = CliRunner().invoke(cli, ["sweep", "--sessions", str(tmp_path), "--model", "center",
                                   "--grid", "segmenter=phrase,nope", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "--grid point segmenter=nope: segmenter" in res.output
    res = CliRunner().invoke(cli, ["sweep", "--sessions", str(tmp_path), "--model", "center",
                                   "--grid", "sigma_deg=1,-2", "--out", str(tmp_path / "s")])
    assert res.exit_code == 1 and "sigma_deg=-2: sigma_deg" in res.output
    assert not (tmp_path / "s").exists()


@pytest.mark.explain
@pytest.mark.slow
def test_model_side_key_caches_maps_once_per_point(tmp_path: Path) -> None:
    """A tiny CLIP over clip.start_block=0,2 on the demo dataset: 24 triplets, two
    model-side points, so 48 maps computed of 48 needed; a rerun computes none; a bad
    option stops the sweep before any file."""
    torch = pytest.importorskip("torch", reason="needs the explain extra (torch)")
    transformers = pytest.importorskip("transformers", reason="needs the explain extra")
    from explain_fixtures import (
        make_image_processor,
        save_folder,
        tiny_clip_config,
        write_clip_tokenizer,
    )

    folder = tmp_path / "tiny-clip"
    tok = write_clip_tokenizer(folder)
    torch.manual_seed(0)
    save_folder(folder, transformers.CLIPModel(tiny_clip_config(len(tok))), tok,
                make_image_processor("clip", size=32))
    out = tmp_path / "sweep"
    args = ["sweep", "--data", str(DEMO), "--model", "clip", "--model", "center",
            "--weights", f"clip={folder}", "--device", "cpu", "--bootstrap", "20",
            "--out", str(out)]
    res = CliRunner().invoke(cli, [*args, "--grid", "clip.start_block=0,2"])
    assert res.exit_code == 0, res.output
    counts = json.loads((out / "sweep.json").read_text())["counts"]
    assert (counts["model_maps_computed"], counts["model_maps_needed"]) == (48, 48)
    again = CliRunner().invoke(cli, [*args, "--grid", "clip.start_block=0,2"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "sweep.json").read_text())["counts"]["model_maps_computed"] == 0
    bad = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "bad"),
                                   "--grid", "clip.no_such_option=1,2"])
    assert bad.exit_code == 1 and "no_such_option" in bad.output
    assert not (tmp_path / "bad").exists()
