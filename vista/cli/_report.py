"""The report folder of a CLI command that writes one JSON file and one figure
(``vista lag``, ``vista sanity``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click


def check_new_folder(out: Path | None) -> None:
    """Refuse an ``--out`` folder that holds anything (nothing is overwritten)."""
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise click.ClickException(f"{out} is not an empty folder; choose another --out "
                                   "(nothing is overwritten)")


def write_report(out: Path, stem: str, data: Mapping[str, Any],
                 plot: Callable[[], Any]) -> str:
    """Write ``OUT/STEM.json`` and ``OUT/STEM.png`` (the figure ``plot()`` returns); the
    line that says what was written (without matplotlib, the JSON alone, and why)."""
    from .._io import write_json_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / f"{stem}.json", dict(data))
    try:
        fig = plot()
    except ImportError as exc:
        return f"wrote {out / f'{stem}.json'} (no figure: {exc})"
    fig.savefig(out / f"{stem}.png", dpi=150)
    return f"wrote {out / f'{stem}.json'} and {out / f'{stem}.png'}"
