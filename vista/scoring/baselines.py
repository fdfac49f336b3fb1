"""The rows of a score table that need no model weights.

- ``center``: a centre-bias Gaussian, the classic "people look at the middle" prior.
- ``uniform``: the same value everywhere (chance).
- ``external:DIR``: precomputed maps from any model, one file per triplet id
  (``DIR/ID.npy`` or a grayscale ``DIR/ID.png``); how the paper's OV-Seg, OpenSeg and
  ODISE rows are scored from those models' own outputs.
- ``observers``: the inter-observer ceiling. Where several observers viewed an image,
  each observer's map is predicted by the mean map of the others.

Each is a :class:`vista.scoring.sources.MapSource` (``name``, ``params``,
``maps(image, texts, triplets)``, and ``prepare(dataset)`` where a row needs the
dataset), registered in :data:`vista.scoring.sources.SOURCES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_option, check_positive
from ..errors import VistaError
from ..records import SaliencyMap, Triplet

__all__ = [
    "CenterBias",
    "External",
    "InterObserver",
    "MissingMapsError",
    "Uniform",
    "center_bias_map",
    "observer_groups",
]

DEFAULT_CENTER_SIGMA = 0.25
"""Default standard deviation of the centre-bias Gaussian, as a fraction of the image's
height (vertical) and width (horizontal)."""


def center_bias_map(shape: tuple[int, int], *, sigma: float = DEFAULT_CENTER_SIGMA) -> np.ndarray:
    """A centre-bias Gaussian on an H×W grid, normalised to sum to 1.

    The Gaussian is centred on the image centre and stretched to the image's aspect
    ratio: its standard deviation is ``sigma * H`` vertically and ``sigma * W``
    horizontally (an anisotropic Gaussian, as the MIT saliency benchmark's centre
    baseline; Judd et al. 2009 and later work use such a prior). It is
    :func:`vista.metrics.center_bias` (the information-gain baseline) as float32.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the image grid.
    sigma : float, optional
        Standard deviation as a fraction of each side (default 0.25).

    Returns
    -------
    ndarray
        float32 H×W, non-negative, sums to 1, largest at the centre.

    Examples
    --------
    >>> m = center_bias_map((3, 5))
    >>> m.shape, bool(m.argmax() == 7), round(float(m.sum()), 6)
    ((3, 5), True, 1.0)
    """
    from ..metrics import center_bias  # the same map the metrics use as a baseline

    h, w = _check_shape(shape)
    return center_bias((h, w), sigma=check_positive("sigma", sigma)).astype(np.float32)


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (H, W); got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"shape must be positive; got {shape!r}")
    return h, w


class MissingMapsError(VistaError, FileNotFoundError):
    """A source lacks maps for some triplets; ``reasons`` maps each to why."""

    def __init__(self, message: str, reasons: Mapping[str, str]) -> None:
        super().__init__(message)
        self.reasons = dict(reasons)


@dataclass
class CenterBias:
    """The ``center`` row: :func:`center_bias_map` on each image's grid."""

    sigma: float = DEFAULT_CENTER_SIGMA
    name: str = "center"

    def __post_init__(self) -> None:
        check_positive("sigma", self.sigma)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CenterBias:
        """The source that recorded ``params``."""
        opts = dict(params.get("options") or {})
        return cls(sigma=float(opts.get("sigma_fraction", DEFAULT_CENTER_SIGMA)))

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "baseline", "model": self.name, "method": "center-gaussian",
                "options": {"sigma_fraction": self.sigma}}

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[np.ndarray]:
        m = center_bias_map(image.shape[:2], sigma=self.sigma)
        return [m for _ in texts]


@dataclass
class Uniform:
    """The ``uniform`` row: ``1 / (H W)`` everywhere.

    A constant map has no variance, so its NCC is undefined (NaN, with a warning from
    the metric) and its AUC is exactly 0.5 (every comparison a tie).
    """

    name: str = "uniform"

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "baseline", "model": self.name, "method": "constant", "options": {}}

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[np.ndarray]:
        h, w = image.shape[:2]
        m = np.full((h, w), 1.0 / (h * w), dtype=np.float32)
        return [m for _ in texts]


_EXTERNAL_SUFFIXES = (".npy", ".png")


