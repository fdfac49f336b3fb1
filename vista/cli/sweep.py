"""CLI command ``vista sweep``: the score table across a grid of choices."""

from __future__ import annotations

from pathlib import Path

import click

from ._options import check_seed, executor_option
from ._progress import progress_bar


@click.command("sweep")
@click.option("--sessions", "sessions", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="Session folders or EyeLink recordings (.edf, .asc) to build the human "
                   "maps from, as for vista maps (repeatable); needed by the human-side keys.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="A dataset folder, when the grid has only model-side keys.")
@click.option("--model", "models", multiple=True, required=True, metavar="ROW",
              help="A row as for vista score (repeatable); the first is the reference.")
@click.option("--grid", "grid", multiple=True, required=True, metavar="KEY=V1,V2,...",
              help="A key and its values (repeatable): sigma_deg, lead_ms, lag_ms, segmenter "
                   "(human side, need --sessions); MODEL.recipe, MODEL.block, "
                   "MODEL.postprocess or MODEL.OPTION (model side).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Extra metric (repeatable); NCC and AUC-Borji are always computed.")
@click.option("--weights", "weights", multiple=True, metavar="ROW=DIR",
              help="Local weights of an explainer row (repeatable).")
@click.option("--device", default=None, help="Torch device of the explainers.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(2, 100_000), default=1000,
              show_default=True, help="Bootstrap resamples of each run.")
@click.option("--seed", type=int, callback=check_seed, default=0, show_default=True,
              help="Seed of every run.")
@click.option("--sigma-deg", type=click.FloatRange(0, 20, min_open=True), default=None,
              help="KDE bandwidth, degrees, where the grid does not vary it [default: "
                   "vista maps' 1.0].")
@click.option("--lead-ms", type=float, default=None,
              help="Alignment lead, ms, where the grid does not vary it [default: vista maps'].")
@click.option("--lag-ms", type=float, default=None,
              help="Alignment lag, ms, where the grid does not vary it [default: vista maps'].")
@click.option("--screen-mm", type=(float, float), default=None, metavar="W H",
              help="Visible screen size of bare recordings, mm (as for vista maps).")
@click.option("--distance-mm", type=float, default=None,
              help="Eye-to-screen distance of bare recordings, mm (as for vista maps).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Sweep folder: new or empty, or a sweep of the same inputs (resumed, or "
                   "extended with grid points).")
@executor_option
def sweep_command(sessions: tuple[Path, ...], data: Path | None, models: tuple[str, ...],
                  grid: tuple[str, ...], metrics: tuple[str, ...], weights: tuple[str, ...],
                  device: str | None, n_boot: int, seed: int, sigma_deg: float | None,
                  lead_ms: float | None, lag_ms: float | None,
                  screen_mm: tuple[float, float] | None, distance_mm: float | None,
                  out: Path, executor: str) -> None:
    """How much do the unstated choices move the table? Score the models at every point
    of a grid of human-side and model-side choices; per model and metric the value at
    each point, its range, the ranks and their stability (Kendall's W), and figures.

    \b
    Examples:
      vista sweep --sessions s/P01 s/P02 --model center --model human-other \\
                  --grid sigma_deg=0.5,1,2 --grid lead_ms=500,1000,1500 --out sweep/
      vista sweep --data my-dataset --model blip-itm-base --grid blip-itm-base.block=6,7,8 \\
                  --out sweep-blocks/
    """
    from ..scoring.sweep import run_sweep
    from ..scoring.sweep_report import write_report

    pairs = {}
    for w in weights:
        row, eq, folder = w.partition("=")
        if not eq:
            raise click.BadParameter(f"{w!r}: give ROW=DIR", param_hint="--weights")
        pairs[row] = folder
    fixed = {k: v for k, v in (("sigma_deg", sigma_deg), ("lead_ms", lead_ms),
                               ("lag_ms", lag_ms), ("screen_mm", screen_mm),
                               ("distance_mm", distance_mm)) if v is not None}
    report, close = progress_bar("grid points")
    try:
        result = run_sweep(list(models), list(grid), out=out,
                           sessions=[str(s) for s in sessions] or None,
                           data=None if data is None else str(data), metrics=metrics,
                           seed=seed, n_boot=n_boot, weights=pairs, device=device,
                           maps_options=fixed, executor=executor, progress=report)
    finally:
        close()
    summary = write_report(result)
    for k, s in summary["per_metric"].items():
        click.echo(f"{k}: Kendall's W of the ranks over {len(summary['points'])} points "
                   f"{s['kendalls_w'] if s['kendalls_w'] is None else round(s['kendalls_w'], 3)}")
        for m in summary["models"]:
            lo, hi = s["min"].get(m), s["max"].get(m)
            if lo is None or hi is None:
                click.echo(f"  {m}: no defined value")
                continue
            click.echo(f"  {m}: {lo['value']:.3f} ({lo['point']}) to {hi['value']:.3f} "
                       f"({hi['point']}), range {s['range'][m]:.3f}")
    c = summary["counts"]
    click.echo(f"human maps built {c['human_maps_built']} of {c['human_maps_needed']} needed "
               f"without the cache; model maps computed {c['model_maps_computed']} of "
               f"{c['model_maps_needed']}; {summary['seconds']:.1f} s")
    click.echo(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'} and "
               f"{len(summary['figures'])} figure(s) in {out / 'figures'}")


COMMANDS = [sweep_command]
