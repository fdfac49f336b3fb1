"""Split a transcript into the text segments that human maps are built for.

A segmenter is a function ``(transcript, **params) -> list[Segment]``. They sit in
one registry, :data:`SEGMENTERS`; :func:`segment` looks one up by name, and
``vista maps --segmenter`` takes its choices from the same keys.

=========== ===============================================================
``word``     one segment per spoken word
``phrase``   split at punctuation and at the words in :data:`PHRASE_BREAKS`
             (the default of ``vista maps``)
``sentence`` split after ``.``, ``!``, ``?`` (and ``…``)
``window``   fixed time windows of ``window_ms`` over the speech
=========== ===============================================================

Segment texts are the words joined by single spaces, with punctuation stripped
from both ends of the segment (inner punctuation, as in ``"man's"``, is kept).
Segments whose text would be empty (a lone punctuation mark) are dropped: a
triplet needs a text. Segment times are those of its first and last word (for
``window``, the window's own bounds).

Why ``phrase`` is the default: in VISTA, people described an image aloud and each
map was built for a spoken stretch describing one region ("a red bus", "parked
next to the kerb"). Phrases split at punctuation and conjunctions come closest to
those region descriptions; sentences often name several regions, single words
are too short to collect fixations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .._registry import Registry
from .._validation import check_positive
from ..records import Segment, Transcript, Word

__all__ = [
    "PHRASE_BREAKS",
    "SEGMENTERS",
    "phrase_segments",
    "register",
    "segment",
    "sentence_segments",
    "window_segments",
    "word_segments",
]

Segmenter = Callable[..., list[Segment]]

SEGMENTERS: Registry[Segmenter] = Registry("segmenter")
"""Registered segmenters by name (:class:`vista._registry.Registry`)."""

PHRASE_BREAKS: tuple[str, ...] = (
    "and", "but", "or", "nor", "yet", "so", "with", "while", "whereas", "then",
)
"""Words that start a new phrase (matched case-insensitively, ignoring punctuation
around them). The break word itself is not part of either phrase: "a dog and a cat"
gives "a dog" and "a cat"."""

_STRIP = "\"'“”‘’.,;:!?…()[]{}-–—/ \t"
_PHRASE_PUNCT = re.compile(r"[,;:.!?…)\]–—][\"'”’]*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def register(name: str) -> Callable[[Segmenter], Segmenter]:
    """Decorator adding a segmenter to :data:`SEGMENTERS` under ``name``.

    Examples
    --------
    >>> @register("demo-all")
    ... def _all(transcript):
    ...     return _join(list(transcript.words))
    >>> "demo-all" in SEGMENTERS
    True
    >>> SEGMENTERS.remove("demo-all")
    """

    return SEGMENTERS.register(name)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(_STRIP)


def _join(words: list[Word]) -> list[Segment]:
    """One segment from consecutive words, or none if its text is empty."""
    if not words:
        return []
    text = _clean(" ".join(w.text.strip() for w in words))
    if not text:
        return []
    return [Segment(text, words[0].start_ms, words[-1].end_ms)]


def _split(transcript: Transcript, ends: re.Pattern[str], breaks: set[str]) -> list[Segment]:
    """Close a segment after a word matching ``ends``; a word in ``breaks`` closes the
    current segment and belongs to none."""
    out: list[Segment] = []
    current: list[Word] = []
    for w in transcript.words:
        if _clean(w.text).lower() in breaks:
            out.extend(_join(current))
            current = []
            continue
        current.append(w)
        if ends.search(w.text.strip()):
            out.extend(_join(current))
            current = []
    out.extend(_join(current))
    return out


@register("word")
def word_segments(transcript: Transcript) -> list[Segment]:
    """One segment per word (punctuation stripped; punctuation-only words dropped).

    Examples
    --------
    >>> t = Transcript((Word("A", 0, 100), Word("dog.", 120, 400)))
    >>> [s.text for s in word_segments(t)]
    ['A', 'dog']
    """
    out: list[Segment] = []
    for w in transcript.words:
        out.extend(_join([w]))
    return out


@register("sentence")
def sentence_segments(transcript: Transcript) -> list[Segment]:
    """Split after words ending in ``.``, ``!``, ``?`` or ``…`` (closing quotes allowed).

    Examples
    --------
    >>> t = Transcript((Word("A", 0, 100), Word("dog.", 120, 400), Word("It", 900, 1000),
    ...                 Word("sleeps", 1000, 1400)))
    >>> [(s.text, s.start_ms, s.end_ms) for s in sentence_segments(t)]
    [('A dog', 0, 400), ('It sleeps', 900, 1400)]
    """
    return _split(transcript, _SENTENCE_END, set())


@register("phrase")
def phrase_segments(
    transcript: Transcript, *, breaks: tuple[str, ...] | None = None
) -> list[Segment]:
    """Split at punctuation and before the words in ``breaks`` (dropping them).

    Parameters
    ----------
    transcript : Transcript
    breaks : tuple of str, optional
        Words that start a new phrase; default :data:`PHRASE_BREAKS`.

    Examples
    --------
    >>> words = [("A", 0), ("red", 200), ("bus,", 400), ("parked", 900), ("there", 1100),
    ...          ("with", 1300), ("a", 1500), ("man", 1600)]
    >>> t = Transcript(tuple(Word(s, t0, t0 + 150) for s, t0 in words))
    >>> [s.text for s in phrase_segments(t)]
    ['A red bus', 'parked there', 'a man']
    """
    stop = {b.lower() for b in (PHRASE_BREAKS if breaks is None else breaks)}
    return _split(transcript, _PHRASE_PUNCT, stop)


@register("window")
def window_segments(transcript: Transcript, *, window_ms: float = 2000.0) -> list[Segment]:
    """Fixed time windows of ``window_ms`` from the first word's start.

    Each window's text is the words whose midpoint falls in it (``[start, end)``);
    windows holding no word are skipped. The segment spans the window itself.

    Examples
    --------
    >>> t = Transcript((Word("a", 0, 300), Word("dog", 400, 800), Word("runs", 2300, 2600)))
    >>> [(s.text, s.start_ms, s.end_ms) for s in window_segments(t, window_ms=2000)]
    [('a dog', 0.0, 2000.0), ('runs', 2000.0, 4000.0)]
    """
    size = check_positive("window_ms", window_ms)
    if not transcript.words:
        return []
    t0 = float(transcript.words[0].start_ms)
    buckets: dict[int, list[Word]] = {}
    for w in transcript.words:
        k = int((0.5 * (w.start_ms + w.end_ms) - t0) // size)
        buckets.setdefault(k, []).append(w)
    out: list[Segment] = []
    for k in sorted(buckets):
        seg = _join(buckets[k])
        if seg:
            out.append(Segment(seg[0].text, t0 + k * size, t0 + (k + 1) * size))
    return out


def segment(transcript: Transcript, method: str = "phrase", **params: Any) -> list[Segment]:
    """Split ``transcript`` with the segmenter registered as ``method``.

    Parameters
    ----------
    transcript : Transcript
    method : str
        A key of :data:`SEGMENTERS`: ``"word"``, ``"phrase"`` (default),
        ``"sentence"``, ``"window"``.
    **params
        Passed to the segmenter (e.g. ``window_ms=3000`` for ``"window"``).

    Raises
    ------
    ValueError
        If ``method`` is not registered (the message lists the known names).

    Examples
    --------
    >>> t = Transcript((Word("a", 0, 100), Word("cat", 100, 300)))
    >>> segment(t, "sentence")
    [Segment(text='a cat', start_ms=0, end_ms=300)]
    >>> segment(t, "clause")
    Traceback (most recent call last):
    ...
    ValueError: unknown segmenter 'clause'; known segmenters: word, sentence, phrase, window
    """
    if not isinstance(transcript, Transcript):
        raise TypeError(f"transcript must be a Transcript; got {type(transcript).__name__}")
    fn = SEGMENTERS.get(method)
    return fn(transcript, **params)
