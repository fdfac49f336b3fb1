"""The ``vista`` command line: each command parses, calls one library function, reports.

Commands live in one module per area (``metrics``, ``gaze``, ``acquisition``,
``score``) and are collected here; this module and those imports stay light, so
``vista --help`` loads no torch, transformers, pylink or matplotlib.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..errors import VistaError

# Errors that come from bad input rather than from a bug: shown as one line.
USER_ERRORS: tuple[type[BaseException], ...] = (
    VistaError,
    ValueError,
    OSError,  # FileNotFoundError, FileExistsError, PermissionError, a full disk...
)
# Shown as one line only where vista's own code raises them on purpose (a ``raise``
# statement in vista naming what is wrong); elsewhere they are bugs.
DELIBERATE_ONLY: tuple[type[BaseException], ...] = (TypeError, KeyError, ImportError)

BUG_TRACKER = "https://github.com/vista-gaze/vista/issues"
EXIT_BUG = 70  # EX_SOFTWARE (sysexits.h): an internal error


def _raised_by_vista(exc: BaseException) -> bool:
    """True when the innermost frame is a ``raise`` statement in vista's own code."""
    import linecache
    import os

    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.abspath(filename).startswith(package + os.sep):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise ")


def _report_bug(exc: BaseException) -> None:
    import traceback

    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6)
    click.echo("".join(lines).rstrip(), err=True)
    click.echo(f"This is a bug in vista {__version__}, not a problem with your input. Please "
               f"report it, with the command and the lines above, at {BUG_TRACKER}", err=True)


class VistaGroup(click.Group):
    """A click group that turns user errors into one clear line and exit status 1, and
    anything else (a bug) into a short traceback, where to report it, and status 70."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            hint = ctx.meta.get("vista.interrupt_hint")
            click.echo("\ninterrupted; " + (hint or "everything finished so far is kept"),
                       err=True)
            ctx.exit(130)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc
        except DELIBERATE_ONLY as exc:
            if not _raised_by_vista(exc):
                _report_bug(exc)
                ctx.exit(EXIT_BUG)
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise click.ClickException(str(msg)) from exc
        except Exception as exc:
            _report_bug(exc)
            ctx.exit(EXIT_BUG)


@click.group(cls=VistaGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True, no_args_is_help=True)
@click.option("--version", is_flag=True, help="Show the version and exit; with --verbose, "
              "also Python's and the key dependencies' (torch, transformers, eyelinkio, pylink).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors [default: off].")
@click.option("-v", "--verbose", is_flag=True, help="Also print vista's log messages (on "
              "standard error) [default: off].")
@click.pass_context
def cli(ctx: click.Context, version: bool, quiet: bool, verbose: bool) -> None:
    """Do vision-language models look where people look?

    Record gaze and speech (record, transcribe), turn recordings into human
    attention maps (replay, maps, import), score models against them (score,
    metrics), and draw the results (figure, report).

    Shell completion: eval "$(_VISTA_COMPLETE=bash_source vista)" in ~/.bashrc
    (zsh_source, fish_source for zsh and fish).
    """
    from ._options import apply_verbosity, version_text

    if version:
        click.echo(version_text(verbose=verbose))
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        return
    apply_verbosity(ctx, quiet=quiet, verbose=verbose)


def _collect() -> None:
    from . import (
        acquisition,
        areas,
        explain,
        figures,
        gaze,
        lag,
        metrics,
        replay,
        sanity,
        score,
        sweep,
        transcribe,
        view,
    )
    for module in (acquisition, gaze, replay, transcribe, metrics, score, figures, areas, view,
                   lag, sanity, sweep, explain):
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_collect()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="vista")
