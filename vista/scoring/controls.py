"""Controls: is a model's map about *this* text?

* ``human-other`` (a row that needs no weights): each triplet is predicted by the human
  map of another segment of the same image (the same viewer's, where that viewer said
  something else about the image; else another viewer's). It is the floor a
  text-conditioned model must beat to claim it follows the words rather than the
  image.
* ``--control other-text`` (:class:`OtherText`): for every model row, a second row
  whose map for each triplet is the model's map of the same image for the text of
  another segment of that image (of another image where the image has a single
  segment). The difference true text - other text, a paired bootstrap with interval
  and p, is the text-specificity of the model; a map that ignores the text scores 0.

Which segment stands in for which is drawn per triplet from a generator seeded by
``(seed, sha256(triplet id))``, so it does not depend on the order of the dataset, and
is recorded in the row's ``params["substitutes"]`` (``{triplet_id: substitute id}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..records import Triplet
from .executor import stable_int
from .sources import SOURCES, Row

__all__ = ["CONTROL_SUFFIX", "HumanOther", "OtherText", "participant_of", "substitutes",
           "with_controls"]

CONTROL_SUFFIX = " | other text"
"""Appended to a model's row name for its ``--control other-text`` row."""


def participant_of(t: Triplet) -> str | None:
    """The viewer of a triplet (:attr:`vista.records.Triplet.viewer`):
    ``meta["participant"]``, else ``meta["observer"]``."""
    return t.viewer


def _draw(seed: int, triplet_id: str, n: int) -> int:
    return int(np.random.default_rng([seed, stable_int(triplet_id)]).integers(n))


def substitutes(triplets: Sequence[Triplet], *, seed: int = 0, other_images: bool = False,
                same_viewer_first: bool = True) -> dict[str, str]:
    """For each triplet, the id of a triplet of the same image with another text.

    Candidates are the image's triplets whose text differs (case and surrounding space
    ignored); with ``same_viewer_first`` those of the same participant are preferred
    where there are any. With ``other_images``, a triplet whose image has no other
    text gets a triplet of another image (any text that differs); without it, it gets
    none (left out of the returned dict).

    Examples
    --------
    >>> ts = [Triplet("a0", "a.jpg", "a cat", "m"), Triplet("a1", "a.jpg", "a mat", "m"),
    ...       Triplet("b0", "b.jpg", "a dog", "m")]
    >>> substitutes(ts)
    {'a0': 'a1', 'a1': 'a0'}
    >>> sorted(substitutes(ts, other_images=True))
    ['a0', 'a1', 'b0']
    """
    by_image: dict[str, list[Triplet]] = {}
    for t in triplets:
        by_image.setdefault(t.image_path, []).append(t)

    def key(t: Triplet) -> str:
        return t.text.strip().lower()

    out: dict[str, str] = {}
    for t in triplets:
        cands = [u for u in by_image[t.image_path] if key(u) != key(t)]
        if same_viewer_first and participant_of(t) is not None:
            mine = [u for u in cands if participant_of(u) == participant_of(t)]
            cands = mine or cands
        if not cands and other_images:
            cands = [u for u in triplets if u.image_path != t.image_path and key(u) != key(t)]
        if cands:
            cands = sorted(cands, key=lambda u: u.triplet_id)
            out[t.triplet_id] = cands[_draw(seed, t.triplet_id, len(cands))].triplet_id
    return out


