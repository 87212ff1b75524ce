"""The benchmark cases: one per loss and size of the issue's target table, each with its baselines.

A :class:`Case` knows how to build its inputs from a seed (:meth:`Case.inputs`), its implementations
(:class:`Impl`: a builder returning a :class:`Step`, one forward+backward plus an untimed reset), which of
them are baselines, the minimal memory traffic of one step (for the fraction of the STREAM bandwidth) and the
targets of the issue. Nothing here measures: :mod:`losskit.bench.worker` runs one implementation of one case in
a fresh process, :mod:`losskit.bench.runner` runs them all.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import baselines as B

__all__ = ["CASES", "Case", "Impl", "MissingImpl", "Step", "Target", "get_case", "quick_impls"]


class MissingImpl(RuntimeError):
    """The implementation is not available in this installation (e.g. a loss not merged yet)."""


@dataclass
class Step:
    """One timed forward+backward (``run``, returning the detached loss) and the untimed work that precedes it
    (``reset``)."""

    run: Callable[[], torch.Tensor]
    reset: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class Impl:
    """An implementation of a case: ``build(inputs)`` returns its :class:`Step`."""

    name: str
    build: Callable[[dict], Step]
    baseline: bool = False
    compiled: bool = False
    """Built with :func:`torch.compile`: its first warm-up step includes the compilation."""
    note: str = ""


@dataclass(frozen=True)
class Target:
    """A line of the issue's target table: ``impl`` at least ``speedup`` times faster than ``against`` and at
    most ``memory`` times its extra peak memory (``None``: no memory target)."""

    impl: str
    against: str
    speedup: float
    memory: float | None


@dataclass(frozen=True)
class Case:
    name: str
    loss: str
    sizes: dict[str, dict]
    """Size parameters per mode (``"full"``, ``"quick"``); a case without a mode's entry is skipped in it."""
    make: Callable[[dict, torch.Generator], dict]
    impls: tuple[Impl, ...]
    traffic: Callable[[dict], int] | None = None
    """Bytes one step must move at least (inputs read once, gradient written once)."""
    targets: tuple[Target, ...] = ()
    elementwise: bool = False
    notes: str = ""

    def size(self, mode: str) -> dict | None:
        return self.sizes.get(mode)

    def title(self, mode: str) -> str:
        size = self.sizes[mode]
        return f"{self.loss} {size.get('label') or _shape_label(size)}"

    def inputs(self, mode: str, seed: int) -> dict:
        gen = torch.Generator().manual_seed(seed)
        return self.make(self.sizes[mode], gen)

    def impl(self, name: str) -> Impl:
        for impl in self.impls:
            if impl.name == name:
                return impl
        raise KeyError(f"case {self.name!r} has no implementation {name!r}")

    @property
    def baselines(self) -> list[str]:
        return [i.name for i in self.impls if i.baseline]

    @property
    def candidates(self) -> list[str]:
        return [i.name for i in self.impls if not i.baseline]


def _shape_label(size: dict) -> str:
    dims = [f"{k}={v}" for k, v in size.items() if k not in ("label",)]
    return "(" + ", ".join(dims) + ")"


def _resolve(path: str) -> Callable:
    """``"module:function"`` -> the function, or :class:`MissingImpl`."""
    module, _, name = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise MissingImpl(f"{path} is not available ({err})") from err
    return fn


def _leaf_step(call: Callable[[dict], torch.Tensor], leaves: tuple[str, ...] = ("x",)) -> Callable[[dict], Step]:
    """A step on leaf inputs: reset clears their ``.grad``, run is ``call(inputs).backward()``."""

    def build(inp: dict) -> Step:
        tensors = [inp[k] for k in leaves]

        def reset() -> None:
            for t in tensors:
                t.grad = None

        def run() -> torch.Tensor:
            loss = call(inp)
            loss.backward()
            return loss.detach()

        return Step(run, reset)

    return build


def _fused(path: str, leaves: tuple[str, ...] = ("x",), **fixed) -> Callable[[dict], Step]:
    """A step calling ``path(*args, **fixed)`` with the inputs' ``args``/``kwargs``, resolved when built."""

    def build(inp: dict) -> Step:
        fn = _resolve(path)
        return _leaf_step(lambda d: fn(*d["args"], **d.get("kwargs", {}), **fixed), leaves)(inp)

    return build


