"""Model saliency: one registry of explainers, each with one verb, ``explain``.

>>> from vista.explain import explainer_names
>>> "blip-itm-base" in explainer_names()
True
"""

from __future__ import annotations

from .registry import explainer_names, load_explainer, register

__all__ = ["explainer_names", "load_explainer", "register"]
