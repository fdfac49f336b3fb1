"""CLI command ``vista view``: an HTML page to inspect a session, dataset or run."""

from __future__ import annotations

from pathlib import Path

import click

from ..gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS
from ..gaze.segments import SEGMENTERS


@click.command("view")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (never overwritten unless --force).")
@click.option("--force", is_flag=True, default=False,
              help="Replace an existing --out file [default: refuse].")
@click.option("--lead-ms", type=float, default=DEFAULT_LEAD_MS, show_default=True,
              help="Session: a segment's window starts this many ms before it.")
@click.option("--lag-ms", type=float, default=DEFAULT_LAG_MS, show_default=True,
              help="Session: a segment's window ends this many ms after it.")
@click.option("--sigma-deg", type=float, default=1.0, show_default=True,
              help="Session: KDE bandwidth of the human maps, degrees.")
@click.option("--segmenter", type=click.Choice(sorted(SEGMENTERS)), default="phrase",
              show_default=True, help="Session: how transcripts are split into segments.")
@click.option("--image-px", type=int, default=560, show_default=True,
              help="Longest side of the embedded images, pixels.")
@click.option("--map-px", type=int, default=180, show_default=True,
              help="Longest side of the embedded maps, pixels.")
@click.option("--link-audio", is_flag=True, default=False,
              help="Link the session's WAV files by path instead of embedding them "
                   "[default: embed].")
@click.option("--eye", type=click.Choice(["L", "R"]), default=None,
              help="Eye whose fixations are drawn [default: right eye of binocular data].")
@click.option("--ias", "areas", default=None, metavar="messages|scene|FILE|DIR",
              help="Outline interest areas: the recording's !V IAREA messages, the scene "
                   "files, an .ias file or folder, or a region CSV [default: none].")
@click.option("--ias-space", type=click.Choice(["screen", "image"]), default="screen",
              show_default=True, help="Coordinates of the .ias files (Data Viewer: screen).")
def view_command(source: Path, out: Path, force: bool, lead_ms: float, lag_ms: float,
                 sigma_deg: float, segmenter: str, image_px: int, map_px: int,
                 link_audio: bool, eye: str | None, areas: str | None, ias_space: str) -> None:
    """Write one self-contained HTML page to inspect a session, dataset or run.

    SOURCE is a session folder, a dataset folder or a `vista score` run folder. Per
    trial: the image with the scanpath playing along a timeline, the words lit as
    they are spoken, each segment's alignment window, its human map and (for a run)
    every model's map with its scores. Open the file in any browser; it needs no
    network.

    \b
    Examples:
      vista view sessions/P01 --out p01.html
      vista view runs/blip --out blip.html
    """
    from ..view import write_view

    if areas not in (None, "messages", "scene") and not Path(str(areas)).exists():
        raise click.BadParameter(f"{areas} does not exist", param_hint="--ias")
    info = write_view(source, out, overwrite=force, lead_ms=lead_ms, lag_ms=lag_ms,
                      sigma_deg=sigma_deg, segmenter=segmenter, image_side=image_px,
                      map_side=map_px, embed_audio=not link_audio, eye=eye, areas=areas,
                      ias_space=ias_space)
    click.echo(f"wrote {info['path']}: {info['kind']}, {info['trials']} trials, "
               f"{info['segments']} segments, {info['bytes'] / 1e6:.1f} MB")


COMMANDS = [view_command]