def _inplace(path: str) -> Callable[[dict], Step]:
    """The in-place opt-in: each step gets a fresh copy of the logits (untimed) that the loss overwrites."""

    def build(inp: dict) -> Step:
        fn = _resolve(path)
        pristine = inp["args"][0]
        work = pristine.detach().clone().requires_grad_()
        rest = inp["args"][1:]
        kwargs = inp.get("kwargs", {})

        def reset() -> None:
            work.grad = None
            with torch.no_grad():
                work.copy_(pristine)

        def run() -> torch.Tensor:
            # a view: the logits are produced by the graph (as from a layer), not a leaf
            loss = fn(work.view_as(work), *rest, **kwargs, inplace=True)
            loss.backward()
            return loss.detach()

        return Step(run, reset)

    return build


def _compiled(fn: Callable, leaves: tuple[str, ...] = ("x",)) -> Callable[[dict], Step]:
    def build(inp: dict) -> Step:
        compiled = torch.compile(fn)
        return _leaf_step(lambda d: compiled(*d["args"], **d.get("kwargs", {})), leaves)(inp)

    return build


def _eager(fn: Callable, leaves: tuple[str, ...] = ("x",)) -> Callable[[dict], Step]:
    return _leaf_step(lambda d: fn(*d["args"], **d.get("kwargs", {})), leaves)


def _public(name: str, leaves: tuple[str, ...] = ("x",)) -> Callable[[dict], Step]:
    """losskit's public function (what users call: guard layer, then the dispatch to the fused path)."""
    return _fused(f"losskit.functional:{name}", leaves)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def _ce_inputs(size: dict, gen: torch.Generator) -> dict:
    n, c = size["N"], size["C"]
    x = torch.randn(n, c, generator=gen).mul_(2.0).requires_grad_()
    t = torch.randint(0, c, (n,), generator=gen)
    return {"x": x, "args": (x, t)}


def _pointwise_inputs(size: dict, gen: torch.Generator) -> dict:
    n = size["n"]
    x = torch.randn(n, generator=gen).requires_grad_()
    if size.get("binary"):
        y = torch.rand(n, generator=gen).lt_(0.3).float()
    else:
        y = torch.randn(n, generator=gen)
    return {"x": x, "args": (x, y), "kwargs": dict(size.get("kwargs", {}))}


def _dice_inputs(size: dict, gen: torch.Generator) -> dict:
    shape = size["shape"]
    x = torch.randn(*shape, generator=gen).requires_grad_()
    y = torch.rand(*shape, generator=gen).lt_(0.3).float()
    return {"x": x, "args": (x, y)}


def _lce_inputs(size: dict, gen: torch.Generator) -> dict:
    n, h, v = size["N"], size["H"], size["V"]
    x = torch.randn(n, h, generator=gen).div_(math.sqrt(h)).requires_grad_()
    w = torch.randn(v, h, generator=gen).requires_grad_()
    t = torch.randint(0, v, (n,), generator=gen)
    return {"x": x, "w": w, "args": (x, w, t)}


