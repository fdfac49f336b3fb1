"""CLI commands for this area: ``vista maps`` and ``vista import``; see :mod:`vista.cli`."""

from __future__ import annotations

from pathlib import Path

import click

from ..gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS
from ..gaze.segments import SEGMENTERS
from ._progress import progress_bar
from ._warnings import echo_warnings


@click.command("maps")
@click.argument("inputs", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Dataset folder: new or empty, or the unfinished dataset of this same "
                   "command (then finished); anything else is refused.")
@click.option("--sigma-deg", type=float, default=None,
              help="KDE bandwidth in degrees of visual angle, 0-20 [default: 1.0 unless "
                   "--sigma-px].")
@click.option("--sigma-px", type=float, default=None,
              help="KDE bandwidth in image pixels, 0-10000, instead of --sigma-deg; needs no "
                   "screen geometry [default: none].")
@click.option("--lead-ms", type=float, default=DEFAULT_LEAD_MS, show_default=True,
              help="Alignment window starts this many ms before a segment starts "
                   "(-60000 to 60000).")
@click.option("--lag-ms", type=float, default=DEFAULT_LAG_MS, show_default=True,
              help="Alignment window ends this many ms after a segment ends (-60000 to 60000).")
@click.option("--segmenter", type=click.Choice(sorted(SEGMENTERS)), default="phrase",
              show_default=True, help="How transcripts are split into text segments.")
@click.option("--window-ms", type=float, default=None,
              help="Window length in ms for --segmenter window [default: 2000].")
@click.option("--screen-mm", type=(click.FloatRange(0, 10000, min_open=True),
                                   click.FloatRange(0, 10000, min_open=True)),
              default=None, metavar="W H",
              help="Visible screen width and height in mm (0-10000), for a bare EDF/ASC "
                   "(overrides session.json) [default: from session.json].")
@click.option("--distance-mm", type=click.FloatRange(0, 10000, min_open=True), default=None,
              help="Eye-to-screen distance in mm (0-10000), with --screen-mm [default: from "
                   "session.json].")
@click.option("--screen-px", type=(click.IntRange(1, 8192), click.IntRange(1, 8192)),
              default=None, metavar="W H",
              help="Screen resolution in pixels (1-8192 each) where the recording has no "
                   "DISPLAY_COORDS [default: from the recording].")
@click.option("--images", "images_dir", type=click.Path(exists=True, file_okay=False,
                                                        path_type=Path), default=None,
              help="Folder to find trial images in (by relative path, then file name) "
                   "[default: the paths in the recording/session].")
@click.option("--eye", type=click.Choice(["L", "R", "both"]), default=None,
              help="Eye whose fixations are used [default: right eye of binocular data].")
@click.option("--free-viewing-text", default=None,
              help="Text of the one map of a trial without transcript "
                   "[default: the image file's name without extension; 'trial ID' without "
                   "image].")
@click.option("--reference-images", is_flag=True, default=False,
              help="Store absolute image paths instead of copying images into the dataset "
                   "[default: copy].")
@click.option("--name", default=None, help="Dataset name [default: the --out folder's name].")
@click.option("--strict", is_flag=True, default=False,
              help="Refuse an inconsistent recording (times going back, START/END or "
                   "trial messages unpaired, events outside recording blocks) instead of "
                   "warning [default: warn].")
def maps_command(
    inputs: tuple[Path, ...], out: Path, sigma_deg: float | None, sigma_px: float | None,
    lead_ms: float, lag_ms: float, segmenter: str, window_ms: float | None,
    screen_mm: tuple[float, float] | None, distance_mm: float | None,
    screen_px: tuple[int, int] | None, images_dir: Path | None, eye: str | None,
    free_viewing_text: str | None, reference_images: bool, name: str | None, strict: bool,
) -> None:
    """Build human attention maps from session folders or EyeLink EDF/ASC recordings.

    Each transcript segment gets a duration-weighted KDE map of the fixations from
    --lead-ms before it starts to --lag-ms after it ends; a trial without
    transcript gets one free-viewing map. Writes maps/*.npy, fixations/*.npy,
    triplets.jsonl and dataset.json (provenance) to --out.

    \b
    Examples:
      vista maps sessions/P01 sessions/P02 --out data/vista-maps
      vista maps run.edf --out data/fv --sigma-px 35
      vista maps run.asc --out data/fv --screen-mm 531 299 --distance-mm 700 --images stim/
    """
    from ..gaze.maps import build_maps

    if window_ms is not None and segmenter != "window":
        raise click.UsageError("--window-ms only applies to --segmenter window")
    params = {"window_ms": window_ms} if window_ms is not None else None
    report, close = progress_bar("maps (trials)")
    with echo_warnings():  # printed after the bar is closed
        try:
            summary = build_maps(
                list(inputs), out, sigma_deg=sigma_deg, sigma_px=sigma_px, lead_ms=lead_ms,
                lag_ms=lag_ms, segmenter=segmenter, segmenter_params=params,
                screen_mm=screen_mm, distance_mm=distance_mm, screen_px=screen_px,
                images_dir=images_dir, eye=eye, free_viewing_text=free_viewing_text,
                copy_images=not reference_images, name=name, strict=strict, progress=report,
            )
        finally:
            close()
    click.echo(f"{summary.n_triplets} maps from {summary.n_trials} trials of "
               f"{summary.n_inputs} input(s) -> {summary.out}")
    if summary.n_free_viewing:
        click.echo(f"  {summary.n_free_viewing} free-viewing maps (trials without transcript; "
                   "a session recorded with speech needs `vista transcribe SESSION` first)")
    if summary.n_no_image:
        click.echo(f"  {summary.n_no_image} trials had no image: maps on the screen grid, "
                   "grey placeholder image")
    if summary.skipped:
        click.echo(f"  {len(summary.skipped)} segments skipped (no fixation on the image); "
                   "listed in dataset.json")


@click.command("import")
@click.option("--images", "images", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of images (the texts file's image column is relative to it).")
@click.option("--maps", "maps", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of grayscale map PNGs (map column relative to it).")
@click.option("--texts", required=True, type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="CSV, TSV or JSONL with columns id, image, text, map (variants accepted).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Dataset folder to create (must not exist or be empty).")
@click.option("--resize", is_flag=True, default=False,
              help="Resize maps to their image's size with vista.imaging.resize_map (bilinear, "
                   "pixel centres aligned) [default: sizes must match].")
@click.option("--reference-images", is_flag=True, default=False,
              help="Store absolute image paths instead of copying images [default: copy].")
@click.option("--name", default=None, help="Dataset name [default: the --out folder's name].")
def import_command(images: Path, maps: Path, texts: Path, out: Path, resize: bool,
                   reference_images: bool, name: str | None) -> None:
    """Build a dataset folder from images, grayscale map PNGs and a table of texts.

    Maps are normalised to sum 1 and stored as float32 maps/ID.npy.

    \b
    Example:
      vista import --images coco/ --maps gaze_maps/ --texts phrases.csv --out data/ds
    """
    from ..importers import import_dataset

    summary = import_dataset(images=images, maps=maps, texts=texts, out=out, resize=resize,
                             copy_images=not reference_images, name=name)
    extra = f", {summary.resized} maps resized" if summary.resized else ""
    click.echo(f"{summary.n_triplets} triplets over {summary.n_images} images -> "
               f"{summary.out}{extra}")


COMMANDS: list[click.Command] = [maps_command, import_command]
