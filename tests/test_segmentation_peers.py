"""Agreement of the segmentation losses with the peers, on values and gradients (float64).

Peers, test-only: MONAI (``monai.losses``), segmentation_models_pytorch (smp; its package imports torchvision, so
its pure-Python ``losses`` folder is loaded on its own from the installed files) and kornia (``kornia.losses``).
Each test skips when its peer is absent. Each call states the losskit options that give the peer's number; the
module docstring of :mod:`losskit.functional.segmentation` lists them.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest
import torch

import losskit.functional as LF

D = torch.float64


def _smp_losses():
    """smp's ``losses`` package, loaded from the installed files without smp's ``__init__`` (torchvision)."""
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segmentation_models_pytorch is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "losses"
    name = "_losskit_smp_losses"
    if name not in sys.modules:
        loader = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                        submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
    return sys.modules[name]


def _agree(ours, theirs, x: torch.Tensor, *, atol: float = 1e-10, rtol: float = 1e-8) -> float:
    """Values and gradients w.r.t. ``x`` agree; returns the largest absolute difference seen."""
    a, b = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    va, vb = ours(a), theirs(b)
    torch.testing.assert_close(va.double(), vb.double(), atol=atol, rtol=rtol)
    (ga,) = torch.autograd.grad(va, a)
    (gb,) = torch.autograd.grad(vb, b)
    torch.testing.assert_close(ga.double(), gb.double(), atol=atol, rtol=rtol)
    return max(float((va - vb).abs()), float((ga - gb).abs().max()))


def _data(seed: int = 0, n: int = 3, c: int = 4, shape=(5, 6)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, *shape, generator=g, dtype=D) * 2
    y = torch.randint(0, c - 1, (n, *shape), generator=g)  # class c - 1 absent from the target
    return x, y


# --------------------------------------------------------------------------------------------
# MONAI
# --------------------------------------------------------------------------------------------
MONAI_DEFAULTS = {"smooth_nr": 1e-5, "smooth_dr": 1e-5, "empty_class": "score"}


@pytest.mark.parametrize(
    ("monai_kwargs", "ours"),
    [
        ({}, {"per_image": True}),
        ({"batch": True}, {}),
        ({"include_background": False}, {"per_image": True, "include_background": False}),
        ({"squared_pred": True}, {"per_image": True, "squared_pred": True}),
        ({"smooth_nr": 0.0, "smooth_dr": 1.0}, {"per_image": True, "smooth_nr": 0.0, "smooth_dr": 1.0}),
    ],
    ids=["default", "batch", "no-background", "squared", "smooth"],
)
def test_monai_dice(monai_kwargs, ours):
    monai = pytest.importorskip("monai.losses")
    x, y = _data()
    options = {**MONAI_DEFAULTS, **ours}
    peer = monai.DiceLoss(to_onehot_y=True, softmax=True, **monai_kwargs)
    # MONAI forms squared sums as squared vector norms: rounding of 1e-7 relative in the gradient
    tol = {"atol": 1e-9, "rtol": 1e-6} if ours.get("squared_pred") else {}
    _agree(lambda a: LF.dice_loss(a, y, mode="multiclass", **options), lambda b: peer(b, y[:, None]), x, **tol)


def test_monai_jaccard_and_soft_labels():
    monai = pytest.importorskip("monai.losses")
    x, y = _data(1)
    peer = monai.DiceLoss(to_onehot_y=True, softmax=True, jaccard=True, squared_pred=True)
    _agree(lambda a: LF.jaccard_loss(a, y, mode="multiclass", per_image=True, squared_pred=True, smooth_nr=5e-6,
                                     smooth_dr=5e-6, empty_class="score"),
           lambda b: peer(b, y[:, None]), x, atol=1e-9, rtol=1e-6)
    soft = torch.rand(2, 3, 4, 4, dtype=D)  # soft label maps, sigmoid channels
    logits = torch.randn(2, 3, 4, 4, dtype=D)
    peer = monai.DiceLoss(sigmoid=True, soft_label=True)
    _agree(lambda a: LF.dice_loss(a, soft, mode="multilabel", per_image=True, soft_label=True, **MONAI_DEFAULTS),
           lambda b: peer(b, soft), logits)


@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("batch", [False, True])
def test_monai_generalized_dice(w_type, batch):
    monai = pytest.importorskip("monai.losses")
    x, y = _data(2)
    for include_background in (True, False):
        peer = monai.GeneralizedDiceLoss(to_onehot_y=True, softmax=True, w_type=w_type, batch=batch,
                                         include_background=include_background)
        _agree(lambda a, ib=include_background: LF.generalized_dice_loss(
                   a, y, mode="multiclass", weight_type=w_type, per_image=not batch, smooth_nr=1e-5, smooth_dr=1e-5,
                   include_background=ib),
               lambda b, p=peer: p(b, y[:, None]), x)


def test_monai_dice_ce():
    monai = pytest.importorskip("monai.losses")
    x, y = _data(3)
    w = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=D)
    peer = monai.DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=0.7, lambda_ce=1.3)
    _agree(lambda a: LF.dice_ce_loss(a, y, mode="multiclass", lambda_dice=0.7, lambda_ce=1.3, per_image=True,
                                     **MONAI_DEFAULTS),
           lambda b: peer(b, y[:, None]), x)
    # class weights: MONAI's Dice mean divides by the number of terms, losskit's by the sum of the weights
    peer = monai.DiceCELoss(to_onehot_y=True, softmax=True, weight=w, lambda_dice=0.0)
    _agree(lambda a: LF.dice_ce_loss(a, y, w, mode="multiclass", lambda_dice=0.0), lambda b: peer(b, y[:, None]), x)
    bx, by = x[:, :1], (y[:, None] > 0).to(D)  # one channel: the binary cross-entropy
    peer = monai.DiceCELoss(sigmoid=True)
    _agree(lambda a: LF.dice_ce_loss(a, by, mode="binary", per_image=True, **MONAI_DEFAULTS),
           lambda b: peer(b, by), bx)


@pytest.mark.parametrize("include_background", [True, False])
def test_monai_dice_focal(include_background):
    monai = pytest.importorskip("monai.losses")
    x, y = _data(4)
    peer = monai.DiceFocalLoss(to_onehot_y=True, softmax=True, gamma=1.5, alpha=0.3, lambda_focal=2.0,
                               include_background=include_background)
    # MONAI's FocalLoss computes in float32 (input.float()): the tolerance is float32's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _agree(lambda a: LF.dice_focal_loss(a, y, mode="multiclass", gamma=1.5, alpha=0.3, lambda_focal=2.0,
                                            per_image=True, include_background=include_background,
                                            **MONAI_DEFAULTS),
               lambda b: peer(b, y[:, None]), x, atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# segmentation_models_pytorch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["DiceLoss", "JaccardLoss", "TverskyLoss"])
def test_smp_classes(name):
    smp = _smp_losses()
    x, y = _data(5)
    fn = {"DiceLoss": LF.dice_loss, "JaccardLoss": LF.jaccard_loss, "TverskyLoss": LF.tversky_loss}[name]
    for classes in ([1, 2], [3, 0]):
        peer = getattr(smp, name)("multiclass", classes=classes)
        _agree(lambda a, c=classes: fn(a, y, mode="multiclass", classes=c), lambda b, p=peer: p(b, y), x)
    m = (torch.rand(3, 4, 5, 6, dtype=D) > 0.5).to(D)
    peer = getattr(smp, name)("multilabel", classes=[0, 2])
    _agree(lambda a: fn(a, m, mode="multilabel", classes=[0, 2]), lambda b: peer(b, m), x)


def test_smp_soft_targets_are_soft_label():
    smp = _smp_losses()
    logits, soft = torch.randn(2, 3, 10, dtype=D), torch.rand(2, 3, 10, dtype=D)
    peer = smp.DiceLoss("multilabel")
    _agree(lambda a: LF.dice_loss(a, soft, mode="multilabel", soft_label=True), lambda b: peer(b, soft), logits)


@pytest.mark.parametrize(
    "options",
    [{}, {"alpha": 0.25}, {"normalized": True}, {"reduced_threshold": 0.5, "gamma": 3.0},
     {"ignore_index": 255, "alpha": 0.6}],
    ids=["plain", "alpha", "normalized", "reduced", "ignore"],
)
@pytest.mark.parametrize("mode", ["binary", "multiclass", "multilabel"])
def test_smp_focal(mode, options):
    smp = _smp_losses()
    x, y = _data(6)
    if mode == "binary":
        x, y = x[:, :1], (y[:, None] > 0).long()
    elif mode == "multilabel":
        y = (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) > 0.6).long()
    if "ignore_index" in options:
        if mode == "multilabel":
            pytest.skip("smp 0.6 FocalLoss('multilabel', ignore_index=...) raises IndexError (a (N, C, *) mask "
                        "indexes (N, *) slices)")
        y = y.clone()
        y[0, ..., :2] = 255
    peer = smp.FocalLoss(mode, **options)
    _agree(lambda a: LF.segmentation_focal_loss(a, y, mode=mode, **options), lambda b: peer(b, y), x)


def test_smp_lovasz_counts_an_all_ignored_image():
    smp = _smp_losses()
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 1, 6, 6, generator=g) * 2  # float32: smp's hinge casts the labels to float32
    y = (torch.rand(3, 1, 6, 6, generator=g) > 0.5).long()
    y[1] = 255  # every pixel of image 1 ignored
    peer = smp.LovaszLoss("binary", per_image=True, ignore_index=255)
    _agree(lambda a: LF.lovasz_loss(a, y, mode="binary", per_image=True, ignore_index=255),
           lambda b: peer(b, y), x, atol=1e-6, rtol=1e-5)
    # the two other images' mean is 3/2 of it: what losskit returned before (leaving image 1 out)
    kept = LF.lovasz_loss(x[[0, 2]], y[[0, 2]], mode="binary", per_image=True, ignore_index=255)
    torch.testing.assert_close(kept * 2 / 3, LF.lovasz_loss(x, y, mode="binary", per_image=True, ignore_index=255))


# --------------------------------------------------------------------------------------------
# kornia
# --------------------------------------------------------------------------------------------
def test_kornia_dice_micro():
    kornia = pytest.importorskip("kornia.losses")
    x, y = _data(8)
    w = torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=D)
    for weight in (None, w):
        _agree(lambda a, wt=weight: LF.dice_loss(a, y, wt, mode="multiclass", average="micro", per_image=True),
               lambda b, wt=weight: kornia.dice_loss(b, y, average="micro", weight=wt), x, atol=1e-8, rtol=1e-7)


@pytest.mark.parametrize("three_d", [False, True], ids=["2d", "3d"])
def test_kornia_hausdorff_er(three_d):
    kornia = pytest.importorskip("kornia.losses")
    g = torch.Generator().manual_seed(9)
    shape = (2, 3, 5, 6, 4) if three_d else (2, 3, 12, 10)
    probs = (torch.randn(*shape, generator=g, dtype=D) * 3).softmax(1)
    labels = torch.randint(0, 3, (shape[0], *shape[2:]), generator=g)
    peer = (kornia.HausdorffERLoss3D if three_d else kornia.HausdorffERLoss)(alpha=1.5, k=6)
    # kornia's kernel buffer is float32 (0.2 = 0.20000000298 after the cast to float64): 1e-7 relative
    _agree(lambda a: LF.hausdorff_er_loss(a, labels, mode="multiclass", from_logits=False, alpha=1.5, k=6),
           lambda b: peer(b, labels[:, None]), probs, atol=1e-8, rtol=1e-6)


def test_kornia_focal_alpha_is_a_background_vector():
    # kornia's float alpha weighs class 0 by 1 - alpha and the others by alpha; its mean divides the sum by C
    # times the pixel count: focal_loss(alpha=tensor([1 - a, a, ...]), reduction="sum") / (C * numel(target))
    kornia = pytest.importorskip("kornia.losses")
    x, y = _data(10)
    a, c = 0.3, x.shape[1]
    vector = torch.tensor([1 - a] + [a] * (c - 1), dtype=D)
    _agree(lambda p: LF.focal_loss(p, y, alpha=vector, reduction="sum") / (c * y.numel()),
           lambda q: kornia.focal_loss(q, y, alpha=a, gamma=2.0, reduction="mean"), x)
