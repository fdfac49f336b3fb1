"""Hostile input to the dataset readers, `vista import`, `vista figure` and `vista report`.

One case per class of issue 10 and per reader: paths that try to leave their folder,
outputs that would overwrite files vista did not write, and malformed files. Each case
runs the command line and checks the exit status (1: a user error, never 70: a bug),
that the message names the file and line, the triplet or the option, and that no file
outside the test's own folders changed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from dataset_fixtures import small_dataset
from PIL import Image

from vista.cli import cli
from vista.dataset import read_dataset
from vista.errors import DatasetError, ParseError

needs_viz = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                               reason="the viz extra (matplotlib) is not installed")



def _tree(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


class Guard:
    """The folders of one case: ``work`` (inputs and outputs), ``outside`` (a sentinel
    the command must not touch) and the current folder; :meth:`check` asserts that
    nothing outside ``work`` changed, nothing appeared beside the test's folder and
    nothing in ``work`` changed except under ``allowed``."""

    def __init__(self, tmp: Path) -> None:
        self.work, self.outside, self.cwd = tmp / "work", tmp / "outside", tmp / "cwd"
        for d in (self.work, self.outside, self.cwd):
            d.mkdir()
        (self.outside / "secret.npy").write_bytes(b"not yours")
        np.save(self.outside / "real.npy", np.ones((12, 16), np.float32))
        Image.new("RGB", (16, 12), (1, 2, 3)).save(self.outside / "photo.png")
        self.parent = tmp.parent
        self._siblings = sorted(os.listdir(self.parent))
        self._outside = _tree(self.outside)
        self._work: dict[str, tuple[int, int]] = {}

    def snapshot(self) -> None:
        self._work = _tree(self.work)

    def check(self, *allowed: Path) -> None:
        assert _tree(self.outside) == self._outside
        assert sorted(os.listdir(self.parent)) == self._siblings
        assert os.listdir(self.cwd) == []
        keep = [str(a.relative_to(self.work)) for a in allowed]
        now = {k: v for k, v in _tree(self.work).items()
               if not any(k == a or k.startswith(a + os.sep) for a in keep)}
        was = {k: v for k, v in self._work.items()
               if not any(k == a or k.startswith(a + os.sep) for a in keep)}
        assert now == was


@pytest.fixture
def guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Guard]:
    g = Guard(tmp_path)
    monkeypatch.chdir(g.cwd)
    yield g


def vista(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(result: Result, *fragments: str) -> None:
    """Exit status 1 (a user error, not the bug status 70) and every fragment named."""
    assert result.exit_code == 1, result.output
    for f in fragments:
        assert f in result.output, (f, result.output)
    assert "Traceback" not in result.output


def _rows(ds: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (ds / "triplets.jsonl").read_text().splitlines()]


def _write_rows(ds: Path, rows: list[Any]) -> None:
    (ds / "triplets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _score(guard: Guard, ds: Path, name: str = "run") -> Result:
    return vista("score", "--data", ds, "--model", "center", "--out", guard.work / name,
                 "--bootstrap", "20")


def _bomb_png(path: Path, size: int = 11000) -> None:
    """A PNG whose header claims ``size``×``size`` pixels (121 megapixels): the
    decompression-bomb shape, refused from the header before any pixel is decoded."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", size, size)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


# ------------------------------------------------- 1. paths stay inside their folder

def _set(name: str, index: int, key: str, value: Callable[[Guard], str], message: str
         ) -> Callable[[Path, Guard], str]:
    """An attack that sets one field of one triplets.jsonl line to ``value(guard)``."""
    def attack(ds: Path, guard: Guard) -> str:
        rows = _rows(ds)
        rows[index][key] = value(guard)
        _write_rows(ds, rows)
        return message
    attack.__name__ = name
    return attack


def _link(guard: Guard) -> str:
    os.symlink(guard.outside / "real.npy", guard.work / "ds" / "maps" / "link.npy")
    return "maps/link.npy"


