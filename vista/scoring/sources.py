"""Map sources: every row of a score table, behind one protocol and one registry.

A row of ``vista score`` is spelled ``NAME[:RECIPE][/METHOD]``:

- ``NAME`` is a registered source: an explainer (``clip``, ``blip-itm-base``, ...) or a
  row that needs no weights (``center``, ``uniform``, ``observers``);
- ``:RECIPE`` picks a named recipe of an explainer (``blip-itm-base:lavis``);
- ``/METHOD`` picks an explanation method (``clip/legrad``,
  ``clip/captum:IntegratedGradients``: a method may hold a colon of its own).

``external:DIR`` is read first and whole: ``DIR`` may hold ``/`` and ``:``.

:func:`resolve_source` is the one place a row is parsed and checked; the CLI's
``--model`` check calls it. It returns a :class:`MapSource`; an explainer's weights are
loaded on the first call of :meth:`ExplainerSource.load` (or of ``maps``), so a source
can be resolved cheaply, sent to another process, and loaded there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._registry import Registry
from ..records import SaliencyMap, Triplet
from .baselines import CenterBias, External, InterObserver, Uniform

__all__ = [
    "SOURCES",
    "ExplainerSource",
    "MapSource",
    "Row",
    "is_explainer_row",
    "parse_row",
    "resolve_source",
    "row_names",
    "source_from_params",
]


@runtime_checkable
class MapSource(Protocol):
    """What a score-table row needs from its model.

    Attributes
    ----------
    name : str
        The row label (``"clip/legrad"``, ``"center"``, ``"external:ovseg"``).
    params : dict
        Everything that changes its maps (JSON types): recorded in ``run.json`` and the
        summary, and part of every cached map's key.

    Methods
    -------
    maps(image, texts, triplets)
        One float32 map (array or :class:`~vista.records.SaliencyMap`) per text, on the
        image's grid; ``triplets`` are the rows the texts come from.

    A source may also define ``prepare(dataset) -> {triplet_id: reason}``, called once
    before scoring with the dataset of the triplets to score, returning the triplets it
    cannot predict (they are left out of its row), and ``cacheable = True`` when its maps
    are worth caching in the run folder (the explainers).
    """

    name: str

    @property
    def params(self) -> dict[str, Any]: ...

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[Any]: ...


@dataclass(frozen=True)
class Row:
    """A parsed row name: ``NAME[:RECIPE][/METHOD]`` or ``external:DIR``."""

    text: str
    name: str
    recipe: str | None = None
    method: str | None = None
    argument: str | None = None  # the DIR of external:DIR


SourceFactory = Callable[..., Any]
"""``factory(row, *, weights=None, device=None) -> MapSource``."""

SOURCES: Registry[SourceFactory] = Registry("model")
"""The one registry of rows: explainers (added from :func:`vista.explain.explainer_names`
when first asked) and the rows that need no weights."""

_ARGUMENT_ROWS = {"external": "DIR"}  # rows spelled NAME:ARGUMENT


def _no_options(row: Row, what: str) -> None:
    if row.recipe is not None or row.method is not None:
        raise ValueError(f"model {row.text!r}: {what} takes no recipe (:) or method (/)")


@SOURCES.register("center")
def _center(row: Row, **_: Any) -> CenterBias:
    _no_options(row, "center")
    return CenterBias()


@SOURCES.register("uniform")
def _uniform(row: Row, **_: Any) -> Uniform:
    _no_options(row, "uniform")
    return Uniform()


@SOURCES.register("observers")
def _observers(row: Row, **_: Any) -> InterObserver:
    _no_options(row, "observers")
    return InterObserver()


@SOURCES.register("external")
def _external(row: Row, **_: Any) -> External:
    assert row.argument is not None
    return External(row.argument)


def _sync_explainers() -> None:
    from ..explain import explainer_names

    for name in explainer_names():
        if name not in SOURCES:
            SOURCES.add(name, _explainer_factory)


def _explainer_factory(row: Row, *, weights: str | None = None, device: str | None = None,
                       **options: Any) -> ExplainerSource:
    """An explainer row; its recipe and method must be the family's (checked from the
    explain registry's names, no model loaded; whether a method fits a recipe is
    :func:`vista.explain.load_explainer`'s to say)."""
    from ..explain import method_names, recipe_names

    for part, what, known in ((row.recipe, "recipe", recipe_names),
                              (row.method, "method", method_names)):
        if part is not None and part not in known(row.name):
            raise ValueError(f"model {row.text!r}: unknown {what} {part!r} for {row.name}; "
                             f"{what}s of {row.name}: {', '.join(known(row.name))}")
    return ExplainerSource(row.name, recipe=row.recipe, method=row.method, weights=weights,
                           device=device, **options)


