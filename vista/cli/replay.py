"""CLI commands for this area; see :mod:`vista.cli`."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
