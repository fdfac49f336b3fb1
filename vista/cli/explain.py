"""``vista recipes``; see :mod:`vista.explain`."""

from __future__ import annotations

import click


@click.command("recipes")
@click.option("--model", "family", default=None, metavar="NAME",
              help="Only this model family (default: every family).")
def recipes_command(family: str | None) -> None:
    """List each model family's recipes: the reference file and function each one
    follows, and every choice it fixes (* marks the default). Use one as
    ``vista score --model NAME:RECIPE``."""
    from ..explain.listing import format_recipes

    click.echo(format_recipes(family))


COMMANDS: list[click.Command] = [recipes_command]
