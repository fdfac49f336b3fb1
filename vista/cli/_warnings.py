"""Warnings of a command's library call, printed on standard error as one line each."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import click

from ._options import verbosity


@contextlib.contextmanager
def echo_warnings() -> Iterator[None]:
    """Collect the warnings raised inside the block (a
    :class:`~vista.gaze.checks.RecordingWarning` naming its file, ...) and print each
    distinct one as ``warning: MESSAGE`` on standard error when the block ends, even
    when it ends in an error. Nothing is printed under the group's ``--quiet``."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        if verbosity() >= 0:
            for text in dict.fromkeys(str(w.message) for w in caught):
                click.echo(f"warning: {text}", err=True)
