"""The base of every losskit Module: it stores options, registers tensor options as buffers, and its
``forward`` is one call to the loss's functional (the functional is the canonical documentation)."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

from .. import _validation as V

__all__ = ["Loss"]


class Loss(nn.Module):
    """Base class of the losskit Modules.

    Subclasses set ``family`` (one of the catalog's families) and ``functional`` (the function their
    ``forward`` calls), store their options in ``__init__`` and keep ``forward`` to one call.
    """

    family: ClassVar[str] = ""
    functional: ClassVar[object] = None
    reductions: ClassVar[tuple[str, ...]] = V.REDUCTIONS

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = V.check_reduction(type(self).__name__, reduction, self.reductions)

    if TYPE_CHECKING:
        # nn.Module finds the buffers that _buffer registers in __getattr__, typed Tensor | Module by torch; a
        # subclass declares its own (``weight: Tensor | None``) for precise types, the rest are Any
        def __getattr__(self, name: str) -> Any: ...

    def _buffer(self, name: str, value: Tensor | None) -> None:
        """Register an optional tensor option as a buffer (moves with ``.to()``, saved in ``state_dict``)."""
        if value is not None:
            V.check_tensor(type(self).__name__, name, value)
        self.register_buffer(name, value)

    _repr_skip: ClassVar[frozenset[str]] = frozenset()
    """Constructor arguments that are not options of the loss (``device``, ``dtype``, the initial value of a
    Parameter): :meth:`extra_repr` leaves them out."""

    def _option_value(self, name: str) -> object:
        """The current value of the constructor option ``name``: the attribute or buffer of that name (a
        subclass that stores an option elsewhere overrides this)."""
        return getattr(self, name)

    def _call(self, *tensors: Tensor | None, **per_call: object) -> Tensor:
        """``functional(*tensors, <every constructor option by name>, **per_call)``: the one-call ``forward`` of a
        Module whose options are the functional's keyword arguments under the same names (the per-call arguments,
        e.g. ``indices``, come from ``forward``)."""
        skip = self._repr_skip
        options = {name: self._option_value(name) for name, _ in _options(type(self)) if name not in skip}
        return type(self).functional(*tensors, **options, **per_call)  # type: ignore[operator]

    def extra_repr(self) -> str:
        """Every constructor option whose value differs from its default (and every option without a default),
        in signature order, tensors by shape: ``DiceLoss(class_weights=(3,), mode='multiclass', smooth=1.0)``;
        a Module at its defaults prints as ``MSELoss()``, as torch's losses do."""
        parts = []
        for name, default in _options(type(self)):
            if name in self._repr_skip:
                continue
            try:
                value = self._option_value(name)
            except AttributeError:  # a subclass that does not store this argument under its name
                continue
            if default is not inspect.Parameter.empty and _same(value, default):
                continue
            parts.append(f"{name}={_show(value)}")
        return ", ".join(parts)

    @classmethod
    def summary(cls) -> str:
        """The first line of the class docstring."""
        first = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        return re.split(r";\s*see\b", first)[0].rstrip(". ") + "."


_OPTIONS: dict[type, tuple[tuple[str, object], ...]] = {}


def _options(cls: type) -> tuple[tuple[str, object], ...]:
    """``(name, default)`` of each named argument of ``cls.__init__`` (``Parameter.empty`` when required), and
    of its parents' ``__init__`` as long as each forwards ``**kwargs`` to the next. Cached per class."""
    cached = _OPTIONS.get(cls)
    if cached is not None:
        return cached
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    found: dict[str, object] = {}
    for owner in cls.__mro__:
        init = vars(owner).get("__init__")
        if init is None:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]  # not self
        for p in params:
            if p.kind in kinds:
                found.setdefault(p.name, p.default)
        if owner is Loss or not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    _OPTIONS[cls] = tuple(found.items())
    return _OPTIONS[cls]


def _same(value: object, default: object) -> bool:
    """Whether an option still has its default value (a tensor never does: tensor defaults are None)."""
    if value is default:
        return True
    if isinstance(value, Tensor) or isinstance(default, Tensor) or (value is None) != (default is None):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError, RuntimeError):
        return False


def _show(value: object) -> str:
    """An option as ``extra_repr`` prints it: tensors by shape, functions by name, the rest by ``repr``."""
    if isinstance(value, Tensor):
        return str(tuple(value.shape))
    if isinstance(value, nn.Module):
        return type(value).__name__
    if callable(value):
        name = getattr(value, "__name__", None)
        return name if isinstance(name, str) else type(value).__name__
    return repr(value)