PATH_ATTACKS = [
    _set("map-dotdot", 1, "map", lambda g: "../../outside/real.npy",
         "triplets.jsonl:2: map ../../outside/real.npy lies outside"),
    _set("map-absolute", 0, "map", lambda g: str(g.outside / "real.npy"),
         "triplets.jsonl:1: map"),
    _set("map-link", 2, "map", _link, "triplets.jsonl:3: map maps/link.npy lies outside"),
    _set("fixations-dotdot", 0, "fixations", lambda g: "../../outside/real.npy",
         "triplets.jsonl:1: fixations"),
    _set("image-dotdot", 3, "image", lambda g: "images/../../outside/photo.png",
         "triplets.jsonl:4: image 'images/../../outside/photo.png' leads out of the dataset"),
]


@pytest.mark.parametrize("attack", PATH_ATTACKS, ids=lambda f: f.__name__)
def test_dataset_paths_stay_inside(guard: Guard, attack: Callable[[Path, Guard], str]) -> None:
    ds = small_dataset(guard.work)
    message = attack(ds, guard)
    guard.snapshot()
    refused(_score(guard, ds), message)
    guard.check(guard.work / "run")
    with pytest.raises(ParseError, match=r"triplets\.jsonl"):
        read_dataset(ds)


def test_absolute_image_paths_are_read_as_documented(guard: Guard) -> None:
    """The one documented way out of the folder: an absolute image path."""
    ds = small_dataset(guard.work)
    rows = _rows(ds)
    rows[0]["image"] = str(guard.outside / "photo.png")
    _write_rows(ds, rows)
    data = read_dataset(ds)
    assert data.load_image(data.triplets[0]).shape == (12, 16, 3)


def _run_with_ids(guard: Guard, ids: list[str], images: list[str]) -> Path:
    """A dataset written by hand with these triplet ids and image paths, scored."""
    ds = guard.work / "ds"
    (ds / "maps").mkdir(parents=True)
    rng = np.random.default_rng(1)
    rows = []
    for k, (tid, image) in enumerate(zip(ids, images, strict=True)):
        (ds / image).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(ds / image)
        np.save(ds / "maps" / f"m{k}.npy", np.full((12, 16), 1 / 192, np.float32))
        rows.append({"triplet_id": tid, "image": image, "text": f"thing {k}",
                     "map": f"maps/m{k}.npy"})
    _write_rows(ds, rows)
    assert _score(guard, ds).exit_code == 0
    return guard.work / "run"


@needs_viz
def test_figure_names_are_injective_and_stay_in_the_run(guard: Guard) -> None:
    """A triplet id with '/' and '..' is one encoded file name in the run's figures,
    and images/a_b/x.png and images/a/b/x.png get a figure each."""
    ids = ["../../../outside/evil", "a/b", "a_b"]
    run = _run_with_ids(guard, ids, ["images/a_b/x.png", "images/a/b/x.png", "images/y.png"])
    guard.snapshot()
    result = vista("figure", run, "--all-triplets", "--format", "png", "--no-leaderboard",
                   "--jobs", "1")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (run / "figures").iterdir() if p.suffix == ".png")
    assert names == sorted([
        "image-images%2Fa_b%2Fx.png.png", "image-images%2Fa%2Fb%2Fx.png.png",
        "image-images%2Fy.png.png", "triplet-%2E.%2F..%2F..%2Foutside%2Fevil.png",
        "triplet-a%2Fb.png", "triplet-a_b.png"])
    assert "wrote 6 file(s)" in result.output
    guard.check(run / "figures")


def test_import_paths_stay_inside_their_folders(guard: Guard) -> None:
    images, maps = guard.work / "images", guard.work / "maps"
    images.mkdir()
    maps.mkdir()
    Image.new("RGB", (4, 3)).save(images / "a.png")
    Image.new("L", (4, 3), 9).save(maps / "m.png")
    for k, (image, hmap, what) in enumerate([
            ("../outside/photo.png", "m.png", "'../outside/photo.png' must be a path relative "
                                              "to --images"),
            (str(guard.outside / "photo.png"), "m.png", "must be a path relative to --images"),
            ("a.png", "../../outside/x.png", "must be a path relative to --maps")]):
        texts = guard.work / f"t{k}.csv"
        texts.write_text(f"id,image,text,map\nx,{image},a dog,{hmap}\n")
        guard.snapshot()
        refused(vista("import", "--images", images, "--maps", maps, "--texts", texts,
                      "--out", guard.work / f"ds{k}"), f"t{k}.csv:2:", what)
        guard.check()


