"""Score the baseline rows on the shipped demo dataset, then draw figures and a report.

    python examples/score_demo.py                     # writes vista-out/score-demo
    python examples/score_demo.py --model blip-itm-base --weights /path/to/blip   # + a model

The demo dataset is SYNTHETIC (simulated observers): the numbers show the workflow, not
how good any model is. Point ``--data`` at your own dataset folder for real results.
Everything runs offline; the figures and the report need matplotlib (the viz extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vista.scoring import demo_dataset_path, score


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=demo_dataset_path(),
                    help="dataset folder (default: the shipped demo dataset, SYNTHETIC)")
    ap.add_argument("--model", action="append", default=[],
                    help="explainer to score before the baselines (repeatable)")
    ap.add_argument("--weights", default=None, help="local weights folder for the one explainer")
    ap.add_argument("--out", type=Path, default=Path("vista-out/score-demo"),
                    help="run folder (default vista-out/score-demo; a rerun resumes it)")
    args = ap.parse_args(argv)

    models = [*args.model, "center", "uniform"]
    result = score(args.data, models, out=args.out, weights=args.weights, rng=0, n_boot=1000,
                   paper=True, progress=lambda done, total: print(f"\r{done}/{total}", end=""))
    print()
    print(result.table())
    # per-triplet values, e.g. the five hardest triplets for the first model
    first = [r for r in result.rows if r["model"] == models[0]]
    hardest = sorted(first, key=lambda r: r["ncc"])[:5]
    print("lowest NCC:", ", ".join(f"{r['triplet_id']} {r['ncc']:.2f}" for r in hardest))

    try:
        from vista.report import write_report
        from vista.runfigures import save_run_figures
    except ImportError:  # pragma: no cover - the modules import matplotlib lazily
        return
    try:
        files = save_run_figures(args.out, formats=["png"])
        page = write_report(args.out)
    except ImportError as exc:
        print(f"figures skipped: {exc}")
        return
    print(f"{len(files)} figures in {args.out / 'figures'}; report: {page}")


if __name__ == "__main__":
    main()
