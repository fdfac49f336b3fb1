"""CLI command ``vista replay``: a recording's trials at a glance, or the recording
played back through the Tracker protocol; see :mod:`vista.cli`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from ..acquisition.tracker import SPEED_RANGE

KINDS = ("message", "fixation", "saccade", "blink")


def _kinds(value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise click.BadParameter(
            f"expected a comma-separated list of {', '.join(KINDS)}; got {value!r}",
            param_hint="--kinds")
    return kinds


def _speed(ctx: click.Context, param: click.Parameter, value: float) -> float:
    lo, hi = SPEED_RANGE
    if not (lo <= value <= hi or value == math.inf):
        raise click.BadParameter(f"must be between {lo:g} and {hi:g}, or inf; got {value}",
                                 ctx=ctx, param=param)
    return value


def _encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"unknown text encoding {value!r}", ctx=ctx,
                                 param=param) from None
    return value


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.0f}"


def _echo_summary(info: dict[str, Any]) -> None:
    dc = info["display_coords"]
    rate = info["sampling_rate_hz"]
    click.echo(
        f"{info['path']}: eyes {info['eyes']}, "
        f"{'?' if rate is None else f'{rate:g}'} Hz, display "
        f"{'unknown' if dc is None else ' '.join(f'{v:g}' for v in dc)}, "
        f"{_ms(info['start_ms'])}-{_ms(info['end_ms'])} ms"
    )
    click.echo(f"{info['fixations']} fixations, {info['saccades']} saccades, "
               f"{info['blinks']} blinks, {info['messages']} messages, "
               f"{len(info['trials'])} trials")
    rows = [("trial", "start_ms", "end_ms", "dur_ms", "fix", "msgs", "image")]
    for t in info["trials"]:
        rows.append((str(t["trial_id"]), _ms(t["start_ms"]), _ms(t["end_ms"]),
                     _ms(t["duration_ms"]), str(t["fixations"]), str(t["messages"]),
                     t["image"] or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:6], widths[1:],
                                                                          strict=True)]
        click.echo("  ".join([*cells, r[6]]))


@click.command("replay")
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, default=False,
              help="Print JSON (with --emit: one JSON object per event) [default: text].")
@click.option("--emit", is_flag=True, default=False,
              help="Play the recording back through the Tracker protocol (ReplayTracker), "
                   "printing each event when the replay clock reaches it "
                   "[default: print the per-trial summary].")
@click.option("--speed", type=float, default=1.0, show_default=True, callback=_speed,
              help="Replay speed for --emit: 1 is real time, 10 ten times faster, "
                   "inf without waiting (0.001 to 1000000, or inf).")
@click.option("--kinds", default="message,fixation", show_default=True,
              help="Events to emit, comma-separated: message, fixation, saccade, blink.")
@click.option("--csv", "as_csv", is_flag=True, default=False,
              help="Print the per-trial table as CSV (columns in the README, "
                   "'Recordings as DataFrames') [default: text].")
@click.option("--encoding", default="utf-8", show_default=True, callback=_encoding,
              help="Text encoding of an ASC file's messages.")
@click.option("--strict", is_flag=True, default=False,
              help="Refuse an inconsistent recording (times going back, START/END or "
                   "trial messages unpaired, events outside recording blocks) instead of "
                   "warning [default: warn].")
def replay_command(recording: Path, as_json: bool, emit: bool, speed: float, kinds: str,
                   as_csv: bool, encoding: str, strict: bool) -> None:
    """Summarise an EyeLink recording (EDF or ASC) per trial, or replay it.

    The summary lists each trial (from TRIALID ... TRIAL_RESULT messages; the whole
    recording when there are none) with its time span on the tracker clock,
    fixations, messages and image.

    \b
    Examples:
      vista replay run.edf
      vista replay run.asc --json
      vista replay run.edf --emit --speed 10 --kinds message,fixation
      vista replay run.asc --csv > trials.csv
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")
    event_kinds = _kinds(kinds)
    from ..gaze.io import read_recording
    from ._warnings import echo_warnings

    with echo_warnings():
        rec = read_recording(recording, encoding=encoding, strict=strict)
    if not emit:
        if as_csv:
            click.echo(rec.trials_frame().to_csv(index=False), nl=False)
        elif as_json:
            click.echo(json.dumps(rec.describe(), indent=2))
        else:
            _echo_summary(rec.describe())
        return
    from ..acquisition.replay import ReplayTracker

    tracker = ReplayTracker(rec, speed=speed, samples=False)
    tracker.connect()
    try:
        for ev in tracker.events(kinds=event_kinds):
            if as_json:
                click.echo(json.dumps(ev.to_dict()))
            elif ev.kind == "message":
                click.echo(f"{ev.time_ms:12.1f}  message   {ev.text}")
            else:
                where = "" if ev.x is None or not math.isfinite(ev.x) else \
                    f" at ({ev.x:.1f}, {ev.y:.1f})"
                click.echo(f"{ev.time_ms:12.1f}  {ev.kind:<8}  {ev.eye} "
                           f"{ev.start_ms:.0f}-{ev.end_ms:.0f}{where}")
    finally:
        tracker.close()


COMMANDS: list[click.Command] = [replay_command]