# ------------------------------------------------------- 2. never overwrite

@pytest.fixture
def run_dir(guard: Guard) -> Path:
    ds = small_dataset(guard.work)
    assert _score(guard, ds).exit_code == 0
    return guard.work / "run"


@needs_viz
def test_report_never_overwrites_what_it_did_not_write(guard: Guard, run_dir: Path) -> None:
    guard.snapshot()
    refused(vista("report", run_dir, "--out", run_dir / "summary.json", "--max-images", "0"),
            "summary.json exists and is not this run's vista report")
    mine = guard.work / "notes.html"
    mine.write_text("<!DOCTYPE html><p>my notes</p>")
    guard.snapshot()
    refused(vista("report", run_dir, "--out", mine, "--max-images", "0"), "notes.html")
    guard.check()
    page = guard.work / "page.html"
    for _ in range(2):  # the second call replaces the report it wrote
        assert vista("report", run_dir, "--out", page, "--max-images", "0").exit_code == 0
    other = guard.work / "other-run"
    assert vista("score", "--data", guard.work / "ds", "--model", "uniform", "--out", other,
                 "--bootstrap", "20").exit_code == 0
    guard.snapshot()
    refused(vista("report", other, "--out", page, "--max-images", "0"), "page.html")
    guard.check()


@needs_viz
def test_figure_out_refuses_folders_it_did_not_write(guard: Guard, run_dir: Path) -> None:
    mine = guard.work / "mine"
    mine.mkdir()
    (mine / "leaderboard-ncc.png").write_bytes(b"my own figure")
    guard.snapshot()
    refused(vista("figure", run_dir, "--out", mine), "mine is not empty and is not a vista "
                                                    "figure folder")
    guard.check()
    figs = guard.work / "figs"
    for _ in range(2):  # a figure folder of the same run is redrawn
        assert vista("figure", run_dir, "--out", figs, "--format", "png").exit_code == 0
    (figs / "leaderboard-ncc.pdf").write_bytes(b"dropped here by hand")
    guard.snapshot()
    refused(vista("figure", run_dir, "--out", figs, "--format", "pdf"),
            "leaderboard-ncc.pdf exists and was not written by vista figure")
    guard.check()
    other = guard.work / "other-run"
    assert vista("score", "--data", guard.work / "ds", "--model", "uniform", "--out", other,
                 "--bootstrap", "20").exit_code == 0
    guard.snapshot()
    refused(vista("figure", other, "--out", figs), "holds the figures of another run")
    guard.check()


@needs_viz
def test_figure_folder_is_claimed(guard: Guard, run_dir: Path) -> None:
    """A lock held by a live process is honoured; a stale one is named, not removed."""
    figs = run_dir / "figures"
    figs.mkdir()
    lock = figs / ".vista.lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    guard.snapshot()
    refused(vista("figure", run_dir), f"is in use by process {os.getpid()}")
    guard.check()
    lock.write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))
    refused(vista("figure", run_dir), "stale lock", str(lock))
    assert lock.exists()


# ------------------------------------------------ 4. malformed files, one line each

def _dataset_json_list(ds: Path) -> tuple[str, ...]:
    (ds / "dataset.json").write_text("[1, 2]\n")
    return "dataset.json: the top level must be an object; got list",


def _field(index: int, key: str, value: Any, message: str) -> Callable[[Path], tuple[str, ...]]:
    def attack(ds: Path) -> tuple[str, ...]:
        rows = _rows(ds)
        rows[index][key] = value
        _write_rows(ds, rows)
        return f"triplets.jsonl:{index + 1}:", message
    attack.__name__ = f"{key}={json.dumps(value)}"
    return attack


