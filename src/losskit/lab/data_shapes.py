"""``losskit compare --dataset shapes``: synthetic segmentation and a small fully-convolutional network.

Every image is 32x32 pixels of Gaussian noise (standard deviation 0.35) on a random grey level, with 0 to 3 shapes
painted on it at one random brightness each (so the class is told by the outline, not the intensity); the mask holds
the class of each pixel: 0 background, 1 circle, 2 square, 3 triangle (a later shape covers an earlier one). One in
ten images is empty. Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same
images and masks on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CLASSES", "SHAPES_SIZE", "make_fcn", "paint", "shapes_data", "shapes_images"]

CLASSES = ("background", "circle", "square", "triangle")
SHAPES_SIZE = 400
"""Images of the demo: 240 train, 80 validation, 80 test."""
EMPTY_SHARE = 0.1
NOISE = 0.35


def paint(image: np.ndarray, mask: np.ndarray, kind: int, cy: float, cx: float, r: float, level: float) -> None:
    """Paint shape ``kind`` (1 circle of radius ``r``; 2 axis-aligned square of half-side ``r``; 3 upward triangle
    with apex ``(cy - r, cx)`` and base ``y = cy + r`` from ``cx - r`` to ``cx + r``) centred at pixel
    ``(cy, cx)`` into ``mask`` (its class) and ``image`` (``level`` added), in place."""
    H, W = mask.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    if kind == 1:
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    elif kind == 2:
        inside = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
    elif kind == 3:
        inside = (yy >= cy - r) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - cy + r) / 2)
    else:
        raise ValueError(f"paint: kind must be 1 (circle), 2 (square) or 3 (triangle), but got {kind!r}")
    mask[inside] = kind
    image[inside] += level


def shapes_images(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(n, 1, size, size)`` float32 and their masks ``(n, size, size)`` int64, from ``seed``."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, 1, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        img = rng.normal(rng.uniform(-0.3, 0.3), NOISE, (size, size))
        count = 0 if rng.random() < EMPTY_SHARE else int(rng.integers(1, 4))
        for _ in range(count):
            r = rng.uniform(3.5, 7.0)
            cy, cx = rng.uniform(r, size - 1 - r, 2)
            paint(img, masks[i], int(rng.integers(1, 4)), cy, cx, r, rng.uniform(0.8, 1.6))
        images[i, 0] = img
    return images, masks


def shapes_data(split: int = 0, n: int = SHAPES_SIZE) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` ``TensorDataset`` s of ``(image, mask)`` (60/20/20) from ``n`` images drawn with seed
    ``split``: every run of the demo segments fresh images. Each dataset's ``classes`` names the mask values."""
    import torch
    from torch.utils.data import TensorDataset

    images, masks = shapes_images(n, split)
    x, y = torch.from_numpy(images), torch.from_numpy(masks)
    a, b = int(0.6 * n), int(0.8 * n)
    train, val, test = (TensorDataset(x[s], y[s]) for s in (slice(0, a), slice(a, b), slice(b, n)))
    for p in (train, val, test):
        setattr(p, "classes", list(CLASSES))  # noqa: B010  (TensorDataset declares no such attribute)
    return train, val, test


def make_fcn(channels: int = 1, classes: int = len(CLASSES), width: int = 8) -> Any:
    """A small fully-convolutional network for 32x32 images: a 3x3 convolution at full size, max pooling to half
    size, three 3x3 convolutions there (dilation 1, 2, 4: a receptive field of about 30 pixels, a whole shape),
    upsampling back, the full-size features concatenated and two 1x1 convolutions to ``classes`` logits per
    pixel."""
    import torch
    from torch import nn

    class SmallFCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.full = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU())
            self.coarse = nn.Sequential(
                nn.MaxPool2d(2),
                nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2), nn.ReLU(),
                nn.Conv2d(2 * width, 2 * width, 3, padding=4, dilation=4), nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
            )
            self.head = nn.Sequential(nn.Conv2d(3 * width, 2 * width, 1), nn.ReLU(), nn.Conv2d(2 * width, classes, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.full(x)
            return self.head(torch.cat([f, self.coarse(f)], 1))

    return SmallFCN()


setattr(shapes_data, "fresh_draws", True)  # noqa: B010  (every run draws new images: losskit.lab.byo)
