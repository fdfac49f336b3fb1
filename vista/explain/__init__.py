"""Model saliency: a registry of model families, methods and recipes; each explainer
has one verb, ``explain``.

>>> from vista.explain import explainer_names, recipe_names
>>> "blip-itm-base" in explainer_names()
True
>>> "vista-0.1" in recipe_names("clip")
True
"""

from __future__ import annotations

# The built-in families, methods and recipes (declarations only: nothing heavy imports).
from . import catalog as _catalog  # noqa: F401
from . import catalog_methods as _catalog_methods  # noqa: F401
from .registry import (
    ExplainerSpec,
    Method,
    Recipe,
    explainer_names,
    explainer_spec,
    load_explainer,
    method_names,
    recipe_names,
    recipes,
    register_family,
    register_method,
    register_recipe,
)

__all__ = [
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
]