@dataclass
class External:
    """The ``external:DIR`` row: precomputed maps, one file per triplet id.

    ``DIR/ID.npy`` (a 2-D float array) or ``DIR/ID.png`` (grayscale; an RGB PNG is
    rejected, since its colours would have to be guessed back into values), ``ID`` being
    the triplet id through :func:`vista._io.safe_name` when the id itself is not a safe
    file name. A map on a grid other than the image's is resized onto it with
    :func:`vista.imaging.resize_map`; its :class:`~vista.records.SaliencyMap` says so
    (``params["resized_from"]``), and the run counts them (``n_resized``).

    Parameters
    ----------
    directory : str or path-like
        The folder of maps.
    name : str, optional
        Row label; defaults to ``external:<folder name>``.
    """

    directory: str | os.PathLike[str]
    name: str = ""

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"external maps folder {self.directory} does not exist")
        if not self.name:
            self.name = f"external:{self.directory.name}"

    def path_for(self, triplet_id: str) -> Path | None:
        """The map file for ``triplet_id`` (``ID`` as it is, else through
        :func:`vista._io.safe_name`), or None if there is none. A file that would lie
        outside the folder (an id holding ``..``) is never used."""
        from .._io import inside, safe_name
        from ..errors import PathError

        for stem in dict.fromkeys([triplet_id, safe_name(triplet_id)]):
            for suffix in _EXTERNAL_SUFFIXES:
                try:
                    p = inside(self.directory, f"{stem}{suffix}")
                except (PathError, ValueError, OSError):
                    continue
                if p.is_file():
                    return p
        return None

    def missing(self, triplet_ids: Sequence[str]) -> list[str]:
        """The ids among ``triplet_ids`` that have no map file."""
        return [t for t in triplet_ids if self.path_for(t) is None]

    def prepare(self, dataset: Any) -> dict[str, str]:
        """Raise :class:`MissingMapsError` listing the triplets without a map file."""
        lost = self.missing([t.triplet_id for t in dataset])
        if lost:
            raise MissingMapsError(
                f"{self.name}: no map file for {len(lost)} triplet(s): {', '.join(lost[:20])}"
                + (" ..." if len(lost) > 20 else "")
                + f" (expected ID.npy or ID.png in {self.directory})",
                {t: "no map file" for t in lost})
        return {}

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "external", "model": self.name, "method": "precomputed",
                "options": {"directory": str(Path(self.directory).resolve())},
                "maps_fingerprint": self.fingerprint()}

    def fingerprint(self) -> str:
        """A hash of the names, sizes and modification times of the folder's map files,
        so a run resumed after the maps were replaced is refused, not given old scores."""
        import hashlib

        h = hashlib.sha256()
        for p in sorted(Path(self.directory).iterdir()):
            if p.suffix in _EXTERNAL_SUFFIXES and p.is_file():
                st = p.stat()
                h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:16]

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[SaliencyMap]:
        from ..imaging import resize_map

        out = []
        for t in triplets:
            arr = self.load(t.triplet_id)
            params: dict[str, Any] = {}
            if arr.shape != image.shape[:2]:
                params["resized_from"] = list(arr.shape)
                arr = resize_map(arr, image.shape[:2])
            out.append(SaliencyMap(arr, self.name, "precomputed", params))
        return out

    def load(self, triplet_id: str) -> np.ndarray:
        """Read the map of ``triplet_id`` as float32 (FileNotFoundError naming the file)."""
        from .._io import check_regular_file

        p = self.path_for(triplet_id)
        if p is None:
            raise FileNotFoundError(
                f"external map for triplet {triplet_id!r} is missing: expected "
                f"{Path(self.directory) / triplet_id}.npy or .png"
            )
        check_regular_file(p, what="external map")
        if p.suffix == ".npy":
            try:
                arr = np.load(p, allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise ValueError(f"external map {p} is unreadable: {exc}") from exc
        else:
            arr = _read_gray_png(p)
        if arr.ndim != 2 or arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ValueError(
                f"external map {p} must be a finite 2-D numeric array; got shape {arr.shape}, "
                f"dtype {arr.dtype}"
            )
        return arr.astype(np.float32)


def _read_gray_png(p: Path) -> np.ndarray:
    from PIL import Image

    from ..imaging import MAX_IMAGE_PIXELS

    try:
        with Image.open(p) as im:
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
                raise ValueError(f"external map {p} is {im.size[0]}x{im.size[1]} pixels, over "
                                 f"the limit of {MAX_IMAGE_PIXELS}")
            if im.mode not in ("L", "I", "I;16", "F", "1"):
                raise ValueError(
                    f"external map {p} must be a grayscale PNG; got mode {im.mode!r}"
                )
            return np.asarray(im)
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"external map {p} is unreadable: {exc}") from exc


