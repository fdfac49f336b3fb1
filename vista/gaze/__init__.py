"""The human side: read recordings, detect fixations, map them onto the image,
align them to spoken text and build duration-weighted density maps.

>>> from vista.gaze import density_map
>>> float(density_map([1.5], [1.0], [250.0], shape=(3, 4), sigma_px=1.0).sum())
1.0
"""

from __future__ import annotations

from .align import align, align_all
from .detect import detect_fixations
from .geometry import screen_to_image, sigma_px
from .io import read_recording
from .kde import density_map
from .maps import build_maps, trial_maps
from .recording import Recording
from .segments import segment
from .session_reader import read_session

__all__ = [
    "Recording",
    "align",
    "align_all",
    "build_maps",
    "density_map",
    "detect_fixations",
    "read_recording",
    "read_session",
    "screen_to_image",
    "segment",
    "sigma_px",
    "trial_maps",
]