def _not_json(ds: Path) -> tuple[str, ...]:
    with open(ds / "triplets.jsonl", "a") as fh:
        fh.write("{oops\n")
    return "triplets.jsonl:7: invalid JSON",


def _line_is_list(ds: Path) -> tuple[str, ...]:
    with open(ds / "triplets.jsonl", "a") as fh:
        fh.write('["a", "b"]\n')
    return "triplets.jsonl:7: each line must be a JSON object",


def _fifo(name: str) -> Callable[[Path], tuple[str, ...]]:
    def attack(ds: Path) -> tuple[str, ...]:
        os.remove(ds / name)
        os.mkfifo(ds / name)
        return name, "not a regular file"
    attack.__name__ = f"fifo-{name}"
    return attack


@pytest.mark.parametrize("attack", [
    _dataset_json_list, _not_json, _line_is_list,
    _field(0, "text", None, "'text' must be a string; got null"),
    _field(0, "text", ["a", "b"], "'text' must be a string; got [\"a\", \"b\"]"),
    _field(1, "triplet_id", None, "'triplet_id' must be a non-empty string; got null"),
    _field(1, "triplet_id", ["a"], "'triplet_id' must be a non-empty string"),
    _field(2, "map", 7, "'map' must be a non-empty string; got 7"),
    _field(2, "meta", "x", "'meta' must be an object"),
    _fifo("triplets.jsonl"), _fifo("dataset.json"),
], ids=lambda f: f.__name__)
def test_malformed_index_files(guard: Guard, attack: Callable[[Path], tuple[str, ...]]) -> None:
    ds = small_dataset(guard.work)
    fragments = attack(ds)
    guard.snapshot()
    refused(_score(guard, ds), *fragments)
    guard.check(guard.work / "run")


