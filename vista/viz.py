"""Figures: maps over their images, per-image panels and leaderboards.

Every function takes ``ax=None`` (or draws a whole figure) and returns the matplotlib
Figure; nothing calls ``show()`` or touches pyplot's global state (figures are made
with :class:`matplotlib.figure.Figure`). matplotlib is imported inside the functions
(``pip install 'vista-gaze[viz]'``).

Maps are shown min-max scaled to [0, 1] over their own range (a constant map is drawn
as zeros, i.e. not at all), coloured with ``cmap`` over the image; a pixel's opacity
is ``alpha * sqrt(value)``, so the map's peaks are at opacity ``alpha`` and its floor
leaves the image visible. The map is blended into the image once, on the image's own
pixel grid (:func:`composite`), so each panel is one image: a PDF embeds it once, and
a raster file resamples it once, to the panel's size.

The figures of a whole run (:func:`vista.runfigures.save_run_figures`) are in
:mod:`vista.runfigures`, which draws them with this module.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import require

__all__ = [
    "DEFAULT_DPI",
    "MIN_DPI",
    "axes_for",
    "composite",
    "encode_figure",
    "encode_formats",
    "figure_dpi",
    "image_panel",
    "leaderboard",
    "new_figure",
    "overlay",
    "save_figure",
    "triplet_figure",
]

DEFAULT_DPI = 300
"""Default resolution of raster figures, dots per inch: print quality. Panels that show
an image use fewer dots where the image has fewer pixels (:func:`figure_dpi`)."""

MIN_DPI = 100
"""Lowest resolution of a raster figure, so that its text stays legible."""

_LABELS = {"ncc": "NCC", "auc_borji": "AUC-Borji", "auc_borji_mit": "AUC-Borji (MIT)",
           "auc_judd": "AUC-Judd", "auc_shuffled": "sAUC", "nss": "NSS", "sim": "SIM",
           "kld": "KLD", "info_gain": "IG"}
_CHANCE = {"ncc": 0.0, "auc_borji": 0.5, "auc_borji_mit": 0.5, "auc_judd": 0.5,
           "auc_shuffled": 0.5, "nss": 0.0, "info_gain": 0.0}


def new_figure(**kwargs: Any) -> Any:
    """A :class:`matplotlib.figure.Figure` (``kwargs`` go to it), outside pyplot: never
    shown, freed with its last reference. The one place figures are created."""
    require("matplotlib", "viz")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def axes_for(ax: Any = None, **figure_kwargs: Any) -> Any:
    """``ax``, or the one Axes of a :func:`new_figure` (``figure_kwargs`` go to it): what
    a plotting function that takes ``ax=None`` draws on; its Figure is ``.figure``."""
    if ax is not None:
        return ax
    return new_figure(**figure_kwargs).add_subplot(1, 1, 1)


def _unit(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(arr.shape)
    return (arr - lo) / (hi - lo)


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    return a


def _check_cmap(cmap: str) -> str:
    require("matplotlib", "viz")
    import matplotlib

    if cmap not in matplotlib.colormaps:
        raise ValueError(f"cmap must be a matplotlib colormap name (e.g. 'jet', 'viridis', "
                         f"'inferno'); got {cmap!r}")
    return cmap


def _rgb01(image: np.ndarray) -> np.ndarray:
    """An H×W×3 float32 image in [0, 1] from H×W grey or H×W×3/4, uint8 or float [0, 1]."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must be H×W, H×W×3 or H×W×4; got shape {img.shape}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    else:
        out = np.clip(img.astype(np.float32), 0.0, 1.0)
    return np.broadcast_to(out, (*out.shape[:2], 3))


