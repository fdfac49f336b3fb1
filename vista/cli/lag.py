"""CLI command ``vista lag``: the eye-voice span, estimated from sessions."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("lag")
@click.argument("sessions", nargs=-1, required=True,
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--regions", default="scene", show_default=True, metavar="scene|IAS|DIR|CSV",
              help="Where each named region is: 'scene' (the simulator's scene files), a "
                   "Data Viewer .ias file or folder of IMAGE_STEM.ias files, or a CSV of "
                   "image, phrase, polygon (image pixels).")
@click.option("--ias-space", type=click.Choice(["screen", "image"]), default="screen",
              show_default=True, help="Coordinates of .ias files (Data Viewer: screen).")
@click.option("--eye", type=click.Choice(["L", "R"]), default=None,
              help="Eye whose fixations are used [default: right eye of binocular data].")
@click.option("--n-boot", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Bootstrap resamples for the bands and intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="New folder for lag.json and lag.png [default: print only].")
def lag_command(sessions: tuple[Path, ...], regions: str, ias_space: str, eye: str | None,
                n_boot: int, seed: int, out: Path | None) -> None:
    """When do people look at what they name? Share of fixation time in the named
    region from 3 s before to 1 s after its naming onset, with bootstrap bands over
    namings and participants; the span, the peak and suggested --lead-ms/--lag-ms.

    \b
    Examples:
      vista lag sessions/P01 sessions/P02 --out lag/
      vista lag sessions/P01 --regions regions.csv
    """
    from ..gaze.lag import plot_lag, session_lag
    from ._report import check_new_folder, write_report

    if regions != "scene" and not Path(regions).exists():
        raise click.BadParameter(f"{regions} does not exist", param_hint="--regions")
    check_new_folder(out)
    result = session_lag(list(sessions), regions=regions, ias_space=ias_space, eye=eye,
                         n_boot=n_boot, rng=seed)
    lo, hi = result.span_interval
    click.echo(f"{result.n_events} namings, {result.n_participants} participant(s)")
    click.echo(f"span: gaze reaches the named region {result.span_ms:.0f} ms from onset "
               f"(95% interval {lo:.0f} to {hi:.0f} ms)")
    click.echo(f"peak: {result.peak:.2f} of fixation time in the region at "
               f"{result.peak_ms:.0f} ms")
    w0, w1 = result.window_ms
    click.echo(f"window holding 80% of the in-region time: {w0:.0f} to {w1:.0f} ms")
    click.echo(f"suggested: vista maps --lead-ms {result.suggested_lead_ms:g} "
               f"--lag-ms {result.suggested_lag_ms:g}")
    if out is not None:
        click.echo(write_report(out, "lag", result.to_dict(), lambda: plot_lag(result)))


COMMANDS = [lag_command]