def _forged_npy() -> bytes:
    """A .npy header promising a 100000×100000 float64 array (80 GB) over 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False,
                                               "shape": (100000, 100000)})
    return buf.getvalue() + b"\0" * 16


def _npy(name: str, writer: Callable[[Path], object],
         message: str) -> Callable[[Path], tuple[str, ...]]:
    def attack(ds: Path) -> tuple[str, ...]:
        target = ds / "maps" / "i0-s0.npy"
        os.remove(target)
        writer(target)
        return "i0-s0", "maps/i0-s0.npy", message
    attack.__name__ = name
    return attack


@pytest.mark.parametrize("attack", [
    _npy("empty", lambda p: p.write_bytes(b""), "human map is not a .npy file"),
    _npy("fifo", lambda p: os.mkfifo(p), "not a regular file"),
    _npy("strings", lambda p: np.save(p, np.array([["a", "b"]])), "must hold real numbers; got strings"),
    _npy("complex", lambda p: np.save(p, np.ones((12, 16), complex)), "got complex numbers"),
    _npy("pickled", lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "pickled"),
    _npy("garbage-header", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "unreadable .npy header"),
    _npy("forged-shape", lambda p: p.write_bytes(
                                 _forged_npy()), "cut short or padded"),
    _npy("npz", lambda p: np.savez(open(p, "wb"), a=np.ones(3)), "an .npz archive"),
    _npy("nan", lambda p: np.save(p, np.full((12, 16), np.nan)), "must be a finite"),
], ids=lambda f: f.__name__)
def test_malformed_maps(guard: Guard, attack: Callable[[Path], tuple[str, ...]]) -> None:
    """Every bad map is named with its triplet; the run stops before scoring."""
    ds = small_dataset(guard.work)
    fragments = attack(ds)
    guard.snapshot()
    refused(_score(guard, ds), *fragments)
    guard.check(guard.work / "run")
    data = read_dataset(ds)
    with pytest.raises(DatasetError, match="i0-s0"):
        data.load_map(data["i0-s0"])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_malformed_images(guard: Guard) -> None:
    """A decompression bomb and a FIFO in place of an image: refused by every reader that
    opens images (dataset, figures' image loader, import's image and map readers)."""
    ds = small_dataset(guard.work)
    _bomb_png(ds / "images" / "img0.png")
    data = read_dataset(ds)
    with pytest.raises(DatasetError, match=r"i0-s0.*img0.png.*over the limit"):
        data.load_image(data["i0-s0"])
    os.remove(ds / "images" / "img1.png")
    os.mkfifo(ds / "images" / "img1.png")
    with pytest.raises(DatasetError, match=r"img1.png.*not a regular file"):
        data.load_image(data["i1-s0"])
    guard.snapshot()
    refused(_score(guard, ds), "img0.png", "img1.png")
    guard.check(guard.work / "run")
    images, maps = guard.work / "imp-images", guard.work / "imp-maps"
    images.mkdir()
    maps.mkdir()
    _bomb_png(images / "big.png")
    Image.new("RGB", (4, 3)).save(images / "ok.png")
    Image.new("L", (4, 3), 1).save(maps / "m.png")
    _bomb_png(maps / "bomb.png")
    for k, (image, hmap, named) in enumerate([("big.png", "m.png", "big.png"),
                                              ("ok.png", "bomb.png", "bomb.png")]):
        texts = guard.work / f"t{k}.csv"
        texts.write_text(f"id,image,text,map\nx,{image},a,{hmap}\n")
        guard.snapshot()
        refused(vista("import", "--images", images, "--maps", maps, "--texts", texts, "--out",
                      guard.work / f"out{k}"), named, "over the limit")
        guard.check()


@pytest.mark.parametrize("row, message", [
    pytest.param({"image": "a.png", "text": None}, "t.jsonl:1: empty text", id="text-null"),
    pytest.param({"image": "a.png", "text": ["a", "b"]}, "t.jsonl:1: text ('text') must be a "
                 "string", id="text-list"),
    pytest.param({"id": ["x"], "image": "a.png", "text": "a"}, "t.jsonl:1: id ('id') must be a "
                 "string", id="id-list"),
    pytest.param({"id": True, "image": "a.png", "text": "a"}, "id ('id') must be a string",
                 id="id-bool"),
    pytest.param({"image": 3, "text": "a"}, "t.jsonl:1: image ('image') must be a string",
                 id="image-number"),
])
def test_import_rows_are_typed(guard: Guard, row: dict[str, Any], message: str) -> None:
    images, maps = guard.work / "images", guard.work / "maps"
    images.mkdir()
    maps.mkdir()
    Image.new("RGB", (4, 3)).save(images / "a.png")
    texts = guard.work / "t.jsonl"
    texts.write_text(json.dumps(row) + "\n")
    guard.snapshot()
    refused(vista("import", "--images", images, "--maps", maps, "--texts", texts, "--out",
                  guard.work / "ds"), message)
    guard.check()


def test_import_texts_file_that_is_not_csv(guard: Guard) -> None:
    images, maps = guard.work / "images", guard.work / "maps"
    images.mkdir()
    maps.mkdir()
    texts = guard.work / "t.csv"
    texts.write_bytes(b"id,image,text\nx,a.png,\"a\0b\n")
    guard.snapshot()
    result = vista("import", "--images", images, "--maps", maps, "--texts", texts, "--out",
                   guard.work / "ds")
    refused(result, "t.csv")
    guard.check()


@needs_viz
def test_report_and_figure_options_are_checked_first(guard: Guard, run_dir: Path) -> None:
    guard.snapshot()
    refused(vista("figure", run_dir, "--triplet", "nope"), "no triplet 'nope'")
    refused(vista("figure", run_dir, "--model", "blip"), "models must be among")
    refused(vista("figure", run_dir, "--cmap", "nope"), "cmap must be a matplotlib colormap")
    assert vista("figure", run_dir, "--dpi", "100000").exit_code == 2
    assert vista("report", run_dir, "--dpi", "0").exit_code == 2
    assert vista("figure", run_dir, "--jobs", "100000").exit_code == 2
    guard.check()
    assert not (run_dir / "figures").exists() and not (run_dir / "report.html").exists()
