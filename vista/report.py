"""One self-contained HTML page for a scoring run: the table, the leaderboards, the
per-image figures and the provenance.

The page has inline CSS, figures embedded as base64 PNG and no scripts, fonts or
links to fetch, so it opens offline and can be mailed or archived as one file. Its
figures are small previews (:data:`PREVIEW_DPI`, 256 colours), drawn in worker
processes.

A report carries :data:`MARKER` and the run it shows in its ``<head>``; an existing
file is replaced only when it is such a report of the same run (see
:func:`write_report`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "PREVIEW_DPI", "render_report", "write_report"]

PREVIEW_DPI = 72
"""Resolution of the figures embedded in a report: previews for the screen (``vista
figure`` draws the print versions)."""

MARKER = '<meta name="generator" content="vista report">'
"""The line in a report's ``<head>`` that marks it as written by ``vista report``."""

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.synthetic{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em;border-radius:4px;
font-weight:600}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{font-family:Menlo,Consolas,monospace;white-space:nowrap}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.muted{color:#666;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;
font-size:.8em}details{margin:.5em 0}
"""


def _img(png: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def _table(header: list[str], rows: list[list[str]], *, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= numeric_from else
            f"<td>{html.escape(c)}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _viewer_link(run: Any, page_dir: Path) -> str:
    """The paragraph that leads to the run's trial viewer ``RUN/view.html`` (written by
    ``vista view RUN --out RUN/view.html``): a link relative to the page's folder, so a
    run copied with its report keeps it; where no relative path exists (another
    drive), or the viewer is not written yet, the command that writes it."""
    viewer = run.root.resolve() / "view.html"
    if viewer.is_file():
        try:
            rel = os.path.relpath(viewer, page_dir.resolve())
        except ValueError:
            rel = None
        if rel is not None:
            href = urllib.parse.quote(Path(rel).as_posix())
            return (f'<p><a href="{html.escape(href, quote=True)}">Trial viewer</a>: '
                    "gaze, words and every model's map per trial.</p>")
    return (f"<p class=\"muted\">Inspect each trial: <code>vista view "
            f"{html.escape(str(run.root))} --out {html.escape(str(run.root / 'view.html'))}"
            "</code>.</p>")


def _head(run: Any, page_dir: Path) -> list[str]:
    s, ds = run.summary, run.summary["dataset"]
    parts = [f"<h1>vista scores: {html.escape(str(ds['name']))}</h1>",
             f'<p class="muted">Dataset <code>{html.escape(str(ds["path"]))}</code>: '
             f"{ds['n_scored']} of {ds['n_triplets']} triplets scored. "
             f"vista {html.escape(str(s['vista_version']))}, seed {s['seed']}. "
             f"Run folder <code>{html.escape(str(run.root.resolve()))}</code>.</p>"]
    parts.append(_viewer_link(run, page_dir))
    if ds.get("synthetic"):
        parts.append('<p class="synthetic">SYNTHETIC dataset: the human maps come from '
                     "simulated observers, not people. Use it to try the workflow, not to "
                     "compare models.</p>")
    return parts


def _scores(run: Any) -> list[str]:
    from .scoring import table_rows

    s = run.summary
    header, body, comp = table_rows(s)
    boot = s["bootstrap"]
    what = ("the five paper-mode bootstrap means" if boot.get("paper") else
            f"the {round(100 * boot['confidence'])}% {boot['interval']} bootstrap interval "
            f"({boot['n_boot']} resamples of the triplets)")
    parts = ["<h2>Scores</h2>", f"<p>Mean over triplets; in brackets {html.escape(what)}.</p>",
             _table(header, body, numeric_from=1)]
    if comp:
        first = next(iter(s["results"]))
        parts.append(f"<p>Paired bootstrap differences from <b>{html.escape(first)}</b> on "
                     "the triplets both models scored: difference [interval] and two-sided "
                     "p-value.</p>")
        parts.append(_table(["models", *header[1:]], comp, numeric_from=1))
    bad = s.get("skipped", {}).get("bad", {})
    per_model = s.get("skipped", {}).get("per_model", {})
    if bad or per_model:
        rows = [[tid, "all models", why] for tid, why in bad.items()]
        rows += [[tid, m, why] for m, per in per_model.items() for tid, why in per.items()]
        parts.append("<h2>Skipped triplets</h2>")
        parts.append(_table(["triplet", "model", "reason"], rows, numeric_from=99))
    texts = {t.triplet_id: t.text for t in run.dataset}
    per_triplet = [[tid, model, texts.get(tid, ""),
                    *("nan" if v != v else f"{v:.4f}" for v in (vals.get(m, math.nan)
                                                                  for m in run.metrics))]
                   for (tid, model), vals in run.scores.items()]
    parts.append(f"<details><summary>Per-triplet scores ({len(per_triplet)} rows, as in "
                 "scores.csv)</summary>")
    parts.append(_table(["triplet", "model", "text", *run.metrics], per_triplet,
                        numeric_from=3))
    parts.append("</details>")
    return parts


def _figures(run: Any, *, max_images: int, cmap: str, alpha: float, dpi: int,
             jobs: int | None, progress: Callable[[int, int], None] | None) -> list[str]:
    """The leaderboards and the first ``max_images`` image panels, drawn as previews."""
    from .runfigures import FigureTask, image_groups, render, run_rows

    groups = image_groups(run)
    shown = groups[:max(0, max_images)]

    def tasks() -> Any:
        for metric in run.metrics:
            yield FigureTask("leaderboard", f"leaderboard {metric}", ("png",), dpi,
                             {"summary": run.summary, "metric": metric}, palette=True)
        for label, group in shown:
            yield FigureTask("image", f"maps for {label}", ("png",), dpi,
                             {"image": run.dataset.load_image(group[0]),
                              "rows": run_rows(run, group, run.models), "title": label,
                              "cmap": cmap, "alpha": alpha}, palette=True)

    parts = ["<h2>Leaderboards</h2>"]
    total = len(run.metrics) + len(shown)
    if progress is not None:
        progress(0, total)
    for i, (task, files) in enumerate(render(tasks(), jobs=jobs), start=1):
        if progress is not None:
            progress(i, total)
        if task.kind == "image" and "<h2>Maps</h2>" not in parts:
            parts.append("<h2>Maps</h2>")
            parts.append("<p>Each row: a spoken segment, the human map and each model's map "
                         "over the image (maps scaled to their own range).</p>")
        parts.append(_img(files["png"], task.name))
    if len(groups) > len(shown) and shown:
        parts.append(f'<p class="muted">{len(groups) - len(shown)} more image(s) not '
                     "shown; see <code>vista figure</code>.</p>")
    return parts


def _provenance(summary: Mapping[str, Any]) -> list[str]:
    from . import __version__

    prov_rows = []
    for name, p in summary["models"].items():
        detail = ", ".join(f"{k}: {v}" for k, v in p.items() if k not in ("model", "kind"))
        prov_rows.append([name, str(p.get("kind", "")), detail])
    met_rows = [[m, "higher" if i.get("higher_is_better") else "lower",
                 ", ".join(f"{k}={v}" for k, v in i.get("options", {}).items()) or "defaults",
                 str(i.get("description", ""))] for m, i in summary["metrics"].items()]
    return ["<h2>Provenance</h2>",
            _table(["model", "kind", "id, revision, method, options"], prov_rows,
                   numeric_from=99),
            _table(["metric", "better", "options", "description"], met_rows, numeric_from=99),
            "<details><summary>summary.json</summary><pre>"
            + html.escape(json.dumps(summary, indent=2)) + "</pre></details>",
            f'<p class="muted">Written by vista {html.escape(__version__)} (vista report).</p>']


def render_report(
    run_dir: str | os.PathLike[str],
    *,
    max_images: int = 12,
    cmap: str = "jet",
    alpha: float = 0.5,
    dpi: int = PREVIEW_DPI,
    jobs: int | None = None,
    page_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """The HTML page of a finished scoring run, as a string.

    Parameters
    ----------
    run_dir : path
        A ``vista score`` output folder.
    max_images : int, optional
        Per-image panels included, the first images of the dataset (default 12).
    cmap, alpha
        Map colours and opacity (see :func:`vista.viz.overlay`).
    dpi : int, optional
        Resolution of the embedded previews, 30 to 300 (default 72).
    jobs : int, optional
        Worker processes drawing the previews (default: one per CPU; 1: none).
    page_dir : path, optional
        The folder the page will be saved in (default the run folder): the link to the
        run's trial viewer is relative to it.
    progress : callable, optional
        Called as ``progress(done, total)`` with counts of figures, before the first
        and after each.

    Returns
    -------
    str
        A complete HTML document with no external resources; its head carries
        :data:`MARKER` and the run folder (``<meta name="vista-run">``).
    """
    from .scoring import Run
    from .viz import _check_alpha, _check_cmap

    _check_cmap(cmap)
    _check_alpha(alpha)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 30 <= dpi <= 300:
        raise ValueError(f"dpi must be a whole number from 30 to 300; got {dpi!r}")
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 0:
        raise ValueError(f"max_images must be a whole number of at least 0; got {max_images!r}")
    run = Run(run_dir)
    parts = [*_head(run, run.root if page_dir is None else Path(page_dir)), *_scores(run),
             *_figures(run, max_images=max_images, cmap=cmap, alpha=alpha, dpi=dpi, jobs=jobs,
                       progress=progress),
             *_provenance(run.summary)]
    title = html.escape(f"vista scores: {run.summary['dataset']['name']}")
    run_meta = html.escape(str(run.root.resolve()), quote=True)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"{MARKER}\n<meta name=\"vista-run\" content=\"{run_meta}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _own_report(path: Path, run_root: Path, *, default: bool) -> bool:
    """Whether ``path`` is a report :func:`write_report` wrote for the run ``run_root``:
    a regular file whose first 1 KiB holds :data:`MARKER` and that run's folder. At
    the default place, ``RUN/report.html``, a report of vista 0.1.0 (no marker; it
    starts with the doctype and a ``vista scores:`` title) counts too."""
    from ._io import check_regular_file

    try:
        with open(check_regular_file(path, what="report"), "rb") as fh:
            head = fh.read(1024).decode("utf-8", "replace")
    except (OSError, ValueError):
        return False
    run_meta = f'<meta name="vista-run" content="{html.escape(str(run_root), quote=True)}">'
    if MARKER in head:
        return run_meta in head
    return default and head.startswith("<!DOCTYPE html>") and "<title>vista scores: " in head


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Write :func:`render_report`'s page to ``out`` (default ``RUN_DIR/report.html``),
    atomically; return its path. ``options`` go to :func:`render_report` (its
    ``page_dir`` is ``out``'s folder).

    Raises
    ------
    FileExistsError
        ``out`` exists and is not a report of this run: a file whose first 1 KiB does
        not hold :data:`MARKER` and ``<meta name="vista-run" content="RUN">`` with this
        run's absolute folder (checked before anything is drawn). At the default
        place, a report of vista 0.1.0 is replaced too.
    """
    from ._io import write_atomic

    run_root = Path(run_dir).resolve()
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    own = _own_report(path, run_root, default=out is None)
    if (path.exists() or path.is_symlink()) and not own:
        raise FileExistsError(f"{path} exists and is not this run's vista report; vista "
                              "report replaces only a report it wrote for the same run. "
                              "Choose another --out")
    text = render_report(run_dir, **{"page_dir": path.parent, **options})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    return path
