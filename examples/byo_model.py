"""The lab on your own model and data: a user-defined Dataset of little images, a small CNN, and a loss of your own
competing with the advisor's candidates.

    python examples/byo_model.py                      # the Python API (about a minute on 2 cores)
    losskit compare --data examples/byo_model.py:make_data --model examples/byo_model.py:make_model

``make_data`` and ``make_model`` are what ``--data`` and ``--model`` call: the first returns ``(train, val, test)``
datasets of ``(input, target)`` pairs, the second a fresh ``nn.Module``.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.utils.data import Dataset


class Bars(Dataset):
    """1x8x8 images with a bright horizontal (class 0), vertical (class 1) or diagonal (class 2) bar on noise."""

    def __init__(self, size: int, seed: int, noise: float = 0.6) -> None:
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 3, (size,), generator=g)
        self.images = noise * torch.randn(size, 1, 8, 8, generator=g)
        where = torch.randint(0, 8, (size,), generator=g)
        for i, (label, k) in enumerate(zip(self.labels.tolist(), where.tolist())):
            if label == 0:
                self.images[i, 0, k, :] += 1.0
            elif label == 1:
                self.images[i, 0, :, k] += 1.0
            else:
                self.images[i, 0].diagonal().add_(1.0)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def make_data(size: int = 600) -> tuple[Bars, Bars, Bars]:
    """``(train, val, test)``: a fixed split (the runs then vary the seed only)."""
    return Bars(size, 1), Bars(size // 3, 2), Bars(size // 3, 3)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                         nn.Linear(8 * 16, 3))


class MarginLoss(nn.Module):
    """A loss of your own: the multi-class hinge loss (gets the model's logits and the class indices)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.multi_margin_loss(logits, target)


def main(runs: int = 5, epochs: int = 15, size: int = 600, out: str | None = "byo-out") -> object:
    from losskit.lab import compare

    result = compare(data=make_data(size), model_fn=make_model, losses=["ce", "focal", MarginLoss()], runs=runs,
                     epochs=epochs, out=out, progress=out is not None)
    print(result.table())
    return result


if __name__ == "__main__":
    main(out=sys.argv[1] if len(sys.argv) > 1 else "byo-out")
