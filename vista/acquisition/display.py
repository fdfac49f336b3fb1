"""Stimulus presentation with pygame: full screen, the image scaled to fit and centred.

:func:`fit_placement` is the pure geometry (no pygame); :class:`StimulusDisplay` draws.
The EyeLink tracker draws its calibration targets on a display through
:func:`vista.acquisition.eyelink.calibration_graphics`. Under ``SDL_VIDEODRIVER=dummy``
everything runs headless, which the tests use.

pygame is imported when a display is opened, never at import time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._validation import check_option, check_positive, require
from ..gaze.messages import format_imgload
from ..records import Placement, Screen

__all__ = ["FIT_MODES", "StimulusDisplay", "fit_placement", "imgload_message"]

FIT_MODES = ("fit", "shrink", "none")


def fit_placement(
    image_size: tuple[int, int], screen_size: tuple[int, int], *, fit: str = "fit"
) -> Placement:
    """Where an image goes on the screen: scaled, then centred on whole pixels.

    Parameters
    ----------
    image_size : tuple of int
        ``(height, width)`` of the image file, pixels.
    screen_size : tuple of int
        ``(width, height)`` of the screen, pixels.
    fit : {"fit", "shrink", "none"}
        ``"fit"``: scale up or down to the largest size that fits, aspect kept;
        ``"shrink"``: only scale down; ``"none"``: native size.

    Returns
    -------
    Placement
        Whole-pixel rectangle. A scaled size keeps the parity of the screen's so the
        image is exactly centred (at most one pixel of aspect change); the centre
        sent in ``!V IMGLOAD CENTER`` (:func:`imgload_message`) gives back this
        rectangle with Data Viewer's rule ``left = x - width / 2``.

    Examples
    --------
    >>> fit_placement((768, 1024), (1920, 1080))
    Placement(left=240.0, top=0.0, width=1440.0, height=1080.0)
    >>> fit_placement((768, 1024), (1920, 1080), fit="none")
    Placement(left=448.0, top=156.0, width=1024.0, height=768.0)
    """
    check_option("fit", fit, FIT_MODES)
    h, w = (int(v) for v in image_size)
    W, H = (int(v) for v in screen_size)
    for name, v in (("image height", h), ("image width", w), ("screen width", W), ("screen height", H)):
        check_positive(name, v)
    scale = min(W / w, H / h)
    if fit == "none" or (fit == "shrink" and scale >= 1):
        width, height = w, h
    else:
        width = max(1, round(w * scale))
        height = max(1, round(h * scale))
        width -= (W - width) % 2 if width > 1 else 0
        height -= (H - height) % 2 if height > 1 else 0
    return Placement(float((W - width) // 2), float((H - height) // 2), float(width), float(height))


def imgload_message(path: str | os.PathLike[str], placement: Placement) -> str:
    """The Data Viewer ``!V IMGLOAD CENTER path x y width height`` message for an
    image shown at ``placement`` (:func:`vista.gaze.messages.format_imgload`; a path
    holding a newline or a tab is refused).

    Examples
    --------
    >>> imgload_message("/im/a.png", Placement(240, 0, 1440, 1080))
    '!V IMGLOAD CENTER /im/a.png 960 540 1440 1080'
    """
    return format_imgload(path, placement)


def _import_pygame() -> Any:
    """pygame (extra ``eyelink``) without its banner and its own deprecation warning."""
    import warnings

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        return require("pygame", "eyelink")


class StimulusDisplay:
    """A pygame window (full screen by default) that shows one image at a time.

    Parameters
    ----------
    screen : Screen
        The display geometry; the window is ``width_px`` × ``height_px``.
    fullscreen : bool
        Full screen (the lab setting) or a window (for trying things out).
    background : tuple of int
        RGB of the background, default mid grey (128, 128, 128).
    fit : {"fit", "shrink", "none"}
        How images are scaled (:func:`fit_placement`).

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["SDL_VIDEODRIVER"] = "dummy"  # headless, as in the tests
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "grey.png")
    >>> Image.new("RGB", (40, 30), (90, 90, 90)).save(path)
    >>> with StimulusDisplay(Screen(400, 300, 300.0, 225.0, 600.0), fullscreen=False) as d:
    ...     d.show_image(path)
    Placement(left=0.0, top=0.0, width=400.0, height=300.0)
    """

    def __init__(
        self,
        screen: Screen,
        *,
        fullscreen: bool = True,
        background: Sequence[int] = (128, 128, 128),
        fit: str = "fit",
    ) -> None:
        if not isinstance(screen, Screen):
            raise TypeError(f"screen must be a Screen record; got {screen!r}")
        check_option("fit", fit, FIT_MODES)
        if len(background) != 3 or not all(0 <= int(c) <= 255 for c in background):
            raise ValueError(f"background must be three ints in 0..255; got {background!r}")
        self.screen = screen
        self.fullscreen = fullscreen
        self.background = tuple(int(c) for c in background)
        self.fit = fit
        self._pg: Any = None
        self.surface: Any = None

    @property
    def size(self) -> tuple[int, int]:
        return self.screen.width_px, self.screen.height_px

    def open(self) -> StimulusDisplay:
        if self._pg is not None:
            return self
        pg = _import_pygame()
        pg.display.init()
        flags = pg.FULLSCREEN if self.fullscreen else 0
        self.surface = pg.display.set_mode(self.size, flags)
        pg.display.set_caption("vista")
        pg.mouse.set_visible(False)
        self._pg = pg
        self.clear()
        return self

    def close(self) -> None:
        if self._pg is not None:
            self._pg.display.quit()
            self._pg = None
            self.surface = None

    def __enter__(self) -> StimulusDisplay:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _need(self) -> Any:
        if self._pg is None:
            raise RuntimeError("StimulusDisplay: open() it first")
        return self._pg

    def clear(self, *, flip: bool = True) -> None:
        """Fill the screen with the background."""
        pg = self._need()
        self.surface.fill(self.background)
        if flip:
            pg.display.flip()

    def show_image(self, path: str | os.PathLike[str]) -> Placement:
        """Show an image scaled and centred; return where it went (screen pixels)."""
        pg = self._need()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"image not found: {path}")
        img = pg.image.load(str(path))
        placement = fit_placement((img.get_height(), img.get_width()), self.size, fit=self.fit)
        size = (round(placement.width), round(placement.height))
        if size != (img.get_width(), img.get_height()):
            img = pg.transform.smoothscale(img.convert_alpha() if img.get_alpha() else img.convert(), size)
        self.surface.fill(self.background)
        self.surface.blit(img, (round(placement.left), round(placement.top)))
        pg.display.flip()
        return placement

    def draw_target(self, x: float, y: float, *, radius_px: int = 10, flip: bool = True) -> None:
        """A calibration / drift-check target: a dark disc with a light centre."""
        pg = self._need()
        centre = (round(x), round(y))
        pg.draw.circle(self.surface, (0, 0, 0), centre, radius_px)
        pg.draw.circle(self.surface, (255, 255, 255), centre, max(2, radius_px // 4))
        if flip:
            pg.display.flip()

    def show_text(self, text: str) -> None:
        """A line of text in the middle of the screen (instructions)."""
        pg = self._need()
        if not pg.font.get_init():
            pg.font.init()
        font = pg.font.Font(None, max(24, self.screen.height_px // 30))
        self.clear(flip=False)
        label = font.render(text, True, (0, 0, 0))
        rect = label.get_rect(center=(self.size[0] // 2, self.size[1] // 2))
        self.surface.blit(label, rect)
        pg.display.flip()

    def poll_key(self) -> str | None:
        """The name of a key pressed since the last call (``"space"``, ``"escape"``),
        or None. Also returns ``"quit"`` when the window was closed."""
        pg = self._need()
        key = None
        for event in pg.event.get():
            if event.type == pg.QUIT:
                key = "quit"
            elif event.type == pg.KEYDOWN and key is None:
                key = pg.key.name(event.key)
        return key

    def screenshot(self) -> Any:
        """The screen as an H×W×3 uint8 array (what the participant sees)."""
        pg = self._need()
        return pg.surfarray.array3d(self.surface).swapaxes(0, 1).copy()
