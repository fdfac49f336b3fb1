"""Shared fixtures. Tests are offline; optional parts skip with the reason."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