def row_names() -> list[str]:
    """Every row name ``vista score`` accepts (``external:DIR`` stands for any folder).

    Examples
    --------
    >>> names = row_names()
    >>> "center" in names and "external:DIR" in names and "clip" in names
    True
    """
    _sync_explainers()
    explainers = [n for n in SOURCES.names() if SOURCES.get(n) is _explainer_factory]
    others = [n for n in SOURCES.names() if n not in explainers]
    return [*explainers, *(f"{n}:{_ARGUMENT_ROWS[n]}" if n in _ARGUMENT_ROWS else n
                           for n in others)]


def parse_row(text: Any) -> Row:
    """Parse and check one row name; an unknown or malformed one raises a ValueError
    that names it and lists the known rows.

    Examples
    --------
    >>> parse_row("clip:chefer/legrad")
    Row(text='clip:chefer/legrad', name='clip', recipe='chefer', method='legrad', argument=None)
    >>> parse_row("external:maps/ovseg:v2").argument
    'maps/ovseg:v2'
    """
    if not isinstance(text, str):
        raise TypeError(f"model must be a row name (a string); got {text!r}")
    _sync_explainers()
    for name, arg in _ARGUMENT_ROWS.items():
        if text.startswith(name + ":") or text == name:
            value = text[len(name) + 1:]
            if not value.strip():
                raise ValueError(f"model '{name}:{arg}' needs a folder after the colon")
            return Row(text, name, argument=value)
    head, slash, method = text.partition("/")
    name, colon, recipe = head.partition(":")
    if name not in SOURCES or name in _ARGUMENT_ROWS:
        raise ValueError(f"model must be one of {', '.join(row_names())} (a row is "
                         f"NAME[:RECIPE][/METHOD]); got {text!r}")
    for sep, part, what in ((colon, recipe, "recipe"), (slash, method, "method")):
        if sep and (not part or part != part.strip() or " " in part):
            raise ValueError(f"model {text!r}: the {what} after {sep!r} must be a non-empty "
                             "name without spaces")
    return Row(text, name, recipe=recipe or None, method=method or None)


def is_explainer_row(text: str) -> bool:
    """True when the row ``text`` (checked by :func:`parse_row`) is an explainer's."""
    return SOURCES.get(parse_row(text).name) is _explainer_factory


def resolve_source(spec: Any, *, weights: str | None = None, device: str | None = None,
                   precision: str | None = None) -> Any:
    """The :class:`MapSource` of one row: a row name (parsed and checked here, the only
    place a row name is checked) or a source object, returned as it is.

    Parameters
    ----------
    spec : str or MapSource
        ``NAME[:RECIPE][/METHOD]``, ``external:DIR``, or an object with ``name``,
        ``params`` and ``maps``.
    weights : str, optional
        Local weights folder or Hugging Face id of an explainer row.
    device : str, optional
        Torch device of an explainer row.
    precision : str, optional
        ``"fp32"``, ``"bf16"`` or ``"fp16"`` for an explainer row (other rows have no
        model and ignore it, as they ignore ``device``).

    Examples
    --------
    >>> resolve_source("center").params["method"]
    'center-gaussian'
    >>> resolve_source("centre")
    Traceback (most recent call last):
    ...
    ValueError: model must be one of ...; got 'centre'
    """
    if not isinstance(spec, str):
        for attr in ("name", "params", "maps"):
            if not hasattr(spec, attr):
                raise TypeError(f"models: {spec!r} has no {attr!r}; pass a row name or a "
                                "source with name, params and maps() (vista.scoring.MapSource)")
        return spec
    row = parse_row(spec)
    factory = SOURCES.get(row.name)
    if factory is not _explainer_factory and weights is not None:
        raise ValueError(f"weights: model {spec!r} has no weights")
    if factory is _explainer_factory and precision is not None:
        from ..explain.precision import check_precision

        return factory(row, weights=weights, device=device, precision=check_precision(precision))
    return factory(row, weights=weights, device=device)


