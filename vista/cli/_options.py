"""The group-level options of ``vista``: ``--version`` (``--verbose``: with the versions
of the key dependencies) and the ``--quiet``/``--verbose`` pair; options shared by
several commands."""

from __future__ import annotations

import contextlib
import io
import logging
import platform
import sys
import warnings
from importlib import metadata

import click

from .. import __version__

# (distribution, what it is for): read from the installed metadata, nothing imported
DEPENDENCIES = (
    ("numpy", "arrays"),
    ("pandas", "tables"),
    ("torch", "models (extra explain)"),
    ("transformers", "models (extra explain)"),
    ("eyelinkio", "EDF files (extra eyelink)"),
    ("sr-research-pylink", "EyeLink tracker (extra eyelink)"),
    ("matplotlib", "figures (extra viz)"),
)


def version_text(*, verbose: bool) -> str:
    """``vista X.Y.Z``, and with ``verbose`` the Python and key dependency versions."""
    lines = [f"vista {__version__}"]
    if verbose:
        lines.append(f"  python {platform.python_version()} ({sys.executable})")
        for dist, role in DEPENDENCIES:
            try:
                found = metadata.version(dist)
            except metadata.PackageNotFoundError:
                found = "not installed"
            lines.append(f"  {dist:<20} {found:<16} {role}")
    return "\n".join(lines)


def apply_verbosity(ctx: click.Context, *, quiet: bool, verbose: bool) -> None:
    """Record the verbosity in ``ctx.meta["vista.verbosity"]`` (-1, 0 or 1) for the
    commands; ``quiet`` silences their standard output and warnings (errors still go
    to standard error), ``verbose`` shows vista's log messages on standard error."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    ctx.meta["vista.verbosity"] = -1 if quiet else (1 if verbose else 0)
    if quiet:
        ctx.with_resource(contextlib.redirect_stdout(io.StringIO()))
        ctx.with_resource(warnings.catch_warnings())
        warnings.simplefilter("ignore")
    elif verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        log = logging.getLogger("vista")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        ctx.call_on_close(lambda: log.removeHandler(handler))


def verbosity() -> int:
    """The verbosity of the running command: -1 (``--quiet``), 0 or 1 (``--verbose``);
    0 outside a ``vista`` command. Commands ask it before drawing a progress bar."""
    ctx = click.get_current_context(silent=True)
    return 0 if ctx is None else int(ctx.find_root().meta.get("vista.verbosity", 0))


MAX_SEED = 2**63 - 1


def check_seed(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """``--seed``: an integer in [0, 2**63 - 1] (a numpy seed that JSON keeps exactly)."""
    if value is not None and not 0 <= value <= MAX_SEED:
        raise click.BadParameter(f"{value} is not in the range 0 to 2**63-1")
    return value


def _check_executor(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ..scoring.executor import parse_executor

    try:
        parse_executor(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


executor_option = click.option(
    "--executor", default="serial", show_default=True, callback=_check_executor,
    metavar="serial|processes:N|dask:ADDRESS",
    help="Where the model work runs: this process, N local worker processes (1 to 256), "
         "or the workers of a Dask scheduler (an address such as tcp://host:8786, or a "
         "scheduler file *.json; needs vista-gaze[cluster]). The results are the same.")
"""``--executor`` of ``vista score`` and ``vista sweep`` (checked before anything runs)."""
