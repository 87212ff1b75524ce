"""Losses between distributions and probabilistic regression: KL divergence, Poisson and Gaussian negative log-
likelihood.
"""

from __future__ import annotations

__all__: list[str] = []
