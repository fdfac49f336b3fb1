"""The recipes of each family as text, for ``vista recipes``."""

from __future__ import annotations

from .registry import explainer_names, explainer_spec, recipes

__all__ = ["format_recipes"]


def format_recipes(family: str | None = None) -> str:
    """Per family, each recipe with the method, the reference file and function it
    follows, and every choice it fixes; the family's default is marked.

    Parameters
    ----------
    family : str, optional
        One family; default every family.

    Examples
    --------
    >>> print(format_recipes("clipseg-rd16").splitlines()[0])
    clipseg-rd16 (default recipe: rd16)
    """
    names = explainer_names() if family is None else [explainer_spec(family).name]
    blocks = []
    for name in names:
        spec = explainer_spec(name)
        lines = [f"{name} (default recipe: {spec.default_recipe})"]
        for recipe in recipes(name):
            mark = "*" if recipe.name == spec.default_recipe else " "
            lines.append(f" {mark} {name}:{recipe.name}  [{recipe.method}]  {recipe.summary}")
            lines.append(f"      follows: {recipe.reference} {recipe.function}".rstrip())
            choices = dict(recipe.choices())
            choices.setdefault("weights", spec.default_weights)
            text = " ".join(f"{k}={v}" for k, v in choices.items())
            lines.append(f"      choices: {text}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
