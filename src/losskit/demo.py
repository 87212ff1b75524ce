"""``losskit demo``: train a small network with losskit losses and watch the loss go down.

A two-spirals classification problem made on the spot (no download): an MLP trained with
:class:`losskit.CrossEntropyLoss`, then the same network with :class:`losskit.MSELoss` on a smooth
regression target. Prints the loss every few epochs and the final accuracy / error.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

import losskit as lk

__all__ = ["make_spirals", "register", "train"]


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


def _main(args: argparse.Namespace) -> int:
    x, y = make_spirals(seed=args.seed)
    print(f"losskit {lk.__version__} demo: 3-class spirals, {len(y)} points, MLP 2-64-64-3, AdamW")
    print("CrossEntropyLoss(label_smoothing=0.05):")
    model = _mlp(3, args.seed)
    hist = train(model, lk.CrossEntropyLoss(label_smoothing=0.05), x, y, epochs=args.epochs, every=args.epochs // 5)
    acc = float((model(x).argmax(1) == y).float().mean())
    print(f"  loss {hist[0]:.3f} -> {hist[-1]:.3f}, training accuracy {acc:.1%}")
    target = torch.sin(3 * x[:, :1]) * torch.cos(2 * x[:, 1:])
    print("MSELoss on a smooth regression target:")
    reg = _mlp(1, args.seed)
    hist = train(reg, lk.MSELoss(), x, target, epochs=args.epochs, every=args.epochs // 5)
    print(f"  loss {hist[0]:.4f} -> {hist[-1]:.4f}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train a small model with losskit losses and print the loss going down")
    p.add_argument("--epochs", type=int, default=300, help="training epochs per model (default 300)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_main)
