"""CLI commands for this area; see :mod:`vista.cli`.

``vista record``: run a lab session (EyeLink, pylink dummy mode, or a simulated
participant) into a session folder. The acquisition modules (pygame, pylink) are
imported only when the command runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click


@click.command("record")
@click.option("--participant", required=True, metavar="ID",
              help="Participant id: letters, digits, '_' or '-' (names the session folder).")
@click.option("--images", "images", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, metavar="DIR",
              help="Folder of images, one trial each (png, jpg, bmp, gif, tif, webp). "
                   "Required unless --resume.")
@click.option("--simulate", "mode", flag_value="simulated",
              help="A simulated participant and tracker (no hardware; scenes from "
                   "IMAGE.scene.json or salient regions).")
@click.option("--dummy", "mode", flag_value="dummy",
              help="pylink's dummy mode: the full protocol and display, no tracker, no gaze.")
@click.option("--eyelink", "mode", flag_value="eyelink",
              help="A real EyeLink, Host PC at --address. The default for a new session "
                   "(here and in the library); --resume defaults to the kind the session "
                   "was recorded with.")
@click.option("--address", default="100.1.1.1", show_default=True,
              help="EyeLink Host PC IP address.")
@click.option("--out", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Session folder. Default: sessions/PARTICIPANT-YYYYmmdd-HHMMSS (UTC); "
                   "with --resume, the participant's newest unfinished session there.")
@click.option("--resume", is_flag=True, default=False,
              help="Continue an interrupted session (trials already recorded are skipped).")
@click.option("--screen-px", nargs=2, type=click.IntRange(min=1, max=8192), default=(1920, 1080),
              show_default=True, metavar="W H", help="Screen resolution, pixels (1-8192).")
@click.option("--screen-mm", nargs=2, type=click.FloatRange(min=0, max=10000, min_open=True),
              default=(531.0, 298.7), show_default=True, metavar="W H",
              help="Visible screen size, millimetres (0-10000).")
@click.option("--distance-mm", type=click.FloatRange(min=0, max=10000, min_open=True),
              default=700.0, show_default=True, metavar="D",
              help="Eye-to-screen distance, millimetres (0-10000).")
@click.option("--time-limit-s", type=click.FloatRange(min=0, max=3600, min_open=True),
              default=10.0, show_default=True, metavar="S",
              help="Longest a trial lasts, seconds (0-3600); space or return ends it sooner.")
@click.option("--audio", "audio", default=None, metavar="microphone|tts|FILE",
              help="Speech: 'microphone', 'tts' (espeak-ng speaks a simulated participant's "
                   "phrases) or a WAV file as the microphone. Default: none (a simulated "
                   "participant's words are written as the transcript).")
@click.option("--order", type=click.Choice(["sorted", "shuffled"]), default="sorted",
              show_default=True, help="Trial order: by file name, or shuffled with --seed.")
@click.option("--seed", type=int, default=None,
              help="Random seed (shuffle, simulated participant). Default: fresh randomness.")
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="--simulate only: pace the simulated clock, simulated ms per real ms, "
                   "0.01-10000 (1: real time, to watch with --display; 0: as fast as "
                   "possible).")
@click.option("--display/--no-display", "display", default=None,
              help="Show the images full screen. Default: on with a tracker, off with --simulate.")
@click.option("--no-drift-check", "drift_check", is_flag=True, flag_value=False, default=True,
              help="Skip the drift check before each trial. Default: check.")
@click.option("--inter-trial-s", type=click.FloatRange(min=0, max=600), default=0.0,
              show_default=True, metavar="S",
              help="Blank screen between trials, real seconds (0-600).")
def record_command(
    participant: str,
    images: Path | None,
    mode: str | None,
    address: str,
    out: Path | None,
    resume: bool,
    screen_px: tuple[int, int],
    screen_mm: tuple[float, float],
    distance_mm: float,
    time_limit_s: float,
    audio: str | None,
    order: str,
    seed: int | None,
    speed: float,
    display: bool | None,
    drift_check: bool,
    inter_trial_s: float,
) -> None:
    """Record a session: each image is shown while the tracker records gaze and the
    participant describes it aloud.

    Writes a session folder (session.json, trials.jsonl, the recording, audio/,
    transcripts/) that `vista maps` reads. Each trial is on disk before the next
    starts; after a crash, run the same command with --resume.

    \b
    Examples:
      vista record --participant P01 --images stimuli/ --simulate --seed 1
      vista record --participant P01 --images stimuli/ --dummy --no-display
      vista record --participant P01 --images stimuli/ --audio microphone
      vista record --participant P01 --resume
    """
    from ..acquisition.session import SessionConfig, run_session
    from ..records import Screen

    if images is None and not resume:
        raise click.UsageError("--images DIR is required (unless --resume)")
    config = SessionConfig(
        participant=participant,
        screen=Screen(screen_px[0], screen_px[1], screen_mm[0], screen_mm[1], distance_mm),
        images=images, tracker=mode, address=address, out=out, resume=resume,
        time_limit_s=time_limit_s, display=display, audio=audio, order=order, rng=seed,
        speed=None if speed == 0 else speed, inter_trial_s=inter_trial_s,
        drift_check=drift_check,
    )

    def report(entry: Mapping[str, Any]) -> None:
        click.echo(f"trial {entry['trial_id']}: {Path(entry['image']).name} "
                   f"({(entry['end_ms'] - entry['start_ms']) / 1000:.1f} s, "
                   f"ended by {entry['ended_by']})", err=True)
        if entry.get("audio_overflows"):
            click.echo(f"  warning: the audio input overflowed {entry['audio_overflows']} "
                       "time(s) in this trial: samples were lost, word times after the loss "
                       "may be early", err=True)

    summary = run_session(config, on_trial=report)
    click.echo(
        f"{summary.path}: {summary.completed}/{summary.total} trials ({summary.ran} this run), "
        f"status {summary.status}; recordings: {', '.join(summary.recordings) or 'none'}"
    )


COMMANDS: list[click.Command] = [record_command]