def composite(image: np.ndarray, saliency: np.ndarray | None, *, cmap: str = "jet",
              alpha: float = 0.5) -> np.ndarray:
    """``saliency`` blended into ``image`` on the image's grid, as H×W×3 uint8.

    The map is scaled to [0, 1] over its range, coloured with ``cmap`` and laid over
    the image with opacity ``alpha * sqrt(value)`` (the "over" operator, the same
    arithmetic as drawing the coloured map as an RGBA layer over the image). None
    gives the image alone.

    Examples
    --------
    >>> img = np.zeros((1, 2, 3), np.uint8)
    >>> composite(img, np.array([[0.0, 1.0]]), cmap="gray", alpha=0.5).tolist()
    [[[0, 0, 0], [128, 128, 128]]]
    """
    cmap = _check_cmap(cmap)
    alpha = _check_alpha(alpha)
    rgb = _rgb01(image)
    if saliency is not None:
        import matplotlib

        if np.shape(saliency) != rgb.shape[:2]:
            raise ValueError(f"saliency must be on the image grid {rgb.shape[:2]}; got shape "
                             f"{np.shape(saliency)}")
        unit = _unit(saliency)
        colour = matplotlib.colormaps[cmap](unit)[..., :3].astype(np.float32)
        a = (alpha * np.sqrt(unit)).astype(np.float32)[..., None]
        rgb = rgb * (1.0 - a) + colour * a
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def overlay(
    image: np.ndarray,
    saliency: np.ndarray | None,
    *,
    ax: Any = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    title: str | None = None,
) -> Any:
    """Draw ``saliency`` over ``image``.

    Parameters
    ----------
    image : ndarray
        H×W×3 uint8 (or H×W grey) image.
    saliency : ndarray or None
        H×W map on the image's grid, scaled to [0, 1] for display; None draws the
        image alone.
    ax : matplotlib Axes, optional
        Where to draw; a new one-panel Figure when None.
    cmap : str, optional
        Matplotlib colormap (default ``"jet"``).
    alpha : float, optional
        Opacity of the map's peak, 0 to 1 (default 0.5); lower values fade as
        ``alpha * sqrt(value)``.
    title : str, optional
        Panel title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = overlay(np.zeros((4, 6, 3), np.uint8), np.arange(24.0).reshape(4, 6))
    >>> len(fig.axes)
    1
    """
    img = np.asarray(image)
    ax = axes_for(ax, figsize=(4, 4 * img.shape[0] / max(img.shape[1], 1)))
    rgb = composite(img, saliency, cmap=cmap, alpha=alpha)
    ax.imshow(rgb, interpolation="antialiased")
    if saliency is not None and not _unit(saliency).any():
        ax.text(0.5, 0.5, "constant map", transform=ax.transAxes, ha="center",
                va="center", color="white", fontsize=8,
                bbox={"facecolor": "black", "alpha": 0.5, "linewidth": 0})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def _score_line(scores: Mapping[str, float] | None) -> str:
    if not scores:
        return ""
    return "  ".join(f"{_LABELS.get(k, k)} {v:.2f}" for k, v in scores.items()
                     if v is not None and np.isfinite(v))


class _Sheet:
    """A figure with one Axes spanning it, in inches from the top left, on which each
    panel is an image placed at its extent: one Axes per figure instead of one per
    panel (the Axes machinery, not the pixels, dominated drawing time), and a layout
    computed once instead of by the constrained-layout solver."""

    LINE = 0.17  # inches per line of 9-point text, with leading

    def __init__(self, width: float, height: float) -> None:
        self.fig = new_figure(figsize=(width, height))
        self.ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        self.ax.set_xlim(0.0, width)
        self.ax.set_ylim(height, 0.0)
        self.ax.set_autoscale_on(False)
        self.ax.set_axis_off()

    def panel(self, rgb: np.ndarray, x: float, y: float, w: float, h: float, *,
              note: str | None = None) -> None:
        """Draw ``rgb`` in the box (x, y, w, h) (inches), with ``note`` over its middle."""
        self.ax.imshow(rgb, extent=(x, x + w, y + h, y), interpolation="antialiased",
                       aspect="auto")
        if note:
            self.ax.text(x + w / 2, y + h / 2, note, ha="center", va="center", color="white",
                         fontsize=8, bbox={"facecolor": "black", "alpha": 0.5, "linewidth": 0})

    def text(self, x: float, y: float, text: str, **kwargs: Any) -> None:
        self.ax.text(x, y, text, **{"fontsize": 9, **kwargs})