class ExplainerSource:
    """An explainer of :mod:`vista.explain` as a map source (maps cached by the run).

    The model is loaded by :meth:`load` (at the latest by the first :meth:`maps`); a
    pickled source leaves its model behind, so it travels cheaply to a worker process,
    which loads it once.

    Parameters
    ----------
    name : str
        Explainer name (:func:`vista.explain.explainer_names`).
    recipe, method : str, optional
        Recipe and explanation method (the row's ``:RECIPE`` and ``/METHOD``).
    weights, device, **options
        Passed to :func:`vista.explain.load_explainer`.
    """

    cacheable = True

    def __init__(self, name: str, *, recipe: str | None = None, method: str | None = None,
                 weights: str | None = None, device: str | None = None,
                 **options: Any) -> None:
        self.explainer_name = name
        self.name = name + (f":{recipe}" if recipe else "") + (f"/{method}" if method else "")
        self.recipe, self.method, self.weights = recipe, method, weights
        self.device, self.options = device, dict(options)
        self._explainer: Any = None

    @property
    def key(self) -> str:
        """What identifies this source before it is loaded (a worker's cache key)."""
        return json.dumps([self.name, self.weights, self.device, self.options],
                          sort_keys=True, default=repr)

    def load(self) -> Any:
        """Load the explainer (once) and return it."""
        if self._explainer is None:
            from ..explain import load_explainer

            extra = {k: v for k, v in (("recipe", self.recipe), ("method", self.method))
                     if v is not None}
            self._explainer = load_explainer(self.explainer_name, weights=self.weights,
                                             device=self.device, **extra, **self.options)
        return self._explainer

    @property
    def params(self) -> dict[str, Any]:
        e = self.load()
        model_id = str(getattr(e, "model_id", self.explainer_name))
        params: dict[str, Any] = {
            "kind": "explainer",
            "model": self.name,
            "model_id": model_id,
            "revision": getattr(e, "revision", None),
            "recipe": getattr(e, "recipe", self.recipe),
            "method": str(getattr(e, "method", self.method or "")),
            "options": jsonable(dict(getattr(e, "options", {}) or {})),
        }
        if Path(model_id).exists():
            params["weights_fingerprint"] = folder_fingerprint(Path(model_id))
        return params

    def maps(self, image: np.ndarray, texts: Sequence[str],
             triplets: Sequence[Triplet]) -> list[SaliencyMap]:
        return list(self.load().explain(image, list(texts)))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_explainer": None}


def source_from_params(params: Mapping[str, Any]) -> Any:
    """Rebuild a row that needs no weights from the params a run recorded (None for an
    explainer, whose maps a run reads from its cache): the registry's source for the
    recorded row, with the recorded options (each class's ``from_params``).

    Examples
    --------
    >>> source_from_params(CenterBias(sigma=0.3).params).sigma
    0.3
    """
    kind = params.get("kind")
    if kind == "explainer":
        return None
    name = str(params.get("model", ""))
    opts = dict(params.get("options") or {})
    try:
        if kind == "external":
            return External(opts["directory"], name=name)
        source = resolve_source(name)
    except (ValueError, KeyError):
        raise ValueError(f"params do not describe a known row: {dict(params)!r}") from None
    from_params = getattr(type(source), "from_params", None)
    return from_params(params) if callable(from_params) else source


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays, paths and tuples turned into JSON types."""
    return json.loads(json.dumps(value, default=json_default))


def json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def folder_fingerprint(path: Path) -> str:
    """A hash of the names, sizes and modification times of the files under ``path``,
    so replaced weights in the same folder do not hit stale cached maps."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files[:5000]:
        st = p.stat()
        h.update(f"{p.relative_to(path) if p != path else p.name}\0{st.st_size}\0"
                 f"{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
