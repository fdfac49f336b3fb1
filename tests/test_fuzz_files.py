"""Fuzzing the dataset readers with hypothesis: triplets.jsonl, dataset.json, .npy maps,
images (RGB and grayscale maps) and import tables.

Each reader either returns what its schema promises or raises one of vista's errors
(:class:`~vista.errors.ParseError`, :class:`~vista.errors.DatasetError`, both
ValueErrors naming the file); any other exception is a bug. Inputs are valid files
mutated byte by byte (overwritten, cut, inserted) and JSON built from arbitrary values.
About 60 cases per reader run by default (a few hundred in all);
``VISTA_FUZZ_EXAMPLES=N`` runs N per reader.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (the dev extra) is missing")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from vista.dataset import DatasetWriter, read_dataset  # noqa: E402
from vista.errors import DatasetError, ParseError  # noqa: E402
from vista.imaging import load_image  # noqa: E402
from vista.importers import import_dataset, read_map_png  # noqa: E402

EXAMPLES = int(os.environ.get("VISTA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="VISTA_FUZZ_EXAMPLES" not in
                os.environ, suppress_health_check=[HealthCheck.too_slow])
EXPECTED = (ParseError, DatasetError)


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="vista-fuzz-") as d:
        yield Path(d)


@st.composite
def mutated(draw: Any, data: bytes) -> bytes:
    """``data`` with a few bytes overwritten, a slice cut out or bytes inserted, or cut
    short: the ways files are damaged on disk and in transfer."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        if how == "flip" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif how == "cut":
            del buf[pos:pos + draw(st.integers(1, 16))]
        elif how == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del buf[pos:]
    return bytes(buf)


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "src").mkdir()
    Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).save(root / "src" / "a.png")
    with DatasetWriter(root / "ds", name="fuzz") as w:
        rel = w.add_image(root / "src" / "a.png")
        for k in range(3):
            w.add(f"t{k}", image=rel, text=f"text {k}", human_map=np.full((6, 8), 1 / 48),
                  meta={"k": k})
    return root / "ds"


_TEMPLATE = tempfile.TemporaryDirectory(prefix="vista-fuzz-template-")  # removed at exit
_DS = _dataset(Path(_TEMPLATE.name))
INDEX = (_DS / "triplets.jsonl").read_bytes()
INFO = (_DS / "dataset.json").read_bytes()
MAP = (_DS / "maps" / "t0.npy").read_bytes()
PNG = (_DS / "images" / "a.png").read_bytes()


def _copy(root: Path) -> Path:
    """A fresh copy of the template dataset (a copy, not a DatasetWriter run: no fsync)."""
    return Path(shutil.copytree(_DS, root / "ds"))


_jpeg = io.BytesIO()
Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8).repeat(3).reshape(6, 8, 3)).save(
    _jpeg, format="JPEG")
JPEG = _jpeg.getvalue()
_grey = io.BytesIO()
Image.fromarray((np.arange(48, dtype=np.uint16) * 1000).reshape(6, 8)).save(_grey, format="PNG")
GREY16 = _grey.getvalue()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=8)
row_keys = st.sampled_from(["triplet_id", "image", "text", "map", "fixations", "meta"])
rows = st.dictionaries(row_keys, json_values | st.sampled_from(
    ["t1", "images/a.png", "maps/t0.npy", "../x", "/etc/passwd", ""]), max_size=6)


def _read_checked(ds: Path) -> None:
    """read_dataset and every map, under the readers' contract."""
    try:
        data = read_dataset(ds)
    except EXPECTED:
        return
    for t in data:
        assert isinstance(t.triplet_id, str) and isinstance(t.text, str)
        try:
            arr = data.load_map(t)
        except EXPECTED:
            continue
        assert arr.ndim == 2 and arr.dtype == np.float32 and np.isfinite(arr).all()