class HumanOther:
    """The ``human-other`` row: the human map of another segment of the same image."""

    name = "human-other"

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = int(seed)
        self._dataset: Any = None
        self._subs: dict[str, str] = {}

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": "baseline", "model": self.name,
                "method": "human map of another segment of the same image",
                "options": {"seed": self.seed, "same_viewer_first": True},
                "substitutes": dict(self._subs)}

    def prepare(self, dataset: Any) -> dict[str, str]:
        """Choose the substitutes; returns ``{triplet_id: reason}`` for the triplets
        whose image has no other segment."""
        self._dataset = dataset
        triplets = list(dataset)
        self._subs = substitutes(triplets, seed=self.seed)
        return {t.triplet_id: "no other segment of this image" for t in triplets
                if t.triplet_id not in self._subs}

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[np.ndarray]:
        if self._dataset is None:
            raise RuntimeError("HumanOther.maps needs prepare(dataset) first")
        out = []
        for t in triplets:
            sub = self._subs.get(t.triplet_id)
            if sub is None:
                raise ValueError(f"triplet {t.triplet_id!r}: no other segment of this image")
            out.append(np.asarray(self._dataset.load_map(self._dataset[sub]), dtype=np.float32))
        return out


@SOURCES.register("human-other")
def _human_other(row: Row, **_: Any) -> HumanOther:
    if row.recipe is not None or row.method is not None:
        raise ValueError(f"model {row.text!r}: human-other takes no recipe (:) or method (/)")
    return HumanOther()


class OtherText:
    """A model's ``--control other-text`` row: its map for another segment's text.

    Parameters
    ----------
    inner : MapSource
        The model row. Its ``maps`` is called with the substitute texts on the
        triplet's own image.
    seed : int
        Seeds the choice of substitutes (the run's seed).
    """

    def __init__(self, inner: Any, *, seed: int = 0) -> None:
        self.inner = inner
        self.seed = int(seed)
        self.name = f"{inner.name}{CONTROL_SUFFIX}"
        self.cacheable = bool(getattr(inner, "cacheable", False))
        self._subs: dict[str, str] = {}
        self._texts: dict[str, str] = {}

    @property
    def params(self) -> dict[str, Any]:
        return {**dict(self.inner.params), "model": self.name,
                "control": {"kind": "other-text", "of": self.inner.name, "seed": self.seed},
                "substitutes": dict(self._subs)}

    def prepare(self, dataset: Any) -> dict[str, str]:
        """Choose the substitutes (another image's segment where the image has only
        one), and prepare the model row."""
        skipped: dict[str, str] = {}
        prep = getattr(self.inner, "prepare", None)
        if callable(prep):
            skipped.update(prep(dataset) or {})
        triplets = list(dataset)
        self._subs = substitutes(triplets, seed=self.seed, other_images=True)
        text = {t.triplet_id: t.text for t in triplets}
        self._texts = {tid: text[sub] for tid, sub in self._subs.items()}
        for t in triplets:
            if t.triplet_id not in self._subs:
                skipped.setdefault(t.triplet_id, "no other text in the dataset")
        return skipped

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[Any]:
        swapped = [replace(t, text=self._texts[t.triplet_id]) for t in triplets]
        return list(self.inner.maps(image, [t.text for t in swapped], swapped))

    @property
    def key(self) -> str | None:
        """A worker's cache key of its own (never the model row's: the two rows' maps
        differ), or None when the model row has nothing to load."""
        inner = getattr(self.inner, "key", None)
        return None if not isinstance(inner, str) else f"{inner} | other-text {self.seed}"

    def load(self) -> Any:
        load = getattr(self.inner, "load", None)
        return load() if callable(load) else None


def with_controls(sources: Sequence[Any], control: str | None, *, seed: int) -> list[Any]:
    """``sources`` followed, with ``control="other-text"``, by an :class:`OtherText` row
    for each row whose maps come from its texts (explainers, ``center``, ``uniform``);
    rows of human maps and ``external:DIR`` maps (stored per triplet) get none."""
    out = list(sources)
    if control is None:
        return out
    if control != "other-text":
        raise ValueError(f"control must be 'other-text'; got {control!r}")
    kinds = {"observers", "human-other"}
    for s in sources:
        kind = type(s).__name__
        if s.name in kinds or kind in ("External", "InterObserver", "HumanOther") \
                or str(s.name).startswith("external:"):
            continue
        out.append(OtherText(s, seed=seed))
    if len(out) == len(sources):
        raise ValueError("--control other-text: no row whose maps depend on a text (an "
                         "explainer, center or uniform) to control")
    return out
