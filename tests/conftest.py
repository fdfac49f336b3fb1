"""Shared fixtures. Tests are offline; optional parts skip with the reason."""

from __future__ import annotations

import os

# Tests never download: weights and models come from folders the tests build.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
