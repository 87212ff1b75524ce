"""Independent references used by the test database (and the benchmarks).

For torch's losses the reference is torch itself; these wrappers only apply losskit's documented
differences on top of torch's own per-element numbers (the weighted mean of losskit._reduction).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def weighted_average(terms: torch.Tensor, weight: torch.Tensor, reduction: str) -> torch.Tensor:
    """``sum(w * l) / sum(w)`` for "mean": the rule losskit documents for every weighted loss."""
    weighted = terms * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / torch.broadcast_to(weight, terms.shape).sum()


def torch_pointwise(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """torch's pointwise loss, with an optional per-element weight applied by the documented rule."""

    def ref(input, target, weight=None, *, reduction="mean", **options):
        if weight is None:
            return fn(input, target, reduction=reduction, **options)
        return weighted_average(fn(input, target, reduction="none", **options), weight, reduction)

    ref.__name__ = f"ref_{fn.__name__}"
    return ref
