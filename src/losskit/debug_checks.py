"""Checks behind :func:`losskit.debug_loss` that look past one tensor: torch's own losses run through losskit's guard,
frozen layers (``requires_grad=False`` or an exactly zero gradient on every checked batch) and dead ReLUs (units never
active on the checked batches)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ReluActivity", "ReluWatch", "collapse_to_modules", "frozen_and_dead", "losskit_twin", "under"]

_LEGACY = ("size_average", "reduce")


# --------------------------------------------------------------------------------------------
# torch's losses through losskit's guard
# --------------------------------------------------------------------------------------------
def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if default is inspect.Parameter.empty or isinstance(value, Tensor) or isinstance(default, Tensor):
        return False
    try:
        return bool(value == default)
    except Exception:
        return False


def losskit_twin(loss_fn: Callable[..., Any]) -> tuple[Callable[..., Any] | None, str]:
    """losskit's loss of the same name as a ``torch.nn`` loss Module or ``torch.nn.functional`` function, with the
    same options: ``(twin, label)``, or ``(None, why not)`` (``why`` is empty for a loss that is not torch's).

    A Module's options are read from its attributes (``weight``, ``ignore_index``, ``reduction``, ...); an option
    the losskit twin lacks, set away from torch's default, means no twin. ``functools.partial`` objects are unwrapped.
    """
    import losskit
    import losskit.functional as lkf

    if isinstance(loss_fn, functools.partial):
        twin, label = losskit_twin(loss_fn.func)
        if twin is None:
            return None, label
        return functools.partial(twin, *loss_fn.args, **loss_fn.keywords), f"functools.partial({label}, ...)"
    if isinstance(loss_fn, nn.Module):
        cls_name = type(loss_fn).__name__
        if not type(loss_fn).__module__.startswith("torch.nn"):
            return None, ""
        twin_cls = getattr(losskit, cls_name, None)
        if not (isinstance(twin_cls, type) and issubclass(twin_cls, nn.Module)):
            return None, f"losskit has no {cls_name}"
        ours = inspect.signature(twin_cls).parameters
        kwargs = {}
        for opt, par in inspect.signature(type(loss_fn)).parameters.items():
            if opt in _LEGACY or not hasattr(loss_fn, opt):
                continue
            value = getattr(loss_fn, opt)
            if opt in ours:
                if not _same(value, ours[opt].default):
                    kwargs[opt] = value
            elif not _same(value, par.default):
                return None, f"lk.{cls_name} has no option {opt!r} (set to {value!r})"
        try:
            return twin_cls(**kwargs), f"lk.{cls_name}"
        except Exception as err:  # an option losskit reads differently: check without it
            return None, f"lk.{cls_name}({', '.join(kwargs)}) could not be built: {type(err).__name__}: {err}"
    if getattr(loss_fn, "__module__", None) == "torch.nn.functional":
        fn_name = getattr(loss_fn, "__name__", "")
        twin_fn = getattr(lkf, fn_name, None)
        if callable(twin_fn):
            return twin_fn, f"losskit.functional.{fn_name}"
        return None, f"losskit.functional has no {fn_name}"
    return None, ""


# --------------------------------------------------------------------------------------------
# frozen layers
# --------------------------------------------------------------------------------------------
def collapse_to_modules(model: nn.Module, names: set[str]) -> tuple[list[tuple[str, str, int]], list[str]]:
    """The highest modules all of whose parameters are in ``names``: ``([(module name, type, parameter count)],
    [parameters in names not covered by such a module])``; the root module is named ``""``."""
    chosen: list[tuple[str, str, int]] = []
    covered: set[str] = set()
    for mname, mod in model.named_modules():
        if any(mname == c or mname.startswith(c + ".") or c == "" for c, _, _ in chosen):
            continue
        full = [f"{mname}.{p}" if mname else p for p, _ in mod.named_parameters()]
        if full and all(f in names for f in full):
            chosen.append((mname, type(mod).__name__, len(full)))
            covered.update(full)
    return chosen, [n for n in names if n not in covered]


def under(name: str, prefixes: Iterable[str]) -> bool:
    """Is module or parameter ``name`` one of ``prefixes`` or inside one of them?"""
    return any(name == p or name.startswith(p + ".") or p == "" for p in prefixes)


def frozen_and_dead(model: nn.Module, zero: dict[str, bool], frozen: Sequence[str], dead_relu: float,
                    relus: list[ReluActivity], batches: int) -> tuple[list[str], list[str], set[str]]:
    """Frozen layers, layers frozen in effect and dead ReLUs: ``(problems, notes, parameters frozen in effect)``.

    ``zero`` maps each parameter that got a gradient to whether it was exactly zero on every checked batch; modules
    under a name in ``frozen`` are meant to be frozen (notes, not problems).
    """
    problems: list[str] = []
    notes: list[str] = []
    fixes = ("; if that is meant (a pretrained part), pass frozen=[{0!r}] to debug_loss, else call "
             "{1}.requires_grad_(True)")
    modules, loose = collapse_to_modules(model, {n for n, p in model.named_parameters() if not p.requires_grad})
    for mname, kind, count in modules:
        what = "the whole model" if mname == "" else f"layer {mname!r} ({kind})"
        text = (f"{what} is frozen: its {count} parameter(s) have requires_grad=False, so the optimizer never "
                "changes it" + fixes.format(mname, f"model.{mname}" if mname else "model"))
        (notes if under(mname, frozen) else problems).append(text)
    for n in loose:
        text = f"parameter {n!r} is frozen (requires_grad=False) while the rest of its layer trains" + fixes.format(
            n.rpartition(".")[0], f"model.{n}")
        (notes if under(n, frozen) else problems).append(text)
    dead = [r for r in relus if r.dead and r.fraction > dead_relu]
    for r in dead:
        problems.append(
            f"dead ReLU {r.name!r}: {r.dead} of {r.units} units ({r.fraction:.0%}) were never active on the "
            f"{batches} checked batch(es), so they pass no gradient back; lower the learning rate, check the "
            "initialisation and the bias (a large negative bias), or use LeakyReLU/GELU")
    in_effect: set[str] = set()
    if any(not z for z in zero.values()):  # some parameter learns: a layer held at exactly zero is cut off
        modules, _ = collapse_to_modules(model, {n for n, z in zero.items() if z})
        for mname, kind, count in modules:
            if under(mname, frozen):
                continue
            problems.append(
                f"layer {mname!r} ({kind}) is frozen in effect: its {count} parameter(s) get an exactly zero gradient "
                f"on every one of the {batches} checked batch(es), so it does not learn; something after it blocks "
                f"the gradient (a dead ReLU{' (see above)' if dead else ''}, a zero multiplier or a saturated "
                "activation)")
            in_effect.update(n for n in zero if under(n, [mname]))
    return problems, notes, in_effect


# --------------------------------------------------------------------------------------------
# dead ReLUs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReluActivity:
    """How many units of one ReLU were never active (output > 0) on the checked batches.

    A unit is a feature (the last dimension) of a 2-D output ``(N, features)`` and a channel (dimension 1) of an
    output ``(N, C, ...)`` such as a convolution's.
    """

    name: str
    units: int
    dead: int

    @property
    def fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0

    def __str__(self) -> str:
        return f"{self.name}: {self.dead} of {self.units} units never active ({self.fraction:.0%})"


class ReluWatch:
    """Forward hooks on every ``nn.ReLU``/``nn.ReLU6`` of a model, recording which units were ever active."""

    def __init__(self, model: Any) -> None:
        self.active: dict[str, Tensor] = {}
        self._calls: dict[str, int] = {}
        self._handles = []
        if isinstance(model, nn.Module):
            for name, mod in model.named_modules():
                if isinstance(mod, (nn.ReLU, nn.ReLU6)):
                    self._handles.append(mod.register_forward_hook(self._hook(name or "(model)")))

    def new_pass(self) -> None:
        """Call before each forward pass, so a ReLU module used twice is told apart by its call number."""
        self._calls = {}

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, out: Any) -> None:
            if not isinstance(out, Tensor) or out.dim() == 0:
                return
            k = self._calls.get(name, 0)
            self._calls[name] = k + 1
            key = name if k == 0 else f"{name} (call {k + 1})"
            with torch.no_grad():
                on = out.detach() > 0
                if on.dim() == 1:
                    per_unit = on
                elif on.dim() == 2:
                    per_unit = on.any(0)
                else:
                    per_unit = on.transpose(0, 1).reshape(on.shape[1], -1).any(1)
            prev = self.active.get(key)
            self.active[key] = per_unit if prev is None or prev.shape != per_unit.shape else prev | per_unit

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def activity(self) -> list[ReluActivity]:
        return [ReluActivity(k, int(a.numel()), int((~a).sum())) for k, a in self.active.items()]
