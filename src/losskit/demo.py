"""``losskit demo``: train a small network with losskit losses and watch the loss go down.

A two-spirals classification problem made on the spot (no download): an MLP trained with
:class:`losskit.CrossEntropyLoss`, then the same network with :class:`losskit.MSELoss` on a smooth
regression target. Prints the loss every few epochs and the final accuracy / error.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import torch
from torch import nn

import losskit as lk

__all__ = ["DemoResult", "make_spirals", "register", "run", "train"]


def make_spirals(n: int = 600, *, classes: int = 3, noise: float = 0.15, seed: int = 0) -> tuple:
    """``classes`` interleaved spirals in 2-D: features (n, 2) float, labels (n,) long."""
    g = torch.Generator().manual_seed(seed)
    per = n // classes
    t = torch.linspace(0.0, 1.0, per).repeat(classes)
    labels = torch.arange(classes).repeat_interleave(per)
    angle = 4.0 * t + labels * (2 * math.pi / classes)
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1)
    return x + noise * torch.randn(x.shape, generator=g) * t[:, None], labels


def train(model: nn.Module, loss_fn: nn.Module, x, y, *, epochs: int, lr: float = 0.01, every: int = 0) -> list:
    """Full-batch AdamW training; returns the loss per epoch."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    history = []
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        if every and (epoch == 1 or epoch % every == 0):
            print(f"  epoch {epoch:4d}  loss {history[-1]:.4f}")
    return history


def _mlp(out: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))


@dataclass
class DemoResult:
    ce_history: list[float]
    accuracy: float
    mse_history: list[float]


def run(*, epochs: int = 300, seed: int = 0, verbose: bool = True) -> DemoResult:
    """Train the two models and return their loss histories and the classifier's training accuracy."""
    say = print if verbose else (lambda *a, **k: None)
    every = max(epochs // 5, 1) if verbose else 0
    x, y = make_spirals(seed=seed)
    say(f"losskit {lk.__version__} demo: 3-class spirals, {len(y)} points, MLP 2-64-64-3, AdamW")
    say("CrossEntropyLoss(label_smoothing=0.05):")
    model = _mlp(3, seed)
    ce = train(model, lk.CrossEntropyLoss(label_smoothing=0.05), x, y, epochs=epochs, every=every)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    say(f"  loss {ce[0]:.3f} -> {ce[-1]:.3f}, training accuracy {acc:.1%}")
    target = torch.sin(3 * x[:, :1]) * torch.cos(2 * x[:, 1:])
    say("MSELoss on a smooth regression target:")
    mse = train(_mlp(1, seed), lk.MSELoss(), x, target, epochs=epochs, every=every)
    say(f"  loss {mse[0]:.4f} -> {mse[-1]:.4f}")
    return DemoResult(ce, acc, mse)


def _main(args: argparse.Namespace) -> int:
    run(epochs=args.epochs, seed=args.seed)
    return 0


def register(subparsers) -> None:
    from .cli import examples

    p = subparsers.add_parser(
        "demo",
        help="train a small model with losskit losses and print the loss going down",
        description=(
            "Train a small network on synthetic data with losskit's CrossEntropyLoss, then the same network "
            "with its MSELoss on a smooth regression target, and print the loss going down (a few seconds on "
            "CPU; needs only torch)."
        ),
        epilog=examples(
            ("losskit demo", "300 epochs per model, seed 0"),
            ("losskit demo --epochs 100 --seed 1", "a shorter run from another seed"),
        ),
    )
    p.add_argument("--epochs", type=int, default=300, help="training epochs per model (default 300)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_main)