def observer_groups(
    triplets: Sequence[Triplet], *, by: str = "auto"
) -> dict[str, list[Triplet]]:
    """For each triplet, the triplets of the *other* observers that predict it.

    A triplet's observer is :attr:`~vista.records.Triplet.viewer` (``meta["participant"]``,
    or, failing that, ``meta["observer"]``), the field the other-text control and the
    per-participant statistics read too.
    ``by="image+text"`` pools other observers' triplets with the same image and text;
    ``by="image"`` pools all other observers' triplets of the same image, whatever they
    said; ``"auto"`` uses image+text where another observer gave the same text, else
    image. Triplets without an observer, or with no other observer, map to ``[]``.

    Examples
    --------
    >>> from vista.records import Triplet
    >>> ts = [Triplet(f"t{i}", "a.png", "a cat", f"m{i}.npy", {"observer": o})
    ...       for i, o in enumerate(["P1", "P2", "P3"])]
    >>> {k: [t.triplet_id for t in v] for k, v in observer_groups(ts).items()}
    {'t0': ['t1', 't2'], 't1': ['t0', 't2'], 't2': ['t0', 't1']}
    """
    check_option("by", by, ["auto", "image+text", "image"])

    by_image: dict[str, list[Triplet]] = {}
    for t in triplets:
        if t.viewer is not None:
            by_image.setdefault(t.image_path, []).append(t)
    out: dict[str, list[Triplet]] = {}
    for t in triplets:
        me = t.viewer
        if me is None:
            out[t.triplet_id] = []
            continue
        others = [u for u in by_image.get(t.image_path, []) if u.viewer != me]
        same_text = [u for u in others if u.text.strip() == t.text.strip()]
        if by == "image+text" or (by == "auto" and same_text):
            out[t.triplet_id] = same_text
        else:
            out[t.triplet_id] = others
    return out


@dataclass
class InterObserver:
    """The ``observers`` row: the inter-observer ceiling, leave one observer out.

    Each triplet's map is predicted by the mean of the other observers' maps (each
    normalised to sum to 1 first, so every observer weighs the same) grouped by
    :func:`observer_groups`. Triplets with no other observer cannot be predicted and
    are left out of this row (listed as skipped in the summary); a dataset where no
    triplet has another observer is refused by :func:`vista.scoring.score`.
    """

    by: str = "auto"
    name: str = "observers"
    _groups: dict[str, list[Triplet]] | None = field(default=None, init=False, repr=False)
    _dataset: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_option("by", self.by, ["auto", "image+text", "image"])

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> InterObserver:
        """The source that recorded ``params``."""
        return cls(by=str(dict(params.get("options") or {}).get("by", "auto")))

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "baseline", "model": self.name, "method": "leave-one-observer-out",
                "options": {"by": self.by}}

    def prepare(self, dataset: Any) -> dict[str, str]:
        """Group the dataset's triplets; return ``{triplet_id: reason}`` for those it
        cannot predict."""
        self._dataset = dataset
        self._groups = observer_groups(list(dataset), by=self.by)
        skips = {tid: "no other observer for this image" for tid, g in self._groups.items()
                 if not g}
        if self._groups and len(skips) == len(self._groups):
            from ..errors import DatasetError

            raise DatasetError(f"model {self.name!r} cannot score any of the {len(skips)} "
                               "triplet(s): the observers row needs two or more observers "
                               "(meta.observer or meta.participant) of the same image; drop "
                               "it from --model")
        return skips

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[np.ndarray]:
        if self._groups is None or self._dataset is None:
            raise RuntimeError("InterObserver.maps needs prepare(dataset) first")
        out = []
        for t in triplets:
            group = self._groups.get(t.triplet_id) or []
            if not group:
                raise ValueError(f"triplet {t.triplet_id!r}: no other observer for this image")
            acc = np.zeros(image.shape[:2], dtype=np.float64)
            for u in group:
                m = self._dataset.load_map(u).astype(np.float64)
                total = m.sum()
                acc += m / total if total > 0 else m
            out.append((acc / len(group)).astype(np.float32))
        return out