def _note(saliency: np.ndarray | None) -> str | None:
    if saliency is None:
        return "no map"
    return None if _unit(saliency).any() else "constant map"


def triplet_figure(
    image: np.ndarray,
    human: np.ndarray,
    model_maps: Mapping[str, np.ndarray | None],
    *,
    text: str,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: float = 2.6,
) -> Any:
    """One triplet: image | human map | each model's map, the text as title.

    Parameters
    ----------
    image : ndarray
        H×W×3 image.
    human : ndarray
        H×W human map.
    model_maps : mapping
        ``{model: map}`` (None: drawn as "no map").
    text : str
        The spoken segment, shown as the figure title.
    scores : mapping, optional
        ``{model: {metric: value}}`` shown over each model's panel.
    cmap, alpha
        See :func:`overlay`.
    panel_size : float, optional
        Width of one panel in inches (default 2.6).

    Returns
    -------
    matplotlib.figure.Figure
        One Axes (the whole figure) holding one image per panel, and the texts.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 6, 3), np.uint8); h = np.ones((4, 6))
    >>> len(triplet_figure(img, h, {"center": h}, text="a cat").axes[0].images)
    3
    """
    h, w = np.shape(image)[:2]
    n = 2 + len(model_maps)
    pw, ph, gap, pad = panel_size, panel_size * h / w, 0.1, 0.1
    heading = textwrap.fill(f"\u201c{text}\u201d", 90)
    top = pad + _Sheet.LINE * 1.25 * (heading.count("\n") + 1) + 0.1
    band = 3 * _Sheet.LINE  # model name, score line, "(no map)"
    sheet = _Sheet(2 * pad + n * pw + (n - 1) * gap, top + band + ph + pad)
    sheet.text(sheet.ax.get_xlim()[1] / 2, pad, heading, ha="center", va="top", fontsize=11)
    panels = [("image", None, ""), ("human", human, "")]
    panels += [(name, m, _score_line((scores or {}).get(name)) + ("" if m is not None else
                                                                  "\n(no map)"))
               for name, m in model_maps.items()]
    for i, (name, m, extra) in enumerate(panels):
        x = pad + i * (pw + gap)
        label = "\n".join(v for v in (name, extra.strip("\n")) if v)
        sheet.text(x + pw / 2, top + band - 0.05, label, ha="center", va="bottom")
        rgb = composite(image, m, cmap=cmap, alpha=alpha)
        note = None if name == "image" or m is None else _note(m)  # "(no map)" is above
        sheet.panel(rgb, x, top + band, pw, ph, note=note)
    return sheet.fig


