"""The progress bar of the commands whose steps take more than a few seconds (``vista
score``, ``figure``, ``report``, ``sweep``): the library reports ``progress(done,
total)`` through a callback; the command draws it on standard error with
:func:`click.progressbar`. Under the group's ``--quiet`` nothing is drawn."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from ._options import verbosity

Report = Callable[[int, int], None]


def progress_bar(label: str, *, on_first: Report | None = None
                 ) -> tuple[Report, Callable[[], None]]:
    """``(report, close)``: ``report(done, total)`` opens the bar on the first call with
    work left (``done < total``) and moves it to ``done``; ``close()`` ends it (call it in
    ``finally``). ``on_first(done, total)`` runs at the first report (e.g. to say a run
    is resumed). Both do nothing under ``--quiet``."""
    state: dict[str, Any] = {"bar": None, "last": 0, "first": True}
    if verbosity() < 0:
        return (lambda done, total: None), (lambda: None)

    def report(done: int, total: int) -> None:
        if state["first"] and on_first is not None:
            on_first(done, total)
        state["first"] = False
        if state["bar"] is None and done < total:
            bar: Any = click.progressbar(length=total, label=label, file=sys.stderr,
                                         show_pos=True, show_eta=True)
            state["bar"] = bar.__enter__()
        if state["bar"] is not None:
            state["bar"].update(done - state["last"])
            state["last"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
            state["bar"] = None

    return report, close
