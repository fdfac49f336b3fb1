"""The redesign changes no number: a demo run with every metric gives, triplet for
triplet, the values vista 0.1.0 gave (stored in ``tests/data`` from a 0.1.0 run of
``vista score --model center --model uniform --metric ... --out DIR``).

0.1.0 resampled triplets and had no Holm adjustment: the run passes ``--resample
triplet`` (the demo's images have three segments each, so the default is now ``image``)
and the comparisons are compared without the ``p_holm`` added since."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from click.testing import CliRunner

from vista.cli import cli

DATA = Path(__file__).parent / "data"
METRICS = ["ncc", "auc_borji", "auc_borji_mit", "auc_judd", "auc_shuffled", "nss", "sim",
           "kld", "info_gain"]


def _rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="") as fh:
        return {(r["triplet_id"], r["model"]): r for r in csv.DictReader(fh)}


def _same(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return (math.isnan(x) and math.isnan(y)) or x == y


def test_demo_scores_match_0_1_0(tmp_path):
    out = tmp_path / "run"
    args = ["score", "--model", "center", "--model", "uniform", "--out", str(out),
            "--resample", "triplet"]
    for m in METRICS:
        args += ["--metric", m]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    expected = _rows(DATA / "golden_demo_scores_0.1.0.csv")
    got = _rows(out / "scores.csv")
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        for m in METRICS:
            assert _same(got[key][m], row[m]), (key, m, got[key][m], row[m])
    summary = json.loads((out / "summary.json").read_text())
    golden = json.loads((DATA / "golden_demo_summary_0.1.0.json").read_text())
    assert json.dumps(summary["results"], sort_keys=True) == json.dumps(golden["results"],
                                                                         sort_keys=True)
    comparisons = {model: {k: ({f: v for f, v in c.items() if f != "p_holm"}
                               if isinstance(c, dict) else c) for k, c in per.items()}
                   for model, per in summary["comparisons"].items()}
    assert json.dumps(comparisons, sort_keys=True) == json.dumps(
        golden["comparisons"], sort_keys=True)
