"""Progress bars of vista score, figure and report: drawn on stderr when there is work,
never under the group's --quiet (vista sweep's: tests/test_sweep.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from dataset_fixtures import small_dataset

from vista.cli import cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_dataset(tmp_path_factory.mktemp("progress"), observers=2)


def _both(args: list[str], out: Path, label: str) -> None:
    """The command with its bar, then under --quiet: no bar, nothing on stdout."""
    loud = CliRunner().invoke(cli, [*args, str(out / "loud")])
    assert loud.exit_code == 0, loud.output
    assert label in loud.stderr
    quiet = CliRunner().invoke(cli, ["--quiet", *args, str(out / "quiet")])
    assert quiet.exit_code == 0, quiet.output
    assert label not in quiet.stderr and quiet.stdout == ""


def test_score_bar(data: Path, tmp_path: Path) -> None:
    _both(["score", "--model", "center", "--data", str(data), "--bootstrap", "20", "--out"],
          tmp_path, "scoring")


def test_figure_and_report_bars(data: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the viz extra (matplotlib) is not installed")
    from vista.scoring import score

    run = tmp_path / "run"
    score(data, ["center"], out=run, n_boot=20)
    _both(["figure", str(run), "--no-images", "--format", "png", "--dpi", "30", "--jobs", "1",
           "--out"], tmp_path / "fig", "figures")
    _both(["report", str(run), "--max-images", "1", "--jobs", "1", "--out"],
          tmp_path / "rep", "report figures")


def test_no_bar_without_work(data: Path, tmp_path: Path) -> None:
    """A finished run scored again: nothing to do, so no bar (only the resume line)."""
    args = ["score", "--model", "center", "--data", str(data), "--bootstrap", "20",
            "--out", str(tmp_path / "run")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "resuming the run" in again.stderr and "scoring" not in again.stderr
