"""One small registry type for every family of interchangeable things.

Metrics, explainers, explanation methods, fixation detectors, segmenters and map
sources are each a :class:`Registry`. Entries are added with the :meth:`Registry.register`
decorator (or :meth:`Registry.add`); :meth:`Registry.get` raises a ValueError that lists
the known names; :meth:`Registry.names` gives the CLI's choices.

Third-party packages add entries through the ``vista.plugins`` entry-point group: each
entry point names a module (or a callable) that registers its things when loaded.
Plugins load once, the first time any registry is asked for a name or the list of names::

    # pyproject.toml of a plugin package
    [project.entry-points."vista.plugins"]
    my_method = "my_package.vista_plugin"
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["Registry", "load_plugins"]

T = TypeVar("T")

PLUGIN_GROUP = "vista.plugins"
_plugins_loaded = False
_plugin_errors: dict[str, str] = {}


def load_plugins() -> dict[str, str]:
    """Import every ``vista.plugins`` entry point once; returns the ones that failed,
    name -> error (a broken plugin never breaks vista itself)."""
    global _plugins_loaded
    if _plugins_loaded:
        return dict(_plugin_errors)
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as exc:  # a plugin's bug is reported, not raised
            _plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
    return dict(_plugin_errors)


class Registry(Generic[T]):
    """A named family of interchangeable things.

    Parameters
    ----------
    kind : str
        What one entry is, for messages: ``"metric"``, ``"model"``, ...

    Examples
    --------
    >>> colours = Registry[str]("colour")
    >>> @colours.register("red")
    ... def red():
    ...     return "#f00"
    >>> colours.get("red")()
    '#f00'
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; known colours: red
    """

    def __init__(self, kind: str, *, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or kind + "s"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Register ``entry`` as ``name``; a name registered twice raises unless ``replace``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty string; got {name!r}")
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(entry: T) -> T:
            return self.add(name, entry, replace=replace)

        return deco

    def remove(self, name: str) -> None:
        """Forget ``name`` (for tests and plugins that re-register)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry ``name``; an unknown name raises a ValueError listing the known ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        load_plugins()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        known = ", ".join(self._entries) or "(none)"
        return f"unknown {self.kind} {name!r}; known {self.plural}: {known}"

    def names(self) -> list[str]:
        """The registered names, in registration order (plugins included)."""
        load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        if name in self._entries:
            return True
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, T]]:
        load_plugins()
        return list(self._entries.items())
