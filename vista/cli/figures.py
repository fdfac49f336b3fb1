"""``vista figure`` and ``vista report``; see :mod:`vista.viz` and :mod:`vista.report`."""

from __future__ import annotations

from pathlib import Path

import click

from ._progress import progress_bar

COMMANDS: list[click.Command] = []


@click.command("figure")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--triplet", "triplets", multiple=True, metavar="ID",
              help="Draw this triplet: image | human map | model maps (repeatable; default: "
                   "none, see --all-triplets).")
@click.option("--all-triplets", is_flag=True, help="Draw every triplet (default: off).")
@click.option("--no-images", is_flag=True,
              help="Skip the per-image panels, one row per segment (default: drawn).")
@click.option("--no-leaderboard", is_flag=True,
              help="Skip the leaderboard bar charts (default: one per metric).")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="Models to draw (repeatable; default: every model of the run).")
@click.option("--cmap", default="jet", show_default=True,
              help="Matplotlib colormap of the maps.")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Opacity of a map over its image (0 to 1).")
@click.option("--format", "formats", multiple=True, type=click.Choice(["png", "pdf", "svg"]),
              default=("png", "pdf"), show_default=True, help="File format (repeatable).")
@click.option("--dpi", type=click.IntRange(30, 600), default=300, show_default=True,
              help="Highest resolution of raster formats, dots per inch (30 to 600); figures "
                   "of images use one dot per image pixel up to it.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Worker processes drawing figures, 1 to 64 [default: one per CPU].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Figure folder: new, empty, or one vista figure wrote for this run "
                   "(default: RUN_DIR/figures; figures there are redrawn).")
def figure_command(run_dir: Path, triplets: tuple[str, ...], all_triplets: bool,
                   no_images: bool, no_leaderboard: bool, models: tuple[str, ...], cmap: str,
                   alpha: float, formats: tuple[str, ...], dpi: int, jobs: int | None,
                   out: Path | None) -> None:
    """Draw the figures of a scoring run: per-image panels, leaderboards, triplets.

    \b
    Examples:
      vista figure vista-out/demo_center_1a2b3c4d
      vista figure RUN --triplet sim01-1-000 --cmap viridis --alpha 0.6 --format pdf
    """
    from ..runfigures import save_run_figures

    report, close = progress_bar("figures")
    try:
        written = save_run_figures(
            run_dir, out=out, triplets=None if all_triplets else list(triplets),
            images=not no_images, leaderboards=not no_leaderboard,
            models=list(models) or None, cmap=cmap, alpha=alpha, formats=list(formats),
            dpi=dpi, jobs=jobs, progress=report)
    finally:
        close()
    for p in written:
        click.echo(str(p))
    click.echo(f"wrote {len(written)} file(s)", err=True)


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write (default: RUN_DIR/report.html). An existing file is "
                   "replaced only if it is vista's report of this run.")
@click.option("--max-images", type=click.IntRange(min=0), default=12, show_default=True,
              help="Per-image panels included (the first N images of the dataset).")
@click.option("--cmap", default="jet", show_default=True, help="Matplotlib colormap of the maps.")
@click.option("--alpha", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Opacity of a map over its image (0 to 1).")
@click.option("--dpi", type=click.IntRange(30, 300), default=72, show_default=True,
              help="Resolution of the embedded figure previews, dots per inch.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Worker processes drawing the previews, 1 to 64 [default: one per CPU].")
def report_command(run_dir: Path, out: Path | None, max_images: int, cmap: str,
                   alpha: float, dpi: int, jobs: int | None) -> None:
    """Write one self-contained HTML page for a scoring run (viewable offline).

    \b
    Example:
      vista report vista-out/demo_center_1a2b3c4d
    """
    from ..report import write_report

    report, close = progress_bar("report figures")
    try:
        path = write_report(run_dir, out=out, max_images=max_images, cmap=cmap, alpha=alpha,
                            dpi=dpi, jobs=jobs, progress=report)
    finally:
        close()
    click.echo(str(path))


COMMANDS.extend([figure_command, report_command])