def _pref_inputs(size: dict, gen: torch.Generator) -> dict:
    """Pairs of (B, T) responses whose first quarter (the prompt) is ignored, DPO against fixed reference logps."""
    b, t, h, v = size["B"], size["T"], size["H"], size["V"]
    hc = torch.randn(b, t, h, generator=gen).div_(math.sqrt(h)).requires_grad_()
    hr = torch.randn(b, t, h, generator=gen).div_(math.sqrt(h)).requires_grad_()
    w = torch.randn(v, h, generator=gen).requires_grad_()
    lc, lr = (torch.randint(0, v, (b, t), generator=gen) for _ in range(2))
    lc[:, : t // 4] = -100
    lr[:, : t // 4] = -100
    ref = -torch.rand(2, b, generator=gen).mul_(t).add_(t)
    kwargs = {"loss_type": "dpo", "ref_logps_chosen": ref[0], "ref_logps_rejected": ref[1]}
    return {"hc": hc, "hr": hr, "w": w, "args": (hc, hr, w, lc, lr), "kwargs": kwargs}


def _bytes(*counts: int) -> int:
    return 4 * sum(counts)


# --------------------------------------------------------------------------------------------
# the cases (sizes and targets from issue 4)
# --------------------------------------------------------------------------------------------
def _ce_case(name: str, full: dict | None, quick: dict | None, targets: tuple[Target, ...], *, inplace: bool):
    impls = [
        Impl("torch", _eager(F.cross_entropy), baseline=True, note="F.cross_entropy"),
        Impl("torch.compile", _compiled(F.cross_entropy), baseline=True, compiled=True),
        Impl("losskit", _public("cross_entropy")),
        Impl("fused", _fused("losskit.fused:fused_cross_entropy")),
    ]
    if inplace:
        impls.append(Impl("fused-inplace", _inplace("losskit.fused:fused_cross_entropy")))
    sizes = {k: v for k, v in (("full", full), ("quick", quick)) if v is not None}
    return Case(
        name, "cross_entropy", sizes, _ce_inputs, tuple(impls),
        traffic=lambda s: _bytes(2 * s["N"] * s["C"]), targets=targets,
    )


def _pointwise_case(loss: str, torch_fn: Callable, *, binary: bool = False, kwargs: dict | None = None) -> Case:
    size = {"n": 1 << 24, "label": "2^24", "binary": binary, "kwargs": kwargs or {}}
    return Case(
        f"{loss}", loss, {"full": size, "quick": size}, _pointwise_inputs,
        (
            Impl("torch", _eager(torch_fn), baseline=True, note=f"F.{torch_fn.__name__}"),
            Impl("torch.compile", _compiled(torch_fn), baseline=True, compiled=True),
            Impl("losskit", _public(loss)),
            Impl("fused", _fused(f"losskit.fused:fused_{loss}")),
        ),
        traffic=lambda s: _bytes(3 * s["n"]),
        targets=(Target("fused", "torch", 1.5, 1.0),),
        elementwise=True,
    )


def _focal_inputs(size: dict, gen: torch.Generator) -> dict:
    inp = _ce_inputs(size, gen)
    inp["kwargs"] = {"gamma": 2.0}
    return inp


def _tutorial_focal(x, t, *, gamma=2.0):
    return B.tutorial_focal_loss(x, t, gamma=gamma)


def _sfocal_inputs(size: dict, gen: torch.Generator) -> dict:
    inp = _pointwise_inputs({**size, "binary": True}, gen)
    inp["kwargs"] = {"alpha": 0.25, "gamma": 2.0}
    return inp


def _dice_losskit(path: str) -> Callable[[dict], Step]:
    def build(inp: dict) -> Step:
        fn = _resolve(path)
        x, y = inp["args"]
        return _leaf_step(lambda d: fn(x, y, mode="binary", smooth=1.0))(inp)

    return build


def _lce_case(name: str, full: dict | None, quick: dict | None, targets: tuple[Target, ...], *, chunked: bool) -> Case:
    impls = []
    if chunked:
        impls.append(
            Impl(
                "torch-chunked",
                _leaf_step(
                    lambda d: F.linear_cross_entropy(*d["args"], options=torch.nn.LinearCrossEntropyOptions()),
                    ("x", "w"),
                ),
                baseline=True,
                note="F.linear_cross_entropy(options=LinearCrossEntropyOptions())",
            )
        )
    impls += [
        Impl("naive", _eager(B.naive_linear_cross_entropy, ("x", "w")), baseline=True, note="cross_entropy(h @ W.T)"),
        Impl("losskit", _public("linear_cross_entropy", ("x", "w"))),
        Impl("fused", _fused("losskit.fused:fused_linear_cross_entropy", ("x", "w"))),
    ]
    sizes = {k: v for k, v in (("full", full), ("quick", quick)) if v is not None}
    return Case(
        name, "linear_cross_entropy", sizes, _lce_inputs, tuple(impls),
        traffic=None, targets=targets,
        notes="time is mostly the three (N, H) x (H, V) matrix products, the same in every implementation",
    )


CASES: list[Case] = [
    _ce_case(
        "cross_entropy",
        {"N": 4096, "C": 32000},
        {"N": 4096, "C": 32000},
        (Target("fused", "torch", 2.5, 0.35), Target("fused-inplace", "torch", 6.0, 0.05)),
        inplace=True,
    ),
    _ce_case(
        "cross_entropy_large",
        {"N": 8192, "C": 128256},
        {"N": 1024, "C": 128256},
        (Target("fused", "torch", 2.5, 0.35),),
        inplace=False,
    ),
    _pointwise_case("mse_loss", F.mse_loss),
    _pointwise_case("l1_loss", F.l1_loss),
    _pointwise_case("huber_loss", F.huber_loss),
    _pointwise_case("smooth_l1_loss", F.smooth_l1_loss),
    _pointwise_case("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, binary=True),
    Case(
        "focal_loss", "focal_loss",
        {"full": {"N": 65536, "C": 1000}, "quick": {"N": 16384, "C": 1000}},
        _focal_inputs,
        (
            Impl("tutorial", _eager(_tutorial_focal), baseline=True, note="tutorial FocalLoss"),
            Impl("tutorial.compile", _compiled(_tutorial_focal), baseline=True, compiled=True),
            Impl("losskit", _public("focal_loss")),
            Impl("fused", _fused("losskit.fused:fused_focal_loss")),
            Impl("fused-inplace", _inplace("losskit.fused:fused_focal_loss")),
        ),
        traffic=lambda s: _bytes(2 * s["N"] * s["C"]),
        targets=(Target("fused", "tutorial", 2.0, 0.35), Target("fused-inplace", "tutorial", 4.0, 0.05)),
    ),
    Case(
        "sigmoid_focal_loss", "sigmoid_focal_loss",
        {"full": {"n": 1 << 24, "label": "2^24"}, "quick": {"n": 1 << 24, "label": "2^24"}},
        _sfocal_inputs,
        (
            Impl("torchvision", _eager(B.torchvision_sigmoid_focal_loss), baseline=True,
                 note="torchvision's formula"),
            Impl("torchvision.compile", _compiled(B.torchvision_sigmoid_focal_loss), baseline=True, compiled=True),
            Impl("losskit", _public("sigmoid_focal_loss")),
            Impl("fused", _fused("losskit.fused:fused_sigmoid_focal_loss")),
        ),
        traffic=lambda s: _bytes(3 * s["n"]),
        targets=(Target("fused", "torchvision", 5.0, 0.15),),
        elementwise=True,
    ),
    Case(
        "dice_loss", "dice_loss",
        {"full": {"shape": (16, 1, 512, 512), "label": "(16, 1, 512, 512)"},
         "quick": {"shape": (16, 1, 512, 512), "label": "(16, 1, 512, 512)"}},
        _dice_inputs,
        (
            Impl("soft-dice", _eager(B.soft_dice_loss), baseline=True, note="usual soft Dice, smooth=1"),
            Impl("soft-dice.compile", _compiled(B.soft_dice_loss), baseline=True, compiled=True),
            Impl("losskit", _dice_losskit("losskit.functional:dice_loss")),
            Impl("fused", _dice_losskit("losskit.fused:fused_dice_loss")),
        ),
        traffic=lambda s: _bytes(3 * math.prod(s["shape"])),
        targets=(Target("fused", "soft-dice", 1.5, 1.0),),
        elementwise=True,
    ),
    _lce_case(
        "linear_cross_entropy",
        {"N": 4096, "H": 2048, "V": 32000},
        {"N": 1024, "H": 1024, "V": 32000},
        (Target("fused", "torch-chunked", 1.15, 0.75), Target("fused", "naive", 1.0, None)),
        chunked=True,
    ),
    _lce_case(
        "linear_cross_entropy_large",
        {"N": 2048, "H": 2048, "V": 128256},
        {"N": 512, "H": 512, "V": 128256},
        (Target("fused", "naive", 1.0, 0.4),),
        chunked=False,
    ),
    Case(
        "preference", "fused_linear_preference_loss",
        {"full": {"B": 4, "T": 512, "H": 1024, "V": 32000}, "quick": {"B": 2, "T": 256, "H": 1024, "V": 32000}},
        _pref_inputs,
        (
            Impl("naive", _eager(B.naive_linear_preference_loss, ("hc", "hr", "w")), baseline=True,
                 note="h @ W.T, sequence_log_probs, dpo_loss"),
            Impl("fused", _fused("losskit.fused:fused_linear_preference_loss", ("hc", "hr", "w"))),
        ),
        targets=(Target("fused", "naive", 0.7, 0.25),),
        notes="DPO; the fused path does four (N, H) x (H, V) products (two sweeps) where the naive form does three",
    ),
]


def get_case(name: str) -> Case:
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(name)



def quick_impls(case: Case) -> list[str]:
    """What ``--quick`` measures: everything but losskit's public entry point (the fused path it dispatches to
    is measured directly) and torch.compile of torch's own losses (kept for the textbook baselines, where the
    issue quotes it)."""
    skip = {"losskit", "torch.compile"}
    return [i.name for i in case.impls if i.name not in skip]
