"""Agreement with timm's loss files on values and gradients (ASL multi- and single-label, JsdCrossEntropy,
SoftTargetCrossEntropy, BinaryCrossEntropy).

timm imports torchvision, which does not import beside this torch; its loss files are pure torch, so they are
loaded directly from the installed package directory (``pip install --no-deps timm``), without ``import timm``.
The tests skip when timm is not installed. timm computes ASL in float32 whatever the input, so the comparisons
run in float32 (tolerance: float32 rounding).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

import losskit.functional as LF


def _timm_loss_dir() -> Path | None:
    spec = importlib.util.find_spec("timm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "loss"
    return folder if (folder / "asymmetric_loss.py").exists() else None


def _load_timm_losses() -> types.SimpleNamespace | None:
    folder = _timm_loss_dir()
    if folder is None:
        return None
    package = types.ModuleType("_timm_loss_files")  # a stand-in parent for jsd.py's relative import
    package.__path__ = [str(folder)]
    sys.modules.setdefault(package.__name__, package)
    loaded = {}
    for name in ("cross_entropy", "asymmetric_loss", "jsd", "binary_cross_entropy"):
        spec = importlib.util.spec_from_file_location(f"{package.__name__}.{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        loaded[name] = module
    return types.SimpleNamespace(**loaded)


TIMM = _load_timm_losses()
pytestmark = pytest.mark.skipif(TIMM is None, reason="timm is not installed (pip install --no-deps timm)")
TOL = {"rtol": 2e-5, "atol": 2e-6}


def _compare(timm_loss, ours, x: torch.Tensor, *args) -> None:
    """Same value and the same gradient with respect to the logits."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, b = timm_loss(xa, *args), ours(xb, *args)
    torch.testing.assert_close(b, a, **TOL)
    g = torch.rand_like(a) + 0.5
    a.backward(g)
    b.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad, **TOL)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn(8, 6, generator=g) * 2,
        "y": (torch.rand(8, 6, generator=g) > 0.6).float(),
        "t": torch.randint(0, 6, (8,), generator=g),
        "w": torch.rand(6, generator=g) + 0.2,
        "pw": torch.rand(6, generator=g) * 3,
        "mix": torch.distributions.Dirichlet(torch.ones(6)).sample((8,)),
    }


ASL_CASES = {
    "defaults": ({}, {}),
    "smoothing": ({"smoothing": 0.1}, {"label_smoothing": 0.1}),
    "pos_weight, weight, clip": ({"pos_weight": "pw", "weight": "w", "clip": 0.1, "reduction": "sum"},
                                 {"pos_weight": "pw", "weight": "w", "clip": 0.1, "reduction": "sum"}),
    "no grad through focusing": ({"disable_torch_grad_focal_loss": True, "smoothing": 0.2},
                                 {"disable_torch_grad_focal_loss": True, "label_smoothing": 0.2}),
    "mean, gammas, no clip": ({"reduction": "mean", "gamma_pos": 0, "gamma_neg": 2, "clip": 0},
                              {"reduction": "mean", "gamma_pos": 0.0, "gamma_neg": 2.0, "clip": 0.0}),
    "none, eps": ({"reduction": "none", "eps": 1e-4}, {"reduction": "none", "eps": 1e-4}),
}


@pytest.mark.parametrize("case", list(ASL_CASES))
def test_asymmetric_loss_multilabel(case, data):
    timm_kw, our_kw = ({k: data[v] if isinstance(v, str) and v in data else v for k, v in kw.items()}
                       for kw in ASL_CASES[case])
    weight = our_kw.pop("weight", None)
    options = {"gamma_pos": 1.0, "soft_focusing": "shared", "reduction": "batchmean", **our_kw}
    _compare(TIMM.asymmetric_loss.AsymmetricLossMultiLabel(**timm_kw),
             lambda x, y: LF.asymmetric_loss(x, y, weight, **options), data["x"], data["y"])


