"""vista: do vision-language models look where people look?

The package is light to import: heavy and hardware dependencies (torch,
transformers, pylink, matplotlib) are imported inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
