"""The explain registries: model families, saliency methods, and recipes.

Three :class:`vista._registry.Registry` instances, all cheap to import (no torch):

``FAMILIES`` (:class:`ExplainerSpec`)
    A model family: its name (``"clip"``, ``"blip-itm-base"``, ...), the module that
    implements it, its default weights and pinned revision, its default recipe,
    and how its model is loaded. The CLI's ``--model`` choices are its names.
``METHODS`` (:class:`Method`)
    A saliency method (``"gradcam"``, ``"relevance"``, ``"sigmoid"``, ``"ipot"``, ...)
    and, per family it supports, the builder that makes the explainer.
``recipes`` (:class:`Recipe`, one registry per family)
    A named, frozen set of choices that follows one reference implementation: the
    method, score, block, tensor, clamp, head and token reduction, input fit,
    post-processing and default weights.

:func:`load_explainer` joins them: the recipe (the family's default unless named)
fixes the method and its choices; keyword overrides change single choices; the
family's loader loads the model; the method's builder for that family makes the
explainer; and every map's ``params`` records ``"recipe"``, ``"method"``, every
choice and the ``"overrides"``.

Extension points
----------------
A new family
    Declare it with :func:`register_family` (an :class:`ExplainerSpec`). A
    transformers model needs only ``model_class`` (the class name in
    ``transformers``): the shared loader :func:`vista.explain.weights.load_model`
    resolves the weights (Hub id at the pinned revision, or a local folder), loads
    the model frozen in eval mode on the device, with its tokenizer and image
    processor, and records which weights exactly. A model that is not in
    transformers gives ``loader="module:function"``, a function
    ``(spec, *, weights, revision, device, attn_implementation, options)`` that
    returns a :class:`~vista.explain.weights.LoadedModel`. Give the family at least
    one recipe (:func:`register_recipe`) and name the default in
    ``default_recipe``.
A new method
    Register a builder per family with the :func:`register_method` decorator::

        @register_method("legrad", family="clip", summary="LeGrad (Bousselham 2024)",
                         eager_attention=True)
        def build_legrad(loaded: LoadedModel, choices: dict[str, Any]) -> Explainer:
            ...

    ``family`` may be a tuple of names. ``Method.families`` lists the families a
    method supports; a method asked of another family is refused with the list of
    the methods that family has. ``eager_attention=True`` loads transformers
    models with eager attention so attention probabilities can be hooked.
How a builder receives the model
    ``build(loaded, choices)``: ``loaded`` is the
    :class:`~vista.explain.weights.LoadedModel` (``model``, ``tokenizer``,
    ``image_processor``, ``device``, ``model_id``, ``revision``, ``provenance``);
    ``choices`` are the recipe's choices with the overrides applied, less
    ``postprocess`` and ``weights`` (handled here). The builder checks them
    (:func:`vista.explain.base.check_options`), returns an
    :class:`~vista.explain.base.Explainer` subclass, and puts what it resolved
    (block index, layer name, ...) in ``explainer.options``.
Where the code lives
    Built-in families, methods and recipes are declared in
    :mod:`vista.explain.catalog` by module path (``"clip:build_gradcam"``), so
    nothing heavy is imported until a model is loaded (:mod:`vista.explain` imports
    it and :mod:`vista.explain.catalog_methods`). A module from another package that
    registers at import time (decorators) is a ``vista.plugins`` entry point; it must
    import without torch (import it inside the builder).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from .._registry import Registry
from .._validation import check_option

__all__ = [
    "FAMILIES",
    "METHODS",
    "ExplainerSpec",
    "Method",
    "Recipe",
    "explainer_names",
    "explainer_spec",
    "load_explainer",
    "method_names",
    "recipe_names",
    "recipes",
    "register_family",
    "register_method",
    "register_recipe",
    "resolve_recipe",
]


@dataclass(frozen=True)
class ExplainerSpec:
    """A model family, as the registry knows it before its module is imported.

    Attributes
    ----------
    name : str
        Registry name (a ``--model`` choice).
    module : str
        Module that implements the family, relative to ``vista.explain``.
    default_weights : str
        Hugging Face id (or, for checkpoints, a description).
    default_method : str
        The method of the default recipe.
    summary : str
        One line for listings.
    revision : str or None
        Pinned Hub commit of ``default_weights`` (None: ``main``; see the README for
        where no public source gives one).
    model_class : str or None
        transformers class loaded by the shared loader.
    default_recipe : str
        Recipe used when none is named.
    loader : str or None
        ``"module:function"`` for a family not loaded by the shared loader.
    loader_options : tuple of str
        Options the family's loader takes (recorded as overrides).
    """

    name: str
    module: str
    default_weights: str
    default_method: str
    summary: str
    revision: str | None = None
    model_class: str | None = None
    default_recipe: str = "vista-0.1"
    loader: str | None = None
    loader_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Method:
    """A saliency method and, per family it supports, its builder.

    ``builders`` maps a family name to a callable ``build(loaded, choices)`` or to
    ``"module:function"`` (relative to ``vista.explain``), resolved when used.
    """

    name: str
    summary: str
    builders: Mapping[str, Callable[..., Any] | str]
    eager_attention: bool = False

    @property
    def families(self) -> tuple[str, ...]:
        """The families this method supports."""
        return tuple(self.builders)

    def builder(self, family: str) -> Callable[..., Any]:
        """The builder for ``family``; an unsupported family lists the supported ones."""
        try:
            target = self.builders[family]
        except KeyError:
            supported = ", ".join(self.families)
            raise ValueError(f"method {self.name!r} does not support {family}; it supports: "
                             f"{supported}; methods for {family}: "
                             f"{', '.join(method_names(family))}") from None
        return _resolve_callable(target)


_FIXED = ("score", "tensor")


@dataclass(frozen=True)
class Recipe:
    """A named set of choices that follows one reference implementation.

    Attributes
    ----------
    name, family : str
        The recipe (``"lavis"``) and the family it belongs to.
    method : str
        The saliency method it uses.
    reference, function : str
        The file it follows (repository and path) and the function or cell in it.
    score : str
        What is explained (``"itm"``: the ITM match logit, ``"itc"``,
        ``"similarity"``, ``"sigmoid"``, ``"alignment"``).
    tensor : str
        What the map is read from (``"cross-attention"``, ``"self-attention"``,
        ``"layer_norm1"``, ``"logits"``, ``"final-features"``).
    block : int or None
        0-based block (negative counts from the end); None where none applies.
    clamp, head_reduce, token_reduce : str or None
        Where the ReLU goes; how heads and query tokens are reduced.
    input_fit : str
        How the image becomes the model input (``"squash"``, ``"crop"``, ``"pad"``).
    postprocess : str
        ``"none"`` or ``"getattmap"`` (:mod:`vista.explain.postprocess`).
    weights, revision : str or None
        Default weights (Hub id) of the recipe and their pinned commit; None: the
        family's.
    model_class : str or None
        transformers class when the recipe's weights need another than the family's.
    options : mapping
        Family-specific choices (``first_token``, ``start_block``, ...).
    summary : str
        What the recipe is, one line.

    ``method``, ``score`` and ``tensor`` define the recipe: an override that changes
    them contradicts it and is refused. Every other choice can be overridden.
    """

    name: str
    family: str
    method: str
    reference: str
    function: str
    score: str | None = None
    tensor: str | None = None
    block: int | None = None
    clamp: str | None = None
    head_reduce: str | None = None
    token_reduce: str | None = None
    input_fit: str = "squash"
    postprocess: str = "none"
    weights: str | None = None
    revision: str | None = None
    model_class: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""

    def __post_init__(self) -> None:
        from .postprocess import POSTPROCESS_CHOICES

        check_option("postprocess", self.postprocess, POSTPROCESS_CHOICES)
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def choices(self) -> dict[str, Any]:
        """Every choice the recipe fixes (None fields left out), options last."""
        skip = {"name", "family", "method", "reference", "function", "options", "summary",
                "revision", "model_class"}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        out = {k: v for k, v in out.items() if v is not None}
        return {**out, **self.options}


FAMILIES: Registry[ExplainerSpec] = Registry("model")
METHODS: Registry[Method] = Registry("method")
_RECIPES: dict[str, Registry[Recipe]] = {}


def _resolve_callable(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), attr)


def register_family(spec: ExplainerSpec, *, replace: bool = False) -> ExplainerSpec:
    """Declare a model family (see the module docstring)."""
    FAMILIES.add(spec.name, spec, replace=replace)
    _RECIPES.setdefault(spec.name, Registry(f"recipe of {spec.name}",
                                            plural=f"recipes of {spec.name}"))
    return spec


def register_recipe(recipe: Recipe, *, replace: bool = False) -> Recipe:
    """Add ``recipe`` to its family's recipes (the family must be registered)."""
    explainer_spec(recipe.family)
    _RECIPES[recipe.family].add(recipe.name, recipe, replace=replace)
    return recipe


