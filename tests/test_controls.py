"""Controls and honest intervals in vista score: human-other, --control other-text,
--resample, Holm-adjusted p, win rates with a Bradley-Terry ranking, the noise ceiling."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from vista.cli import cli
from vista.dataset import DatasetWriter, read_dataset
from vista.errors import DatasetError
from vista.metrics import ncc
from vista.records import Triplet
from vista.scoring import demo_dataset_path, score
from vista.scoring.controls import CONTROL_SUFFIX, substitutes
from vista.scoring.stats_summary import choose_resample, cluster_labels

DEMO = demo_dataset_path()


def _dataset(root: Path, *, images: int = 4, segments: int = 3, observers: int = 1,
             identical: bool = False, seed: int = 0) -> Path:
    """``images`` random images, ``segments`` texts each (``thing K``), one blob per
    segment (the same blob for every segment of an image when ``identical``)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    src = root / "src"
    src.mkdir(parents=True)
    with DatasetWriter(root / "ds", name="controls") as w:
        for i in range(images):
            path = src / f"img{i}.png"
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(path)
            rel = w.add_image(path)
            for k in range(segments):
                for o in range(observers):
                    y, x = rng.integers(1, 19), rng.integers(1, 23)
                    if identical:
                        y, x = 3 + 3 * i % 15, 2 + 5 * i % 20
                    m = np.full((20, 24), 0.01, np.float32)
                    m[y - 1:y + 2, x - 1:x + 2] += 1.0 + o * 0.2
                    tid = f"i{i}-s{k}" + (f"-o{o}" if observers > 1 else "")
                    w.add(tid, image=rel, text=f"thing {k}", human_map=m / m.sum(),
                          meta={"observer": f"P{o}", "participant": f"P{o}"})
    return root / "ds"


class TextOracle:
    """A hand-built model whose map is the human map of the triplet with the same
    image and text: perfect when the text is right, another segment's map when not."""

    name = "oracle"

    def __init__(self, dataset: Any) -> None:
        self.params = {"kind": "test", "model": "oracle"}
        self.ds = dataset
        self.by = {(t.image_path, t.text): t for t in dataset}

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[np.ndarray]:
        return [self.ds.load_map(self.by[(t.image_path, text)])
                for t, text in zip(triplets, texts, strict=True)]


def test_substitutes_same_image_other_text_seeded() -> None:
    ts = [Triplet(f"a{k}", "a.jpg", f"text {k}", "m", {"participant": p})
          for k, p in enumerate("PPQ")] + [Triplet("b0", "b.jpg", "only", "m")]
    subs = substitutes(ts, seed=1)
    assert "b0" not in subs
    assert subs["a0"] == "a1" and subs["a1"] == "a0"  # the same viewer first
    assert subs["a2"] in ("a0", "a1")
    assert substitutes(list(reversed(ts)), seed=1) == subs  # order does not matter
    assert substitutes(ts, seed=1, other_images=True)["b0"].startswith("a")


def test_human_other_is_the_map_of_another_segment(tmp_path: Path) -> None:
    ds_dir = _dataset(tmp_path)
    ds = read_dataset(ds_dir)
    res = score(ds, ["center", "human-other"], n_boot=50)
    subs = res.summary["models"]["human-other"]["substitutes"]
    assert len(subs) == len(ds)
    for r in res.rows:
        if r["model"] == "human-other":
            other = ds[subs[r["triplet_id"]]]
            assert other.image_path == ds[r["triplet_id"]].image_path
            assert other.text != ds[r["triplet_id"]].text
            assert r["ncc"] == pytest.approx(ncc(ds.load_map(other),
                                                 ds.load_map(ds[r["triplet_id"]])))


def test_control_row_of_a_map_that_ignores_the_text_scores_zero(tmp_path: Path) -> None:
    """center ignores the text: its control row is identical, the specificity exactly 0
    with p = 1. The text oracle follows the words: its specificity is positive."""
    ds_dir = _dataset(tmp_path, images=6)
    ds = read_dataset(ds_dir)
    res = score(ds, ["center", TextOracle(ds)], n_boot=200, control="other-text",
                resample="triplet")
    names = res.models
    assert "center" + CONTROL_SUFFIX in names and "oracle" + CONTROL_SUFFIX in names
    spec = res.summary["text_specificity"]
    for k in ("ncc", "auc_borji"):
        assert spec["center"][k]["difference"] == 0.0 and spec["center"][k]["p_value"] == 1.0
    assert spec["oracle"]["ncc"]["low"] > 0.2 and spec["oracle"]["ncc"]["p_value"] < 0.01
    subs = res.summary["models"]["oracle" + CONTROL_SUFFIX]["substitutes"]
    assert all(ds[s].image_path == ds[t].image_path for t, s in subs.items())
    assert "text specificity" in res.table()