def image_panel(
    image: np.ndarray,
    rows: Sequence[Mapping[str, Any]],
    *,
    cmap: str = "jet",
    alpha: float = 0.5,
    panel_size: float = 2.2,
    title: str | None = None,
) -> Any:
    """One image, one row per spoken segment: text | human map | model maps.

    Parameters
    ----------
    image : ndarray
        H×W×3 image.
    rows : sequence of mapping
        Each ``{"text": str, "human": ndarray, "maps": {model: ndarray | None},
        "scores": {model: {metric: value}}}`` (``scores`` optional).
    cmap, alpha
        See :func:`overlay`.
    panel_size : float, optional
        Width of one panel in inches (default 2.2).
    title : str, optional
        Figure title (e.g. the image name).

    Returns
    -------
    matplotlib.figure.Figure
        One Axes (the whole figure) holding one image per panel, and the texts.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 6, 3), np.uint8); h = np.ones((4, 6))
    >>> fig = image_panel(img, [{"text": "a", "human": h, "maps": {}},
    ...                         {"text": "b", "human": h, "maps": {}}])
    >>> len(fig.axes[0].images)
    2
    """
    if not rows:
        raise ValueError("rows must hold at least one segment")
    models = list(dict.fromkeys(m for r in rows for m in r.get("maps", {})))
    h, w = np.shape(image)[:2]
    n_cols = 1 + len(models)
    pw, ph, gap, pad, left = panel_size, panel_size * h / w, 0.1, 0.1, 1.6
    top = pad + (_Sheet.LINE * 1.25 + 0.1 if title else 0.0)
    band = 2 * _Sheet.LINE  # the model's name (first row), its scores
    sheet = _Sheet(left + n_cols * pw + (n_cols - 1) * gap + pad,
                   top + len(rows) * (band + ph) + (len(rows) - 1) * gap + pad)
    if title:
        sheet.text(sheet.ax.get_xlim()[1] / 2, pad, title, ha="center", va="top", fontsize=11)
    for i, row in enumerate(rows):
        y = top + i * (band + ph + gap) + band
        sheet.text(left - 0.1, y + ph / 2, textwrap.fill(str(row["text"]), 22), ha="right",
                   va="center")
        for j, name in enumerate(["human", *models]):
            m = row["human"] if j == 0 else row.get("maps", {}).get(name)
            line = "" if j == 0 else _score_line((row.get("scores") or {}).get(name))
            label = "\n".join(v for v in (name if i == 0 else "", line) if v)
            x = left + j * (pw + gap)
            if label:
                sheet.text(x + pw / 2, y - 0.05, label, ha="center", va="bottom")
            sheet.panel(composite(image, m, cmap=cmap, alpha=alpha), x, y, pw, ph,
                        note=_note(m))
    return sheet.fig


