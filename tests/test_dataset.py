"""vista.dataset: the dataset folder read and written through vista._io, and its
DataFrame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vista import _io, imaging
from vista.dataset import FRAME_COLUMNS, DatasetWriter, read_dataset, read_npy


def test_io_operations_have_one_import_path() -> None:
    """The durable-file and image operations are imported from vista._io and
    vista.imaging only: vista.dataset no longer re-exports them."""
    import vista.dataset as ds

    for name in ("write_atomic", "save_npy_atomic", "read_json", "iter_jsonl"):
        assert callable(getattr(_io, name.replace("iter_jsonl", "read_jsonl")))
        assert name not in ds.__all__ and not hasattr(ds, name), name
    assert callable(imaging.load_image) and not hasattr(ds, "load_image")


def test_writer_lines_are_sorted_json_as_before(tmp_path: Path) -> None:
    """The writer's line format is unchanged (sorted keys, json.dumps separators), so a
    dataset regenerates byte for byte."""
    with DatasetWriter(tmp_path / "ds") as w:
        w.add("t1", image="images/a.png", text="a cat", human_map=np.ones((2, 2)) / 4,
              meta={"z": 1, "a": {"y": 2, "b": 3}})
    line = (tmp_path / "ds" / "triplets.jsonl").read_text()
    row = {"triplet_id": "t1", "image": "images/a.png", "text": "a cat",
           "map": "maps/t1.npy", "meta": {"z": 1, "a": {"y": 2, "b": 3}}}
    assert line == json.dumps(row, sort_keys=True) + "\n"


def test_skip_bad_lists_every_bad_line(tmp_path: Path) -> None:
    with DatasetWriter(tmp_path / "ds") as w:
        for k in range(2):
            w.add(f"t{k}", image="a.png", text="x", human_map=np.ones((2, 2)) / 4)
    with open(tmp_path / "ds" / "triplets.jsonl", "a") as fh:
        fh.write('{oops\n["list"]\n{"triplet_id": "t9", "image": "a.png", "text": null, '
                 '"map": "maps/t0.npy"}\n')
    ds = read_dataset(tmp_path / "ds", skip_bad=True)
    assert [t.triplet_id for t in ds] == ["t0", "t1"]
    assert sorted(ds.bad) == ["line 3", "line 4", "line 5"]
    assert "invalid JSON" in ds.bad["line 3"] and "'text' must be a string" in ds.bad["line 5"]


def test_read_npy_checks_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "m.npy"
    np.save(p, np.arange(6, dtype=np.int16).reshape(2, 3).T.copy(order="F"))
    np.testing.assert_array_equal(read_npy(p), np.arange(6).reshape(2, 3).T)
    np.save(p, np.ones(3) + 1j)
    with pytest.raises(ValueError, match=r"m\.npy: array must hold real numbers; got complex"):
        read_npy(p)


def test_to_frame_round_trips_triplets_jsonl(tmp_path: Path) -> None:
    """Every column of the frame holds what triplets.jsonl holds (paths resolved against
    the folder, as Triplet holds them), with the dtypes the README documents."""
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    metas: list[dict[str, Any]] = [{"participant": "P1", "n": 3, "ms": 1200.0, "fv": True, "tags": ["a"]},
             {"participant": "P2", "n": 5, "ms": 250.5, "fv": False, "extra": "only here"},
             {"participant": None, "n": 7, "ms": 10.0, "fv": True, "tags": []}]
    with DatasetWriter(tmp_path / "ds") as w:
        for k, meta in enumerate(metas):
            w.add(f"t{k}", image="images/a.png", text=f"text {k}",
                  human_map=np.ones((2, 2)) / 4, meta=meta,
                  fixations=np.zeros((1, 3)) if k == 0 else None)
    df = read_dataset(tmp_path / "ds").to_frame()
    rows = [json.loads(x) for x in (tmp_path / "ds" / "triplets.jsonl").read_text().splitlines()]
    assert list(df.columns[:5]) == list(FRAME_COLUMNS)
    assert {c: str(df[c].dtype) for c in FRAME_COLUMNS} == {c: "string" for c in FRAME_COLUMNS}
    assert str(df["meta.n"].dtype) == "Int64" and str(df["meta.ms"].dtype) == "Float64"
    assert str(df["meta.fv"].dtype) == "boolean" and str(df["meta.participant"].dtype) == "string"
    assert df["meta.tags"].dtype == object
    root = tmp_path / "ds"
    for (_, got), row in zip(df.iterrows(), rows, strict=True):
        assert got["triplet_id"] == row["triplet_id"] and got["text"] == row["text"]
        assert got["image_path"] == str(root / row["image"])
        assert got["map_path"] == str(root / row["map"])
        if "fixations" in row:
            assert got["fixations_path"] == str(root / row["fixations"])
        else:
            assert got["fixations_path"] is pd.NA
        for key in ("participant", "n", "ms", "fv", "tags", "extra"):
            want = row["meta"].get(key)
            value = got[f"meta.{key}"]
            assert (value is pd.NA) if want is None else value == want