def register_method(
    name: str,
    *,
    family: str | tuple[str, ...],
    summary: str = "",
    eager_attention: bool = False,
    builder: Callable[..., Any] | str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a method's builder for one or more families.

    Used as a decorator (``@register_method("legrad", family="clip")``) or with
    ``builder="module:function"`` for a lazy declaration (the returned decorator is
    then not needed). A second registration for the same method adds families;
    registering the same method and family twice raises.
    """
    families = (family,) if isinstance(family, str) else tuple(family)

    def add(target: Callable[..., Any] | str) -> None:
        current = METHODS._entries.get(name)
        builders = dict(current.builders) if current else {}
        for fam in families:
            if fam in builders:
                raise ValueError(f"method {name!r} is already registered for {fam}")
            builders[fam] = target
        entry = Method(name, summary or (current.summary if current else ""), builders,
                       eager_attention or bool(current and current.eager_attention))
        METHODS.add(name, entry, replace=True)

    if builder is not None:
        add(builder)

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        add(fn)
        return fn

    return deco


def explainer_names() -> list[str]:
    """The registered family names, in registry order."""
    return FAMILIES.names()


def explainer_spec(name: str) -> ExplainerSpec:
    """The spec for ``name``; an unknown name raises a ValueError listing the known ones."""
    return FAMILIES.get(name)


def method_names(family: str | None = None) -> list[str]:
    """Every method name, or those that support ``family``."""
    return [n for n, m in METHODS.items() if family is None or family in m.builders]


def recipes(family: str) -> list[Recipe]:
    """The recipes of ``family``, in registration order."""
    explainer_spec(family)
    return [r for _, r in _RECIPES[family].items()]


def recipe_names(family: str) -> list[str]:
    """The recipe names of ``family``."""
    return [r.name for r in recipes(family)]


def resolve_recipe(family: str, recipe: str | None = None, method: str | None = None) -> Recipe:
    """The recipe ``load_explainer`` uses.

    ``recipe`` named: that recipe of ``family`` (an unknown name, or a recipe of
    another family, raises a ValueError listing ``family``'s recipes); a ``method``
    that differs from the recipe's is refused. Only ``method``: the default recipe
    if it uses that method, else the recipe named after the method, else the first
    recipe of the family that uses it, else
    the method's own defaults (a recipe named after the method). Neither: the
    family's default recipe.
    """
    spec = explainer_spec(family)
    known = _RECIPES[family]
    if recipe is not None:
        if recipe not in known:
            owners = [f for f, reg in _RECIPES.items() if recipe in reg]
            where = f" (a recipe of {', '.join(owners)})" if owners else ""
            raise ValueError(f"unknown recipe {recipe!r} for {family}{where}; recipes of "
                             f"{family}: {', '.join(recipe_names(family))}")
        found = known.get(recipe)
        if method is not None and method != found.method:
            METHODS.get(method).builder(family)  # a method the family lacks says so first
            raise ValueError(
                f"method {method!r} contradicts recipe {family}:{recipe} (method "
                f"{found.method!r}); recipes of {family}: {_recipe_list(family)}")
        return found
    if method is None:
        return known.get(spec.default_recipe)
    METHODS.get(method).builder(family)  # unknown or unsupported: one line with the names
    default = known.get(spec.default_recipe)
    if default.method == method:
        return default
    if method in known and known.get(method).method == method:
        return known.get(method)
    for candidate in recipes(family):
        if candidate.method == method:
            return candidate
    return Recipe(method, family, method, reference="(none: the method's own defaults)",
                  function="", input_fit="squash")


def _recipe_list(family: str) -> str:
    return ", ".join(f"{r.name} ({r.method})" for r in recipes(family))


def _split_overrides(spec: ExplainerSpec, recipe: Recipe, overrides: dict[str, Any]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(recipe choices with the overrides applied, loader options); refuses an
    override that contradicts what defines the recipe."""
    choices = recipe.choices()
    for key in _FIXED:
        if key in overrides and overrides[key] != choices.get(key):
            raise ValueError(
                f"{key}={overrides[key]!r} contradicts recipe {spec.name}:{recipe.name} "
                f"({key} {choices.get(key)!r}); choose another recipe: {_recipe_list(spec.name)}")
    loader = {k: overrides[k] for k in (*spec.loader_options, "revision") if k in overrides}
    choices.update({k: v for k, v in overrides.items() if k not in loader})
    return choices, loader


def load_explainer(
    name: str,
    *,
    recipe: str | None = None,
    method: str | None = None,
    weights: str | None = None,
    device: str | None = None,
    precision: str = "fp32",
    **overrides: Any,
) -> Any:
    """Load the explainer for family ``name`` with a recipe.

    Parameters
    ----------
    name : str
        A family (see :func:`explainer_names`).
    recipe : str, optional
        A recipe of that family (see :func:`recipe_names`); default the family's
        default recipe (``ExplainerSpec.default_recipe``).
    method : str, optional
        The method; without ``recipe``, picks the family's recipe for it.
    weights : str, optional
        Hub id (loaded at the recipe's pinned revision) or a local folder / file;
        default the recipe's weights, else the family's.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ...; defaults to cuda when available.
    precision : {"fp32", "bf16", "fp16"}
        Autocast dtype of the model work (:mod:`vista.explain.precision`); recorded
        in every map's ``params["precision"]``.
    **overrides
        Single choices changed from the recipe (``block=7``,
        ``postprocess="getattmap"``, ``overflow="split"``, ...), the loader's options
        (``revision``; ALBEF's ``tokenizer``, ``text_heads``, ...). All are recorded
        in every map's ``params["overrides"]``.

    Returns
    -------
    Explainer
        An object with ``explain(image, texts) -> list[SaliencyMap]``.

    Raises
    ------
    ValueError
        One line listing the valid names: an unknown family, recipe or method, a
        recipe of another family, a method the family lacks, an override that
        contradicts the recipe or that the method does not take.
    """
    from .postprocess import POSTPROCESS_CHOICES
    from .precision import check_precision

    precision = check_precision(precision)
    spec = explainer_spec(name)
    chosen = resolve_recipe(name, recipe, method)
    meth = METHODS.get(chosen.method)
    build = meth.builder(name)
    choices, loader_options = _split_overrides(spec, chosen, overrides)
    postprocess = check_option("postprocess", choices.pop("postprocess"), POSTPROCESS_CHOICES)
    default_weights = choices.pop("weights", None)
    effective = replace(spec, default_weights=default_weights or spec.default_weights,
                        revision=chosen.revision if chosen.weights else spec.revision,
                        model_class=chosen.model_class or spec.model_class)
    loaded = _load(effective, weights=weights, device=device, eager=meth.eager_attention,
                   options=loader_options)
    explainer = build(loaded, choices)
    explainer.postprocess = postprocess
    explainer.precision = precision
    record = {"recipe": chosen.name, "method": chosen.method,
              "reference": f"{chosen.reference} {chosen.function}".strip(),
              **choices, "postprocess": postprocess,
              "default_weights": effective.default_weights,
              "overrides": dict(overrides)}
    explainer.options = {**record, **explainer.options, "precision": precision}
    return explainer


def _load(spec: ExplainerSpec, *, weights: str | None, device: str | None, eager: bool,
          options: dict[str, Any]) -> Any:
    """The family's model through its loader (the shared one unless ``spec.loader``)."""
    importlib.import_module(f"{__package__}.{spec.module}")
    impl = "eager" if eager else None
    if spec.loader is not None:
        return _resolve_callable(spec.loader)(spec, weights=weights, device=device,
                                              attn_implementation=impl, options=options)
    from .base import check_options
    from .weights import load_model

    check_options(options, ("revision",), context=f"{spec.name}'s loader")
    return load_model(spec, weights=weights, revision=options.get("revision"), device=device,
                      attn_implementation=impl)

