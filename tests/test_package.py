"""The package itself: cheap imports, the CLI entry point, records, the dataset folder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import vista
from vista.cli import cli
from vista.dataset import DatasetWriter, read_dataset
from vista.errors import DatasetError, ParseError
from vista.records import Fixations, SaliencyMap, Screen

HEAVY = ("torch", "transformers", "pylink", "matplotlib", "eyelinkio", "faster_whisper", "pygame")


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import vista", id="import"),
        pytest.param("import vista.cli, vista.explain, vista.gaze, vista.metrics, vista.dataset",
                     id="import-subpackages"),
        pytest.param("from vista.cli import main; main(['--help'])", id="help"),
    ],
)
def test_no_heavy_imports(code: str) -> None:
    """``import vista`` and ``vista --help`` load none of the heavy or hardware packages."""
    probe = (
        "import sys\n"
        "try:\n"
        f"    {code}\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version_and_help() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["--version"])
    assert res.exit_code == 0 and vista.__version__ in res.output
    res = runner.invoke(cli, ["--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def test_screen_px_per_degree() -> None:
    """Reference by hand: 1 deg at 700 mm spans 2*700*tan(0.5 deg) = 12.2175 mm;
    at 1920 px / 531 mm that is 44.18 px horizontally."""
    s = Screen(1920, 1080, 531.0, 531.0 * 1080 / 1920, 700.0)
    assert s.px_per_degree == pytest.approx(12.2175 * 1920 / 531.0, rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(starts_ms=[0, 1], ends_ms=[1]), "equal length", id="ragged"),
        pytest.param(dict(starts_ms=[5], ends_ms=[1]), "ends before", id="negative-duration"),
        pytest.param(dict(starts_ms=[0], ends_ms=[1], eyes=["X"]), "'L' or 'R'", id="eye"),
    ],
)
def test_fixations_validation(kwargs: dict, message: str) -> None:
    base = dict(xs=[1.0] * len(kwargs["starts_ms"]), ys=[1.0] * len(kwargs["starts_ms"]))
    with pytest.raises(ValueError, match=message):
        Fixations(**{**base, **kwargs})


def test_records_are_read_only() -> None:
    xs = np.array([1.0, 2.0])
    f = Fixations([0, 10], [5, 20], xs, [0, 0])
    xs[0] = 99
    assert f.xs[0] == 1.0
    with pytest.raises(ValueError):
        f.xs[0] = 3
    m = SaliencyMap(np.zeros((2, 2)), "m", "x")
    assert m.values.dtype == np.float32 and not m.values.flags.writeable


def test_dataset_round_trip_and_no_overwrite(tmp_path) -> None:
    root = tmp_path / "ds"
    with DatasetWriter(root, name="t", provenance={"sigma_deg": 1.0}) as w:
        w.add("a", image="images/x.png", text="a dog", human_map=np.full((3, 4), 1 / 12))
        w.add("b", image="/abs/y.png", text="a cat", human_map=np.eye(3, 4) / 3)
        with pytest.raises(DatasetError, match="'a'"):
            w.add("a", image="z.png", text="dup", human_map=np.ones((2, 2)))
    ds = read_dataset(root)
    assert [t.triplet_id for t in ds] == ["a", "b"]
    assert ds["b"].image_path == "/abs/y.png"
    np.testing.assert_allclose(ds.load_map(ds["b"]), np.eye(3, 4) / 3, rtol=1e-6)
    assert json.loads((root / "dataset.json").read_text())["provenance"] == {"sigma_deg": 1.0}
    with pytest.raises(FileExistsError, match="never overwrites"):
        DatasetWriter(root)
    # atomic writes get the usual file mode, not mkstemp's private 0600
    assert (root / "dataset.json").stat().st_mode & 0o777 == (root / "triplets.jsonl").stat().st_mode & 0o777


def test_dataset_bad_line(tmp_path) -> None:
    (tmp_path / "triplets.jsonl").write_text('{"triplet_id": "a", "image": "i", "text": "t", "map": "m"}\n{oops\n')
    with pytest.raises(ParseError, match=r"triplets.jsonl:2"):
        read_dataset(tmp_path)


def test_dataset_skip_bad_lists_what_it_left_out(tmp_path) -> None:
    """With skip_bad, invalid lines and duplicated ids are left out and listed; the rest
    is read. Without it, the first problem raises."""
    row = '{{"triplet_id": "{}", "image": "i.png", "text": "t", "map": "m.npy"}}\n'
    (tmp_path / "triplets.jsonl").write_text(
        row.format("a") + "{oops\n" + row.format("b") + row.format("a") + '{"triplet_id": "c"}\n'
    )
    ds = read_dataset(tmp_path, skip_bad=True)
    assert [t.triplet_id for t in ds] == ["b"]
    assert set(ds.bad) == {"line 2", "line 5", "a"}
    assert "lines 1 and 4" in ds.bad["a"] and "missing field" in ds.bad["line 5"]
    with pytest.raises(ParseError, match=r"triplets.jsonl:2"):
        read_dataset(tmp_path)