@pytest.mark.parametrize(("gamma_pos", "gamma_neg", "eps"), [(1, 4, 0.1), (0, 4, 0.0), (2, 1, 0.3), (0.5, 0, 0.2)])
def test_asymmetric_loss_single_label(gamma_pos, gamma_neg, eps, data):
    timm_loss = TIMM.asymmetric_loss.AsymmetricLossSingleLabel(gamma_pos=gamma_pos, gamma_neg=gamma_neg, eps=eps)
    ours = lambda x, t: LF.asymmetric_loss_single_label(  # noqa: E731
        x, t, gamma_pos=float(gamma_pos), gamma_neg=float(gamma_neg), label_smoothing=eps)
    _compare(timm_loss, ours, data["x"], data["t"])


@pytest.mark.parametrize(("num_splits", "alpha", "smoothing"), [(3, 12, 0.1), (2, 1.0, 0.0), (4, 3.0, 0.2)])
def test_jsd_cross_entropy(num_splits, alpha, smoothing):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5 * num_splits, 7, generator=g) * 2
    target = torch.randint(0, 7, (5,), generator=g).repeat(num_splits)  # timm's loader repeats the labels
    timm_loss = TIMM.jsd.JsdCrossEntropy(num_splits=num_splits, alpha=alpha, smoothing=smoothing)
    ours = lambda x, t: LF.jsd_cross_entropy(  # noqa: E731
        x, t, num_splits=num_splits, alpha=float(alpha), label_smoothing=smoothing)
    _compare(timm_loss, ours, x, target)


def test_soft_target_cross_entropy(data):
    _compare(TIMM.cross_entropy.SoftTargetCrossEntropy(), LF.soft_target_cross_entropy, data["x"], data["mix"])


BCE_CASES = {
    "indices, defaults": ({}, {}, "t"),
    "indices, no smoothing, pos_weight": ({"smoothing": 0.0, "pos_weight": "pw"},
                                          {"label_smoothing": 0.0, "pos_weight": "pw"}, "t"),
    "indices, sum_classes": ({"smoothing": 0.2, "sum_classes": True},
                             {"label_smoothing": 0.2, "reduction": "batchmean"}, "t"),
    "mixup targets": ({}, {}, "mix"),
    "mixup, threshold": ({"target_threshold": 0.2}, {"target_threshold": 0.2}, "mix"),
    "multi-hot, smooth_dense": ({"smooth_dense": True, "smoothing": 0.1},
                                {"smooth_dense": True, "label_smoothing": 0.1}, "y"),
    "weight, sum": ({"weight": "w", "reduction": "sum"}, {"weight": "w", "reduction": "sum"}, "mix"),
}


@pytest.mark.parametrize("case", list(BCE_CASES))
def test_binary_cross_entropy(case, data):
    timm_kw, our_kw, target = BCE_CASES[case]
    timm_kw = {k: data[v] if isinstance(v, str) and v in data else v for k, v in timm_kw.items()}
    our_kw = {k: data[v] if isinstance(v, str) and v in data else v for k, v in our_kw.items()}
    weight = our_kw.pop("weight", None)
    _compare(TIMM.binary_cross_entropy.BinaryCrossEntropy(**timm_kw),
             lambda x, t: LF.soft_target_binary_cross_entropy(x, t, weight, **our_kw), data["x"], data[target])


def test_binary_cross_entropy_weighted_mean_is_documented(data):
    # timm's reduction="mean" with weight divides by the element count; losskit's mean by the total weight:
    # reduction="sum" / numel reproduces timm
    x, t, w = data["x"], data["t"], data["w"]
    timm_value = TIMM.binary_cross_entropy.BinaryCrossEntropy(weight=w)(x, t)
    ours = LF.soft_target_binary_cross_entropy(x, t, w, reduction="sum") / x.numel()
    torch.testing.assert_close(ours, timm_value, **TOL)
    assert not torch.allclose(LF.soft_target_binary_cross_entropy(x, t, w), timm_value)