def leaderboard(
    summary: Mapping[str, Any],
    *,
    metric: str = "ncc",
    ax: Any = None,
    color: str = "#4c72b0",
) -> Any:
    """Bar chart of each model's mean ``metric`` with its bootstrap interval.

    Parameters
    ----------
    summary : mapping
        A run's ``summary.json`` (:attr:`vista.scoring.ScoreResult.summary`).
    metric : str, optional
        Which metric (default ``"ncc"``).
    ax : matplotlib Axes, optional
        Where to draw; a new Figure when None.
    color : str, optional
        Bar colour.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Models are sorted best first (by the metric's direction); error bars span the
    run's interval (95% percentile or BCa); a dotted line marks chance where the
    metric has one (0 for NCC/NSS, 0.5 for the AUCs). A synthetic dataset is said so in
    the title. The title's n is the number of triplets scored; where models have
    different numbers of finite values (a skipped triplet, an undefined metric), each
    model's label gives its own n.
    """
    results = summary["results"]
    if not results or metric not in next(iter(results.values())):
        known = sorted(next(iter(results.values()), {}))
        raise ValueError(f"metric must be one of the run's metrics {known}; got {metric!r}")
    info = summary.get("metrics", {}).get(metric, {})
    higher = bool(info.get("higher_is_better", True))
    def num(v: Any) -> float:  # summary.json stores an undefined value as null
        return math.nan if v is None else float(v)

    items = [(m, r[metric]) for m, r in results.items()]
    items.sort(key=lambda mr: (-np.nan_to_num(num(mr[1]["mean"]), nan=-np.inf) if higher
                               else np.nan_to_num(num(mr[1]["mean"]), nan=np.inf)))
    names = [m for m, _ in items]
    means = np.array([num(r["mean"]) for _, r in items], dtype=float)
    lows = np.array([num(r.get("low")) for _, r in items], dtype=float)
    highs = np.array([num(r.get("high")) for _, r in items], dtype=float)
    ax = axes_for(ax, figsize=(6, 0.45 * len(names) + 1.4), layout="constrained")
    ypos = np.arange(len(names))[::-1]
    err = np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)])
    ax.barh(ypos, np.nan_to_num(means), color=color, height=0.6)
    ax.errorbar(np.nan_to_num(means), ypos, xerr=err, fmt="none", ecolor="black", capsize=3)
    for y, m, hi in zip(ypos, means, highs, strict=True):
        if not np.isfinite(m):
            ax.text(0, y, " undefined (nan)", va="center", fontsize=8, color="gray")
        else:
            ax.annotate(f"{m:.3f}", (max(m, hi) if np.isfinite(hi) else m, y),
                        xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    counts = [r.get("n") for _, r in items]
    if len(set(counts)) > 1:  # some model scored fewer triplets: say how many each
        names = [f"{m} (n = {c})" if c is not None else m for m, c in zip(names, counts,
                                                                           strict=True)]
    ax.set_yticks(ypos, names)
    label = _LABELS.get(metric, metric)
    boot = summary.get("bootstrap", {})
    conf = round(100 * float(boot.get("confidence", 0.95)))
    ax.set_xlabel(f"{label} (mean, {conf}% bootstrap interval)"
                  + ("" if higher else "; lower is better"))
    if metric in _CHANCE:
        ax.axvline(_CHANCE[metric], color="gray", linestyle=":", linewidth=1)
    if metric.startswith("auc"):
        lo = np.nanmin(np.concatenate([lows, means, [0.5]]))
        ax.set_xlim(max(0.0, min(0.45, lo - 0.05)), 1.0)
    ds = summary.get("dataset", {})
    title = f"{label} on {ds.get('name', 'dataset')} (n = {ds.get('n_scored', '?')})"
    if ds.get("synthetic"):
        title += " - SYNTHETIC data"
    ax.set_title(title, fontsize=10)
    return ax.figure


def figure_dpi(image_width: int, panel_width: float, *, dpi: int = DEFAULT_DPI) -> int:
    """The raster resolution of a figure whose panels, ``panel_width`` inches wide, show
    an image ``image_width`` pixels wide: one dot per image pixel, within
    [:data:`MIN_DPI`, ``dpi``], so no image is drawn larger than it is (beyond what
    legible text needs) and a large one is reduced to ``dpi``.

    Examples
    --------
    >>> figure_dpi(160, 2.2), figure_dpi(640, 2.2), figure_dpi(4000, 2.2)
    (100, 291, 300)
    """
    if dpi < 1:
        raise ValueError(f"dpi must be positive; got {dpi!r}")
    return int(min(dpi, max(MIN_DPI, math.ceil(image_width / panel_width))))


def _freeze_layout(fig: Any) -> None:
    """Lay ``fig`` out once and keep that layout, so that saving it in several formats
    draws it once per format, not twice."""
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
        fig.set_layout_engine("none")


def _native_images(fig: Any, dpi: int) -> list[Any]:
    """The images of ``fig`` no larger than their panel at ``dpi``: a vector file
    embeds those as they are (interpolation ``none``) instead of resampling them up."""
    out = []
    for ax in fig.axes:
        for im in ax.images:
            shown = im.get_window_extent().width / fig.dpi * dpi
            if im.get_array().shape[1] <= shown and im.get_interpolation() != "none":
                out.append(im)
    return out


def _pixels(fig: Any, dpi: int) -> np.ndarray:
    """``fig`` drawn by Agg at ``dpi``: H×W×3 uint8 RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    old = fig.dpi
    try:
        fig.dpi = dpi
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
    finally:
        fig.dpi = old


def _libpng(pixels: np.ndarray) -> bytes:
    """PNG bytes of an H×W grey or H×W×3 BGR uint8 array through OpenCV's libpng: zlib
    level 1, run-length matching, the Paeth filter on every row (measured on a
    2473×3160 figure of photos: 0.21 s and 6.0 MB, against 0.30 s for libpng's adaptive
    filters at the same size, and 1.4 s and 6.9 MB for Pillow at level 1)."""
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
              cv2.IMWRITE_PNG_STRATEGY_RLE]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV 4.11 and later
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(pixels), params)
    if not ok:
        raise RuntimeError("OpenCV could not encode the figure as PNG")
    return bytes(enc.tobytes())


def _png(rgb: np.ndarray, *, palette: bool) -> bytes:
    """PNG bytes of an RGB array, with vista as its Creator (a ``tEXt`` chunk).

    Full colour goes through :func:`_libpng`; ``palette`` reduces it to 256 colours
    (Pillow's fast octree) for previews, about a quarter of the bytes.
    """
    import struct
    import zlib

    if palette:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).quantize(256, method=Image.Quantize.FASTOCTREE,
                                      dither=Image.Dither.NONE).save(buf, format="PNG")
        data = buf.getvalue()
    else:
        data = _libpng(rgb[..., ::-1])
    body = b"tEXt" + b"Creator\0" + _metadata()["Creator"].encode("latin-1")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end_of_ihdr = 8 + 8 + 13 + 4
    return data[:end_of_ihdr] + chunk + data[end_of_ihdr:]


class _FastPdfImages:
    """While active, the PNG stream that matplotlib's PDF backend makes of each embedded
    grey or RGB image (in its ``_writePng``, which keeps only the compressed rows) is
    encoded by :func:`_libpng` instead of Pillow at level 6; palette images go to
    Pillow at level 1. A no-op where matplotlib has no such method."""

    def __enter__(self) -> None:
        from matplotlib.backends import backend_pdf

        self._cls: Any = backend_pdf.PdfFile
        self._original = getattr(self._cls, "_writePng", None)
        original = self._original
        if original is None:
            return

        def write_png(pdf: Any, img: Any) -> Any:
            save = img.save

            def fast_save(fp: Any, format: Any = None, **kw: Any) -> None:
                if img.mode in ("L", "RGB"):
                    arr = np.asarray(img)
                    fp.write(_libpng(arr if arr.ndim == 2 else arr[..., ::-1]))
                else:
                    save(fp, format=format, **{"compress_level": 1, **kw})

            img.save = fast_save
            return original(pdf, img)

        self._cls._writePng = write_png  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        if self._original is not None:
            self._cls._writePng = self._original


def encode_figure(fig: Any, fmt: str, *, dpi: int, palette: bool = False) -> bytes:
    """``fig`` as the bytes of a ``png``, ``pdf`` or ``svg`` file.

    There is no tight bounding box (the figures lay themselves out, so nothing is
    cropped or drawn twice). PNG is drawn by Agg and encoded by :func:`_png`;
    ``palette=True`` gives 256 colours, for previews. In PDF and SVG an image no larger
    than its panel is embedded at its own resolution; PDF images are encoded by
    :func:`_libpng`.
    """
    if fmt not in ("png", "pdf", "svg"):
        raise ValueError(f"format must be 'png', 'pdf' or 'svg'; got {fmt!r}")
    if fmt == "png":
        return _png(_pixels(fig, dpi), palette=palette)
    buf = io.BytesIO()
    native = _native_images(fig, dpi)
    try:
        for im in native:
            im.set_interpolation("none")
        with _FastPdfImages():
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata())
    finally:
        for im in native:
            im.set_interpolation("antialiased")
    return buf.getvalue()


def encode_formats(fig: Any, formats: Sequence[str], *, dpi: int,
                   palette: bool = False) -> dict[str, bytes]:
    """``{format: bytes}`` of ``fig`` (see :func:`encode_figure`), laid out once."""
    _freeze_layout(fig)
    return {fmt: encode_figure(fig, fmt, dpi=dpi, palette=palette) for fmt in formats}


def save_figure(fig: Any, path: str | os.PathLike[str], *, formats: Sequence[str] = ("png",),
                dpi: int = DEFAULT_DPI) -> list[Path]:
    """Save ``fig`` as ``path`` with each suffix in ``formats`` (each file written
    atomically); return the paths."""
    from ._io import write_atomic

    out = []
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    for fmt, data in encode_formats(fig, formats, dpi=dpi).items():
        p = base.with_suffix(f".{fmt}")
        write_atomic(p, data)
        out.append(p)
    return out


def _metadata() -> dict[str, str]:
    from . import __version__

    return {"Creator": f"vista {__version__}"}