@FUZZ
@given(mutated(INDEX))
def test_fuzz_triplets_jsonl_bytes(content: bytes) -> None:
    with _folder() as root:
        ds = _copy(root)
        (ds / "triplets.jsonl").write_bytes(content)
        _read_checked(ds)
        try:
            skipped = read_dataset(ds, skip_bad=True)
        except EXPECTED as exc:  # only a file-level problem is left to raise
            assert "triplets.jsonl" in str(exc)
        else:
            assert all(isinstance(k, str) for k in skipped.bad)


@FUZZ
@given(st.lists(rows, min_size=1, max_size=4))
def test_fuzz_triplets_jsonl_values(values: list[dict[str, Any]]) -> None:
    with _folder() as root:
        ds = _copy(root)
        (ds / "triplets.jsonl").write_text("".join(json.dumps(v) + "\n" for v in values))
        _read_checked(ds)


@FUZZ
@given(st.one_of(mutated(INFO), json_values.map(lambda v: json.dumps(v).encode())))
def test_fuzz_dataset_json(content: bytes) -> None:
    with _folder() as root:
        ds = _copy(root)
        (ds / "dataset.json").write_bytes(content)
        try:
            data = read_dataset(ds)
        except EXPECTED as exc:
            assert "dataset.json" in str(exc)
        else:
            assert isinstance(data.info, dict)


@FUZZ
@given(mutated(MAP))
def test_fuzz_npy_map(content: bytes) -> None:
    with _folder() as root:
        ds = _copy(root)
        (ds / "maps" / "t0.npy").write_bytes(content)
        data = read_dataset(ds)
        try:
            arr = data.load_map(data["t0"])
        except DatasetError as exc:
            assert "t0" in str(exc) and "t0.npy" in str(exc)
        else:
            assert arr.ndim == 2 and np.isfinite(arr).all() and (arr >= 0).all()


def _read_file(content: bytes, name: str, reader: Any) -> np.ndarray | None:
    """``reader`` on a file ``name`` holding ``content``: its array, or None when it
    raised a ParseError naming the file."""
    with _folder() as root:
        path = root / name
        path.write_bytes(content)
        try:
            return reader(path)
        except ParseError as exc:
            assert name in str(exc)
            return None


@FUZZ
@given(st.one_of(mutated(PNG), mutated(JPEG)))
def test_fuzz_images(content: bytes) -> None:
    arr = _read_file(content, "x.img", load_image)
    if arr is not None:
        assert arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8


@FUZZ
@given(st.one_of(mutated(GREY16), mutated(PNG)))
def test_fuzz_map_images(content: bytes) -> None:
    arr = _read_file(content, "m.png", read_map_png)
    if arr is not None:
        assert arr.ndim == 2 and arr.dtype == np.float64


TABLE = b"id,image,text,map\nx,a.png,a dog,m.png\ny,a.png,\"b, c\",m.png\n"


@FUZZ
@given(st.one_of(mutated(TABLE), st.lists(rows, min_size=1, max_size=3).map(
    lambda rs: "".join(json.dumps(r) + "\n" for r in rs).encode())), st.booleans())
def test_fuzz_import_tables(content: bytes, as_jsonl: bool) -> None:
    with _folder() as root:
        images, maps = root / "images", root / "maps"
        images.mkdir()
        maps.mkdir()
        Image.new("RGB", (4, 3)).save(images / "a.png")
        Image.new("L", (4, 3), 5).save(maps / "m.png")
        texts = root / ("t.jsonl" if as_jsonl else "t.csv")
        texts.write_bytes(content)
        try:
            summary = import_dataset(images=images, maps=maps, texts=texts, out=root / "ds")
        except (*EXPECTED, FileNotFoundError) as exc:
            assert "t.jsonl" in str(exc) or "t.csv" in str(exc) or "does not exist" in str(exc)
            assert not (root / "ds").exists()
        else:
            assert len(read_dataset(root / "ds")) == summary.n_triplets
