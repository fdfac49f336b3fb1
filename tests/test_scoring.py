"""vista.scoring: per-triplet scores, summaries, the map cache, resume and bad datasets."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vista.dataset import DatasetWriter, read_dataset
from vista.errors import DatasetError
from vista.records import SaliencyMap, Triplet
from vista.scoring import (
    DEFAULT_METRICS,
    center_bias_map,
    demo_dataset_path,
    format_table,
    map_cache_key,
    score,
)
from vista.scoring.runfolder import file_sha256

DEMO = demo_dataset_path()


# --------------------------------------------------------------------------- helpers


class StubSource:
    """A cacheable model: the human map's square plus noise, counting its batches.

    ``fail_after`` raises KeyboardInterrupt on that batch (0-based), like Ctrl-C.
    """

    cacheable = True

    def __init__(self, name: str = "stub", *, option: int = 1,
                 fail_after: int | None = None) -> None:
        self.name = name
        self.option = option
        self.fail_after = fail_after
        self.batches: list[list[str]] = []
        self.dataset: Any = None

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "explainer", "model": self.name, "model_id": "stub/none",
                "revision": "r1", "method": "square", "options": {"option": self.option}}

    def prepare(self, dataset: Any) -> dict[str, str]:
        self.dataset = dataset
        return {}

    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Triplet]
             ) -> list[SaliencyMap]:
        if self.fail_after is not None and len(self.batches) == self.fail_after:
            raise KeyboardInterrupt
        self.batches.append([t.triplet_id for t in triplets])
        out = []
        for t in triplets:
            h = self.dataset.load_map(t).astype(np.float64)
            noise = np.random.default_rng(len(t.text)).random(h.shape) * h.max() * 0.3
            out.append(SaliencyMap(h ** 2 + noise, self.name, "square", {"option": self.option}))
        return out


def _n_images(ds: Any) -> int:
    return len({t.image_path for t in ds})


# --------------------------------------------------------------------------- scores


def test_demo_center_uniform_in_memory() -> None:
    """Each row's NCC equals vista.metrics.ncc of the centre map against the human map
    computed directly (the reference), and a constant map scores AUC exactly 0.5."""
    from vista.metrics import ncc

    ds = read_dataset(DEMO)
    res = score(ds, ["center", "uniform"], n_boot=50)
    assert res.out is None
    assert len(res.rows) == 2 * len(ds)
    assert [r["model"] for r in res.rows[:2]] == ["center", "uniform"]
    for r in res.rows[:6]:
        if r["model"] != "center":
            continue
        t = ds[r["triplet_id"]]
        human = ds.load_map(t)
        assert r["ncc"] == pytest.approx(ncc(center_bias_map(human.shape), human), abs=1e-12)
    uni = [r for r in res.rows if r["model"] == "uniform"]
    assert all(r["auc_borji"] == 0.5 for r in uni)
    assert all(math.isnan(r["ncc"]) for r in uni)
    s = res.summary
    assert s["dataset"]["synthetic"] is True
    assert s["results"]["uniform"]["ncc"]["n_nan"] == len(ds)
    assert s["warnings"]["uniform"]["ncc"]  # the metric's warning is counted, not lost
    c = s["results"]["center"]["auc_borji"]
    assert c["low"] <= c["mean"] <= c["high"]
    assert s["comparisons"]["uniform"]["auc_borji"]["vs"] == "center"
    assert res.mean("center", "ncc") == pytest.approx(
        np.mean([r["ncc"] for r in res.rows if r["model"] == "center"]))


def test_same_seed_same_numbers_and_shared_draws(tmp_path: Path) -> None:
    data = _small_dataset(tmp_path)
    a = score(data, ["center"], n_boot=20, rng=3)
    b = score(data, ["center"], n_boot=20, rng=3)
    c = score(data, ["center"], n_boot=20, rng=4)
    assert a.rows == b.rows and a.summary["results"] == b.summary["results"]
    assert [r["auc_borji"] for r in a.rows] != [r["auc_borji"] for r in c.rows]
    # the draws depend on (seed, triplet, metric), not on which other models run
    d = score(data, ["uniform", "center"], n_boot=20, rng=3)
    center_d = [r for r in d.rows if r["model"] == "center"]
    assert center_d == a.rows


def test_outputs_written(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = score(DEMO, ["center", "uniform"], out=out, n_boot=30, paper=True, metrics=["nss"])
    assert res.out == out
    with open(out / "scores.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["triplet_id", "model", *DEFAULT_METRICS, "nss"]
    assert len(rows) == 1 + 2 * len(read_dataset(DEMO))
    def no_constants(name: str) -> None:
        raise AssertionError(f"summary.json holds {name}: not strict JSON")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=no_constants)
    assert summary["results"]["uniform"]["ncc"]["mean"] is None  # undefined: null
    cell = summary["results"]["center"]["ncc"]
    assert set(cell) >= {"mean", "low", "high", "n", "paper"} and len(cell["paper"]) == 5
    assert summary["models"]["center"]["options"] == {"sigma_fraction": 0.25}
    assert summary["seed"] == 0 and summary["vista_version"]
    assert summary["metrics"]["nss"]["needs"] == "fixations"
    assert summary["dataset"]["provenance"]["synthetic"] is True
    md = (out / "summary.md").read_text()
    assert "SYNTHETIC" in md and "| center |" in md
    table = format_table(summary)
    assert "center" in table and "NCC" in table and "paired bootstrap" in table


@pytest.mark.parametrize("kwargs, message", [
    pytest.param({"models": ["center"], "metrics": ["cc"]}, "metric must be one of", id="metric"),
    pytest.param({"models": ["no-such-model"]}, "model must be one of", id="model"),
    pytest.param({"models": ["center:x"]}, "takes no recipe", id="baseline-recipe"),
    pytest.param({"models": ["clip:"]}, "recipe after ':' must be", id="empty-recipe"),
    pytest.param({"models": ["center"], "n_boot": 10**9}, "at most 100000", id="n_boot-huge"),
    pytest.param({"models": ["center"], "rng": 2**64}, "2\\*\\*63", id="seed-huge"),
    pytest.param({"models": ["center"], "executor": "processes:0"}, "processes:N",
                 id="executor"),
    pytest.param({"models": ["center", "center"]}, "distinct", id="duplicate-model"),
    pytest.param({"models": []}, "at least one", id="no-model"),
    pytest.param({"models": ["center"], "weights": "/tmp"}, "weights applies to exactly one",
                 id="weights"),
    pytest.param({"models": ["center"], "interval": "bootstrap"}, "interval must be one of",
                 id="interval"),
    pytest.param({"models": ["center"], "n_boot": 1}, "n_boot must be >= 2", id="n_boot"),
    pytest.param({"models": ["center"], "confidence": 1.5}, "confidence", id="confidence"),
    pytest.param({"models": ["external:"]}, "needs a folder", id="external-empty"),
])
def test_bad_options(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score(tmp_path, **kwargs)


# --------------------------------------------------------------------------- cache


def test_cache_hit_and_miss(tmp_path: Path) -> None:
    ds = read_dataset(_small_dataset(tmp_path))
    out = tmp_path / "run"
    stub = StubSource()
    first = score(ds, [stub], out=out, n_boot=20)
    # texts of one image are explained in one batch
    assert len(stub.batches) == _n_images(ds)
    assert sum(len(b) for b in stub.batches) == len(ds)
    cached = sorted((out / "maps" / "stub").glob("*.npy"))
    assert len(cached) == len(ds)
    mtimes = {p: p.stat().st_mtime_ns for p in cached}

    # rerun of the finished run: nothing to compute, same numbers
    stub2 = StubSource()
    again = score(ds, [stub2], out=out, n_boot=20)
    assert stub2.batches == [] and again.rows == first.rows

    # extend with a metric: the maps come from the cache (hit), old values kept
    stub3 = StubSource()
    more = score(ds, [stub3], out=out, n_boot=20, metrics=["sim"])
    assert stub3.batches == []
    assert all("sim" in r for r in more.rows)
    assert [r["ncc"] for r in more.rows] == [r["ncc"] for r in first.rows]
    assert {p: p.stat().st_mtime_ns for p in cached} == mtimes

    # without the cache the model runs again (miss), and gives the same maps
    stub4 = StubSource()
    nocache = score(ds, [stub4], out=out, n_boot=20, metrics=["sim", "kld"], cache=False)
    assert len(stub4.batches) == _n_images(ds)
    assert [r["sim"] for r in nocache.rows] == [r["sim"] for r in more.rows]


def test_cache_key_changes_with_options(tmp_path: Path) -> None:
    ds = read_dataset(_small_dataset(tmp_path))
    score(ds, [StubSource(option=1)], out=tmp_path / "a", n_boot=20)
    # a model with other options is another model: another run folder, other keys
    with pytest.raises(FileExistsError, match="models"):
        score(ds, [StubSource(option=2)], out=tmp_path / "a", n_boot=20)
    t = ds.triplets[0]
    sha = file_sha256(t.image_path)
    k1 = map_cache_key(sha, t.text, StubSource(option=1).params)
    k2 = map_cache_key(sha, t.text, StubSource(option=2).params)
    assert k1 != k2
    assert (tmp_path / "a" / "maps" / "stub" / f"{k1}.npy").is_file()


def test_unreadable_cache_entry_recomputed(tmp_path: Path) -> None:
    ds = read_dataset(_small_dataset(tmp_path))
    score(ds, [StubSource()], out=tmp_path / "a", n_boot=20)
    victim = sorted((tmp_path / "a" / "maps" / "stub").glob("*.npy"))[0]
    victim.write_bytes(b"not an npy file")
    stub = StubSource()
    score(ds, [stub], out=tmp_path / "a", n_boot=20, metrics=["sim"])
    assert sum(len(b) for b in stub.batches) == 1
    assert np.load(victim).ndim == 2
    # a readable .npy whose bytes are not the recorded ones (cache entries are not
    # fsynced: a power cut may leave zeros) is a miss too, never a silent wrong map
    good = np.load(victim)
    np.save(victim, np.zeros_like(good))
    stub = StubSource()
    score(ds, [stub], out=tmp_path / "a", n_boot=20, metrics=["sim", "kld"])
    assert sum(len(b) for b in stub.batches) == 1
    np.testing.assert_array_equal(np.load(victim), good)


# --------------------------------------------------------------------------- resume


def test_resume_after_interrupt(tmp_path: Path) -> None:
    ds = read_dataset(_small_dataset(tmp_path))
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        score(ds, [StubSource(fail_after=2), "center"], out=out, n_boot=20)
    partial = (out / "scores.partial.jsonl").read_text().splitlines()
    scored = {(json.loads(x)["triplet_id"], json.loads(x)["model"]) for x in partial}
    assert len(scored) > 0 and not (out / "summary.json").exists()
    # a line cut short by a crash is ignored and scored again
    with open(out / "scores.partial.jsonl", "a") as fh:
        fh.write('{"triplet_id": "i2-')
    stub = StubSource()
    progress: list[tuple[int, int]] = []
    resumed = score(ds, [stub, "center"], out=out, n_boot=20,
                    progress=lambda d, n: progress.append((d, n)))
    # only the images not finished before the interrupt are explained again
    assert len(stub.batches) == _n_images(ds) - 2
    assert progress[0][0] == len(scored) and progress[-1] == (2 * len(ds), 2 * len(ds))
    whole = score(ds, [StubSource(), "center"], out=tmp_path / "whole", n_boot=20)
    assert resumed.rows == whole.rows
    assert resumed.summary["results"] == whole.summary["results"]


def test_other_configuration_refused(tmp_path: Path) -> None:
    data = _small_dataset(tmp_path, observers=2)
    out = tmp_path / "run"
    score(data, ["center", "uniform"], out=out, n_boot=20)
    before = (out / "summary.json").read_bytes()
    with pytest.raises(FileExistsError, match="seed"):
        score(data, ["center", "uniform"], out=out, n_boot=20, rng=1)
    with pytest.raises(FileExistsError, match="models"):
        score(data, ["uniform"], out=out, n_boot=20)
    with pytest.raises(FileExistsError, match="n_boot"):
        score(data, ["center", "uniform"], out=out, n_boot=30)
    assert (out / "summary.json").read_bytes() == before
    # adding a model after the run's own extends it; the old numbers stay the same
    ext = score(data, ["center", "uniform", "observers"], out=out, n_boot=20)
    old = json.loads(before)
    assert ext.summary["results"]["center"] == old["results"]["center"]
    run = json.loads((out / "run.json").read_text())
    assert len(run["previous_configs"]) == 1
    # a map rewritten under the run: its numbers would no longer match the dataset
    victim = read_dataset(data).triplets[0].human_map_path
    np.save(victim, np.load(victim) * 2)
    with pytest.raises(FileExistsError, match="dataset_fingerprint"):
        score(data, ["center", "uniform", "observers"], out=out, n_boot=20)


@pytest.mark.parametrize("name", ["scores.csv", "summary.md", "notes.txt"])
def test_non_empty_folder_without_a_run_refused(tmp_path: Path, name: str) -> None:
    """A folder that holds anything but a vista run is never written into: its
    summary.md (or any file) could otherwise be overwritten."""
    data = _small_dataset(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / name).write_text("mine\n")
    with pytest.raises(FileExistsError, match=r"not empty and holds no vista scoring run"):
        score(data, ["center"], out=tmp_path / "out", n_boot=20)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [name]
    assert (tmp_path / "out" / name).read_text() == "mine\n"


# --------------------------------------------------------------------------- bad datasets


def test_incomplete_dataset_needs_skip_bad(tmp_path: Path) -> None:
    """A dataset whose `vista maps` run did not finish is refused, unless the caller
    asks to score what it holds."""
    data = _small_dataset(tmp_path)
    info_path = Path(data) / "dataset.json"
    info = json.loads(info_path.read_text())
    info.setdefault("provenance", {})["status"] = "incomplete: vista maps did not finish"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="is incomplete"):
        score(data, ["center"], out=tmp_path / "a", n_boot=20)
    result = score(data, ["center"], out=tmp_path / "b", n_boot=20, skip_bad=True)
    assert (tmp_path / "b" / "summary.json").is_file() and result is not None


def _small_dataset(root: Path, *, observers: int = 1) -> Path:
    from PIL import Image

    img_dir = root / "src"
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    with DatasetWriter(root / "ds", name="small") as w:
        for i in range(3):
            path = img_dir / f"img{i}.png"
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(path)
            rel = w.add_image(path)
            for k in range(2):
                for o in range(observers):
                    m = np.zeros((12, 16), np.float32)
                    m[2 + 3 * k + o, 3 + 4 * i] = 1.0
                    m = m + 0.01
                    fix = np.array([[3.0 + 4 * i, 2.0 + 3 * k + o, 250.0]])
                    w.add(f"i{i}-s{k}" + (f"-o{o}" if observers > 1 else ""), image=rel,
                          text=f"thing {k}", human_map=m / m.sum(), fixations=fix,
                          meta={"observer": f"P{o}"})
    return root / "ds"


def _break(ds_dir: Path, how: str) -> None:
    lines = (ds_dir / "triplets.jsonl").read_text().splitlines()
    rows = [json.loads(x) for x in lines]
    if how == "missing-image":
        rows[1]["image"] = "images/gone.png"
    elif how == "missing-map":
        os.remove(ds_dir / rows[1]["map"])
    elif how == "map-size":
        np.save(ds_dir / rows[1]["map"], np.ones((5, 5), np.float32) / 25)
    elif how == "empty-text":
        rows[1]["text"] = "   "
    elif how == "duplicate-id":
        rows.append(dict(rows[1]))
    (ds_dir / "triplets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("how, message", [
    pytest.param("missing-image", "image .*gone.png is missing", id="missing-image"),
    pytest.param("missing-map", "human map .* is missing", id="missing-map"),
    pytest.param("map-size", r"shape \(5, 5\), the image img0.png is \(12, 16\)", id="map-size"),
    pytest.param("empty-text", "empty text", id="empty-text"),
    pytest.param("duplicate-id", "duplicate id", id="duplicate-id"),
])
def test_bad_dataset(tmp_path: Path, how: str, message: str) -> None:
    ds_dir = _small_dataset(tmp_path)
    _break(ds_dir, how)
    with pytest.raises(DatasetError, match="i0-s1") as info:
        score(ds_dir, ["center"], n_boot=20)
    assert info.match(message)
    res = score(ds_dir, ["center"], n_boot=20, skip_bad=True, out=tmp_path / "run")
    assert "i0-s1" in res.skipped
    assert {r["triplet_id"] for r in res.rows} == {"i0-s0", "i1-s0", "i1-s1", "i2-s0", "i2-s1"}
    assert "i0-s1" in format_table(res.summary)


def test_fixation_metric_needs_fixations(tmp_path: Path) -> None:
    ds_dir = _small_dataset(tmp_path)
    rows = [json.loads(x) for x in (ds_dir / "triplets.jsonl").read_text().splitlines()]
    del rows[0]["fixations"]
    (ds_dir / "triplets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DatasetError, match=r"i0-s0.*nss need fixations"):
        score(ds_dir, ["center"], metrics=["nss"], n_boot=20)
    res = score(ds_dir, ["center"], metrics=["nss", "auc_shuffled"], n_boot=20, skip_bad=True)
    assert len(res.rows) == 5 and all(np.isfinite(r["nss"]) for r in res.rows)


# --------------------------------------------------------------------------- baselines rows


def test_external_maps(tmp_path: Path) -> None:
    ds_dir = _small_dataset(tmp_path)
    ext = tmp_path / "ext"
    ext.mkdir()
    ds = read_dataset(ds_dir)
    for t in ds.triplets[:-1]:
        np.save(ext / f"{t.triplet_id}.npy", ds.load_map(t))
    name = f"external:{ext}"
    with pytest.raises(FileNotFoundError, match="i2-s1"):
        score(ds, [name], n_boot=20)
    res = score(ds, [name], n_boot=20, skip_bad=True)
    assert len(res.rows) == len(ds) - 1
    assert all(r["ncc"] == pytest.approx(1.0) for r in res.rows)  # the human maps themselves
    assert res.summary["skipped"]["per_model"]["external:ext"] == {"i2-s1": "no map file"}


def test_inter_observer_ceiling(tmp_path: Path) -> None:
    """Two observers per image and text: each observer's map is predicted by the other's,
    so the ceiling's NCC for a triplet is the NCC between the two observers' maps."""
    from vista.metrics import ncc

    ds_dir = _small_dataset(tmp_path, observers=2)
    ds = read_dataset(ds_dir)
    res = score(ds, ["observers", "center"], n_boot=20)
    assert len(res.rows) == 2 * len(ds)
    for r in res.rows:
        if r["model"] == "observers":
            me = ds[r["triplet_id"]]
            other = ds[r["triplet_id"][:-1] + ("1" if me.triplet_id.endswith("0") else "0")]
            assert r["ncc"] == pytest.approx(ncc(ds.load_map(other), ds.load_map(me)))


def test_inter_observer_without_observers_stops(tmp_path: Path) -> None:
    """The observers row on a one-observer dataset is an error naming the row, not a
    table of NaN; on a dataset where some images have one observer, those are skipped."""
    with pytest.raises(DatasetError, match="'observers' cannot score any of the 24"):
        score(DEMO, ["center", "observers"], n_boot=20, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_reads_back_maps(tmp_path: Path) -> None:
    """A finished run gives back each model's map: explainers from the cache (None when
    the run cached nothing), baselines recomputed."""
    from vista.scoring import Run, read_run

    data = _small_dataset(tmp_path)
    score(data, [StubSource(), "center"], out=tmp_path / "a", n_boot=20)
    run = Run(tmp_path / "a")
    t = run.dataset.triplets[0]
    stub = StubSource()
    stub.prepare(run.dataset)
    expected = stub.maps(run.dataset.load_image(t), [t.text], [t])[0].values
    np.testing.assert_array_equal(run.model_map(t, "stub"), expected)
    center = run.model_map(t, "center")
    assert center is not None
    np.testing.assert_allclose(center, center_bias_map((12, 16)))
    assert run.models == ["stub", "center"] and run.metrics == list(DEFAULT_METRICS)
    assert run.scores[(t.triplet_id, "center")]["ncc"] == pytest.approx(
        score(data, ["center"], n_boot=20).rows[0]["ncc"])
    score(data, [StubSource()], out=tmp_path / "b", n_boot=20, cache=False)
    assert Run(tmp_path / "b").model_map(t, "stub") is None
    with pytest.raises(FileNotFoundError, match="interrupted"):
        (tmp_path / "b" / "summary.json").unlink()
        read_run(tmp_path / "b")


def test_resume_after_cut_line_keeps_the_next_row(tmp_path: Path) -> None:
    """A line cut short by a crash must not swallow the first row the resumed run
    appends: a third run into the folder finds every row and explains nothing."""
    ds = read_dataset(_small_dataset(tmp_path))
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        score(ds, [StubSource(fail_after=1)], out=out, n_boot=20)
    with open(out / "scores.partial.jsonl", "a") as fh:
        fh.write('{"triplet_id": "i2-')
    score(ds, [StubSource()], out=out, n_boot=20)
    third = StubSource()
    score(ds, [third], out=out, n_boot=20, cache=False)
    assert third.batches == []


def test_changed_external_maps_are_not_resumed(tmp_path: Path) -> None:
    """Maps replaced in an external folder must not resume a run scored on the old
    ones (which would report the old numbers as the new maps' scores)."""
    ds = read_dataset(_small_dataset(tmp_path))
    ext = tmp_path / "ext"
    ext.mkdir()
    for t in ds:
        np.save(ext / f"{t.triplet_id}.npy", ds.load_map(t))
    out = tmp_path / "run"
    score(ds, [f"external:{ext}"], out=out, n_boot=20)
    victim = ext / f"{ds.triplets[0].triplet_id}.npy"
    np.save(victim, center_bias_map(ds.load_map(ds.triplets[0]).shape) + 1.0)
    os.utime(victim, ns=(1, 1))  # a different modification time, whatever the clock
    with pytest.raises(FileExistsError, match="models"):
        score(ds, [f"external:{ext}"], out=out, n_boot=20)


def test_summary_names_the_dataset_version(tmp_path: Path) -> None:
    """summary.json alone identifies the dataset's state that was scored: the fingerprint
    of its index and files that run.json records."""
    out = tmp_path / "run"
    res = score(_small_dataset(tmp_path), ["center"], out=out, n_boot=20)
    config = json.loads((out / "run.json").read_text())["config"]
    assert res.summary["dataset"]["fingerprint"] == config["dataset_fingerprint"]
    assert json.loads((out / "summary.json").read_text())["dataset"]["fingerprint"]


def test_skip_bad_with_nothing_left_raises(tmp_path: Path) -> None:
    """--skip-bad on a dataset whose every triplet is bad is an error naming the reasons,
    not a table of NaN presented as results."""
    data = _small_dataset(tmp_path)
    for p in (data / "maps").glob("*.npy"):
        p.unlink()
    with pytest.raises(DatasetError, match=r"no triplet left to score.*human map .* is missing"):
        score(data, ["center"], out=tmp_path / "run", n_boot=20, skip_bad=True)
    assert not (tmp_path / "run" / "summary.json").exists()


def test_run_warns_when_the_dataset_changed(tmp_path: Path) -> None:
    """Figures and reports draw the dataset's current maps beside the run's scores: a
    dataset changed since the run is said so, not drawn silently."""
    from vista.scoring import Run

    data = _small_dataset(tmp_path)
    score(data, ["center"], out=tmp_path / "run", n_boot=20)
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        Run(tmp_path / "run")  # unchanged: no warning
    victim = next((data / "maps").glob("*.npy"))
    np.save(victim, np.load(victim)[::-1].copy())
    os.utime(victim, ns=(1, 1))
    with pytest.warns(UserWarning, match="changed since the run"):
        Run(tmp_path / "run")


class _NanSource(StubSource):
    def maps(self, image: np.ndarray, texts: Sequence[str], triplets: Sequence[Triplet]
             ) -> list[SaliencyMap]:
        maps = super().maps(image, texts, triplets)
        values = maps[0].values.copy()
        values[0, 0] = np.nan
        return [SaliencyMap(values, self.name, "square", {}), *maps[1:]]


def test_a_metric_error_names_the_triplet_and_model(tmp_path: Path) -> None:
    """A model map a metric refuses (here a NaN pixel) stops the run with the triplet,
    model and metric named, so the user knows which map to look at."""
    ds = read_dataset(_small_dataset(tmp_path))
    with pytest.raises(ValueError, match=r"triplet 'i0-s0', model 'nan', metric 'ncc': .*NaN"):
        score(ds, [_NanSource("nan")], n_boot=20)


def test_table_and_figures_label_metrics_alike(tmp_path: Path) -> None:
    """The table's column names are the figures' axis labels (one name per metric in a
    paper), and the MIT AUC-Borji is not an ambiguous "AUC-MIT" beside AUC-Judd and sAUC."""
    from vista.viz import _LABELS

    res = score(_small_dataset(tmp_path), ["center"], n_boot=20,
                metrics=["auc_borji_mit", "auc_judd", "nss"])
    header = next(x for x in res.table().splitlines() if x.startswith("model"))
    for m in res.metrics:
        assert _LABELS[m] in header


def test_rng_recipe_in_the_summary_reproduces_a_row(tmp_path: Path) -> None:
    """summary.json's rng line is enough to redraw a row's AUC-Borji samples by hand."""
    import hashlib

    from vista.metrics import auc_borji

    ds = read_dataset(_small_dataset(tmp_path))
    res = score(ds, ["center"], n_boot=20, rng=7)
    recipe = res.summary["rng"]
    assert "sha256" in recipe and "little-endian" in recipe

    def h(text: str) -> int:
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")

    t = ds.triplets[1]
    human = ds.load_map(t)
    rng = np.random.default_rng([7, h(t.triplet_id), h("auc_borji")])
    assert res.rows[1]["auc_borji"] == auc_borji(center_bias_map(human.shape), human, rng=rng)


def test_frames_round_trip_from_the_csv(tmp_path: Path) -> None:
    """ScoreResult.to_frame() is the long table (triplet_id, model, metric: string; value:
    float64); read_run(DIR).scores gives the same frame back from scores.csv, and so does
    pandas reading scores.csv itself and melting it (the reference). summary_frame() has
    one row per model and metric with the summary's numbers."""
    pd = pytest.importorskip("pandas")
    from vista.scoring import read_run

    out = tmp_path / "run"
    res = score(_small_dataset(tmp_path), ["center", "uniform"], out=out, n_boot=20,
                metrics=["nss"], paper=True)
    frame = res.to_frame()
    assert list(frame.columns) == ["triplet_id", "model", "metric", "value"]
    assert [str(t) for t in frame.dtypes] == ["string", "string", "string", "float64"]
    assert len(frame) == len(res.rows) * 3
    back = read_run(out).scores
    pd.testing.assert_frame_equal(frame, back)
    wide = pd.read_csv(out / "scores.csv", dtype={"triplet_id": str, "model": str})
    ref = wide.melt(id_vars=["triplet_id", "model"], var_name="metric", value_name="value")
    ref["order"] = ref["metric"].map({m: i for i, m in enumerate(res.metrics)})
    ref = ref.sort_index(kind="stable")
    ref = (ref.assign(row=ref.index % len(wide)).sort_values(["row", "order"], kind="stable")
           .drop(columns=["row", "order"]).reset_index(drop=True)
           .astype({"triplet_id": "string", "model": "string", "metric": "string"}))
    pd.testing.assert_frame_equal(frame, ref)
    sf = res.summary_frame()
    assert list(sf.columns[:7]) == ["model", "metric", "n", "n_nan", "mean", "low", "high"]
    assert str(sf["n"].dtype) == "int64" and "paper_5" in sf.columns
    cell = sf[(sf.model == "center") & (sf.metric == "ncc")].iloc[0]
    assert cell["mean"] == res.summary["results"]["center"]["ncc"]["mean"]
    diff = sf[(sf.model == "uniform") & (sf.metric == "auc_borji")].iloc[0]
    assert diff["vs"] == "center"
    assert diff["difference"] == res.summary["comparisons"]["uniform"]["auc_borji"]["difference"]
    pd.testing.assert_frame_equal(sf, read_run(out).summary_frame())


def test_plugin_map_source(tmp_path: Path) -> None:
    """examples/plugin_source.py (the README's example) adds a row to the one registry:
    `vista score --model edges` scores it, and a finished run redraws its maps."""
    import importlib.util

    from click.testing import CliRunner

    from vista.cli import cli
    from vista.scoring import Run
    from vista.scoring.sources import SOURCES

    path = Path(__file__).parent.parent / "examples" / "plugin_source.py"
    spec = importlib.util.spec_from_file_location("plugin_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        out = tmp_path / "run"
        res = CliRunner().invoke(cli, ["score", "--model", "edges", "--model", "center",
                                       "--data", str(_small_dataset(tmp_path)),
                                       "--bootstrap", "20", "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert any(x.startswith("edges ") for x in res.output.splitlines())
        run = Run(out)
        t = run.dataset.triplets[0]
        expected = module.EdgeDensity().maps(run.dataset.load_image(t), [t.text], [t])[0]
        np.testing.assert_array_equal(run.model_map(t, "edges"), expected)
    finally:
        SOURCES.remove("edges")
