"""``vista score``, ``vista figure`` and ``vista report`` end to end through click."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_scoring import _break, _small_dataset

import vista.scoring
from vista.cli import cli
from vista.dataset import read_dataset
from vista.scoring import demo_dataset_path


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_score_demo_center_uniform(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _invoke("score", "--model", "center", "--model", "uniform", "--bootstrap", "50",
                  "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output and "demo dataset" in res.output
    lines = res.output.splitlines()
    header = next(x for x in lines if x.startswith("model"))
    assert "NCC" in header and "AUC-Borji" in header
    assert any(x.startswith("center ") and "[" in x for x in lines)
    assert any(x.startswith("uniform - center") for x in lines)
    for name in ("scores.csv", "summary.json", "summary.md", "run.json"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["path"] == str(demo_dataset_path().resolve())


def test_default_out_resumes_and_extends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _small_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["score", "--model", "center", "--data", str(data), "--bootstrap", "20"]
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    runs = list((tmp_path / "vista-out").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("ds_center_")
    again = _invoke(*args)
    assert again.exit_code == 0 and "resuming the run" in again.output
    more = _invoke(*args, "--metric", "sim")
    assert more.exit_code == 0 and "SIM" in more.output
    assert list((tmp_path / "vista-out").iterdir()) == runs
    other = _invoke(*args[:-1], "30")  # another bootstrap size: another folder
    assert other.exit_code == 0 and len(list((tmp_path / "vista-out").iterdir())) == 2


def test_refused_configuration_is_one_line(tmp_path: Path) -> None:
    data = _small_dataset(tmp_path)
    out = str(tmp_path / "run")
    assert _invoke("score", "--model", "center", "--data", str(data), "--bootstrap", "20",
                   "--out", out).exit_code == 0
    res = CliRunner().invoke(cli, ["score", "--model", "center", "--data", str(data),
                                   "--bootstrap", "20", "--seed", "5", "--out", out])
    assert res.exit_code == 1 and "Error:" in res.output and "seed" in res.output
    assert "resuming" not in res.output  # refused, not resumed


def test_unknown_model(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["score", "--model", "blip", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "got 'blip'" in res.output and "blip-itm-base" in res.output
    assert not (tmp_path / "r").exists()


def test_bad_dataset_and_skip_bad(tmp_path: Path) -> None:
    data = _small_dataset(tmp_path)
    _break(data, "map-size")
    base = ["score", "--model", "center", "--data", str(data), "--bootstrap", "20"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "a")])
    assert res.exit_code == 1
    assert "triplet 'i0-s1'" in res.output and "--skip-bad" in res.output
    res = _invoke(*base, "--skip-bad", "--out", str(tmp_path / "b"))
    assert res.exit_code == 0 and "skipped 1 bad triplet(s): i0-s1" in res.output


def test_interrupt_keeps_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(vista.scoring, "score", interrupted)
    res = CliRunner().invoke(cli, ["score", "--model", "center", "--out", str(tmp_path / "r")])
    assert res.exit_code == 130
    assert "run the same command again to resume" in res.output


def test_figure_and_report_commands(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the viz extra (matplotlib) is not installed")
    data = _small_dataset(tmp_path)
    out = tmp_path / "run"
    assert _invoke("score", "--model", "center", "--data", str(data), "--bootstrap", "20",
                   "--out", str(out)).exit_code == 0
    res = _invoke("figure", str(out), "--triplet", "i1-s0", "--format", "png",
                  "--format", "pdf", "--cmap", "viridis", "--alpha", "0.7")
    assert res.exit_code == 0, res.output
    figs = out / "figures"
    for name in ("triplet-i1-s0", "image-img0", "leaderboard-ncc", "leaderboard-auc_borji"):
        assert (figs / f"{name}.png").stat().st_size > 0
        assert (figs / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    bad = CliRunner().invoke(cli, ["figure", str(out), "--cmap", "no-such-map"])
    assert bad.exit_code == 1 and "cmap must be a matplotlib colormap" in bad.output
    res = _invoke("report", str(out), "--max-images", "1")
    assert res.exit_code == 0 and Path(res.stdout.strip()) == out / "report.html"
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_figure_needs_a_finished_run(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["figure", str(tmp_path)])
    assert res.exit_code == 1 and "not a vista score output folder" in res.output


@pytest.mark.explain
@pytest.mark.slow
def test_tiny_blip_end_to_end(tmp_path: Path) -> None:
    """A tiny random BLIP-ITM saved to a folder (the explain tests' builder) scored on
    the demo dataset through ``--weights``; the rerun reads its maps from the cache."""
    pytest.importorskip("torch", reason="the explain extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the explain extra (transformers) is not installed")
    from explain_fixtures import blip_folder

    weights = blip_folder(tmp_path / "blip")
    out = tmp_path / "run"
    args = ["score", "--model", "blip-itm-base", "--model", "center", "--weights", str(weights),
            "--device", "cpu", "--bootstrap", "20", "--out", str(out)]
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    assert any(x.startswith("blip-itm-base ") for x in res.output.splitlines())
    cached = sorted((out / "maps" / "blip-itm-base").glob("*.npy"))
    n = len(read_dataset(demo_dataset_path()))
    assert len(cached) == n
    meta = json.loads(cached[0].with_suffix(".json").read_text())
    assert meta["model"]["model_id"] == str(weights) and meta["model"]["method"]
    mtimes = [p.stat().st_mtime_ns for p in cached]
    res = _invoke(*args, "--metric", "sim")
    assert res.exit_code == 0 and "SIM" in res.output
    assert [p.stat().st_mtime_ns for p in cached] == mtimes
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["blip-itm-base"]["kind"] == "explainer"
    assert summary["results"]["blip-itm-base"]["sim"]["n"] == n


def test_missing_weights_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline with an empty Hugging Face cache: one line naming the weights, and no run
    folder left behind (the dataset is checked and the model loaded before any file is
    written)."""
    pytest.importorskip("huggingface_hub", reason="the explain extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["score", "--model", "clip", "--out", str(out)])
    assert res.exit_code == 1 and "openai/clip-vit-base-patch" in res.output
    assert not out.exists()


def test_weights_named_by_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--weights ROW=DIR reaches that row's loader (here a folder that does not exist:
    one line naming it, and no run folder left behind)."""
    pytest.importorskip("huggingface_hub", reason="the explain extra is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "run"
    missing = tmp_path / "no-weights-here"
    res = CliRunner().invoke(cli, ["score", "--model", "center", "--model", "clip",
                                   "--weights", f"clip={missing}", "--out", str(out)])
    assert res.exit_code == 1 and str(missing) in res.output
    assert not out.exists()
