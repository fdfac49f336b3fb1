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
    TypeError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    PermissionError,
    ImportError,
    KeyError,
)


class VistaGroup(click.Group):
    """A click group that turns library errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; everything finished so far is kept", err=True)
            ctx.exit(130)
        except USER_ERRORS as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise click.ClickException(str(msg)) from exc


@click.group(cls=VistaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="vista")
def cli() -> None:
    """Do vision-language models look where people look?

    Record gaze and speech (record, transcribe), turn recordings into human
    attention maps (replay, maps, import), score models against them (score,
    metrics), and draw the results (figure, report).
    """


def _collect() -> None:
    from . import acquisition, figures, gaze, metrics, replay, score, transcribe

    from . import areas, lag, sanity, view
    for module in (acquisition, gaze, replay, transcribe, metrics, score, figures, areas, view,
                   lag, sanity):
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_collect()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="vista")