def test_control_on_a_one_triplet_dataset_says_why(tmp_path: Path) -> None:
    ds_dir = _dataset(tmp_path, images=1, segments=1)
    with pytest.raises(DatasetError, match=r"cannot score any of the 1 triplet.*no other text"):
        score(ds_dir, ["center"], n_boot=20, control="other-text")
    with pytest.raises(ValueError, match="control must be one of"):
        score(ds_dir, ["center"], n_boot=20, control="other-image")


def test_image_bootstrap_is_wider_when_segments_are_identical(tmp_path: Path) -> None:
    """Every segment of an image has the same human map, so a model's scores repeat
    within an image: the image bootstrap's interval must be wider than the triplet one."""
    ds_dir = _dataset(tmp_path, images=12, segments=4, identical=True)
    by = {u: score(ds_dir, ["center", "uniform"], n_boot=2000, resample=u).summary
          for u in ("triplet", "image")}
    width = {u: by[u]["results"]["center"]["ncc"]["high"] - by[u]["results"]["center"]["ncc"]["low"]
             for u in by}
    assert by["image"]["bootstrap"]["resample"] == "image"
    assert width["image"] > 1.5 * width["triplet"]


def test_default_resample_and_its_record(tmp_path: Path) -> None:
    ds = read_dataset(DEMO)
    assert choose_resample(list(ds), requested=None, paper=False)[0] == "image"
    assert choose_resample(list(ds), requested=None, paper=True)[0] == "triplet"
    single = read_dataset(_dataset(tmp_path, images=3, segments=1))
    assert choose_resample(list(single), requested=None, paper=False)[0] == "triplet"
    assert cluster_labels(list(ds), "participant")["sim01-1-000"] == "sim01"
    bare = [Triplet("x", "a.jpg", "t", "m")]
    with pytest.raises(ValueError, match="triplet 'x' records no participant"):
        cluster_labels(bare, "participant")


def test_holm_win_rates_and_ranking_in_the_summary(tmp_path: Path) -> None:
    ds = read_dataset(_dataset(tmp_path, images=6))
    res = score(ds, ["center", "uniform", TextOracle(ds)], n_boot=200, metrics=["kld"])
    comp = res.summary["comparisons"]
    ps = [c["p_value"] for per in comp.values() for k, c in per.items() if not k.startswith("_")]
    holm = [c["p_holm"] for per in comp.values() for k, c in per.items() if not k.startswith("_")]
    assert all(h >= p for h, p in zip(holm, ps, strict=True))
    assert min(holm) == pytest.approx(min(1.0, min(ps) * len(ps)))
    board = res.summary["leaderboard"]
    assert board["ncc"]["ranking"][0] == "oracle" and board["ncc"]["unranked"] == ["uniform"]
    assert board["kld"]["ranking"][0] == "oracle"  # lower KLD wins
    w = board["auc_borji"]["win_rates"]["oracle > center"]
    assert 0.5 < w["rate"] <= 1 and w["low"] <= w["rate"] <= w["high"]
    assert "Bradley-Terry ranking on NCC" in res.table()


def test_observers_ceiling_and_split_half(tmp_path: Path) -> None:
    ds = read_dataset(_dataset(tmp_path, images=3, segments=2, observers=3))
    res = score(ds, ["observers", "center", "uniform"], n_boot=50)
    ceiling = res.summary["ceiling"]
    frac = ceiling["fraction_of_ceiling"]["center"]["auc_borji"]
    obs = res.summary["results"]["observers"]["auc_borji"]["mean"]
    uni = res.summary["results"]["uniform"]["auc_borji"]["mean"]
    cen = res.summary["results"]["center"]["auc_borji"]["mean"]
    assert frac == pytest.approx((cen - uni) / (obs - uni))
    half = ceiling["split_half"]
    # 3 images x 2 texts, 3 observers each; the blobs of observers differ, so the halves
    # correlate weakly but the Spearman-Brown step moves each group's r away from 0
    assert half["n_groups"] == 6 and half["observers_per_group"] == 3
    assert -1 <= half["r_half"] <= 1 and -1 <= half["r_full"] <= 1
    assert abs(half["r_full"]) >= abs(half["r_half"])


def test_cli_resample_and_control(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["score", "--model", "center", "--model", "human-other",
                                   "--control", "other-text", "--resample", "participant",
                                   "--bootstrap", "100", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "bootstrap resampling: participants (as requested)" in res.output
    assert "text specificity" in res.output and "Holm" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bootstrap"]["resample"] == "participant"
    assert "human-other" + CONTROL_SUFFIX not in summary["results"]
    bad = CliRunner().invoke(cli, ["score", "--model", "center", "--resample", "segment"])
    assert bad.exit_code != 0 and "--resample" in bad.output
