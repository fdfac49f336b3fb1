"""Saliency metrics (pure functions on arrays) and bootstrap intervals."""
