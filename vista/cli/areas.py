"""CLI command ``vista areas``: interest-area measures per trial and segment."""

from __future__ import annotations

from pathlib import Path

import click

from ..gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS
from ..gaze.segments import SEGMENTERS


@click.command("areas")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--ias", default=None, metavar="FILE|DIR|scene",
              help="Interest areas: an .ias file (every trial), a folder of IMAGE_STEM.ias "
                   "files, 'scene' for the images' scene files, or a CSV of image, phrase, "
                   "polygon (image pixels) [default: the recording's !V IAREA messages].")
@click.option("--ias-space", type=click.Choice(["screen", "image"]), default="screen",
              show_default=True, help="Coordinates of the .ias files (Data Viewer: screen).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV file to write (never overwritten) [default: print the table].")
@click.option("--eye", type=click.Choice(["L", "R"]), default=None,
              help="Eye whose fixations are used [default: right eye of binocular data].")
@click.option("--no-segments", is_flag=True, default=False,
              help="Only whole trials, no row per spoken segment [default: both].")
@click.option("--segmenter", type=click.Choice(sorted(SEGMENTERS)), default="phrase",
              show_default=True, help="How transcripts are split into segments.")
@click.option("--lead-ms", type=float, default=DEFAULT_LEAD_MS, show_default=True,
              help="A segment's window starts this many ms before it.")
@click.option("--lag-ms", type=float, default=DEFAULT_LAG_MS, show_default=True,
              help="A segment's window ends this many ms after it.")
def areas_command(source: Path, ias: str | None, ias_space: str, out: Path | None,
                  eye: str | None, no_segments: bool, segmenter: str, lead_ms: float,
                  lag_ms: float) -> None:
    """Dwell time, first-fixation latency, fixation and visit counts per interest area.

    SOURCE is a session folder or an EyeLink EDF/ASC recording. One row per trial
    and area, and per spoken segment and area (over its alignment window).

    \b
    Examples:
      vista areas sessions/P01 --ias scene --out p01-areas.csv
      vista areas run.asc --ias stimuli/ias/
    """
    from .._io import write_atomic
    from ..gaze.areas import frame_to_csv, interest_area_report

    if ias is not None and ias != "scene" and not Path(ias).exists():
        raise click.BadParameter(f"{ias} does not exist", param_hint="--ias")
    if out is not None and out.exists():
        raise click.ClickException(f"{out} exists; choose another --out (nothing is overwritten)")
    frame = interest_area_report(source, ias=ias, ias_space=ias_space, eye=eye,
                                 segments=not no_segments, segmenter=segmenter,
                                 lead_ms=lead_ms, lag_ms=lag_ms)
    if out is None:
        click.echo(frame.to_string(index=False) if len(frame) else "no interest areas found")
        return
    write_atomic(out, frame_to_csv(frame))
    n_trials = frame["trial_id"].nunique() if len(frame) else 0
    click.echo(f"wrote {len(frame)} rows ({n_trials} trials) to {out}")


COMMANDS = [areas_command]
