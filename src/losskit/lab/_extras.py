"""Lazy imports of the lab's optional dependencies (``pip install 'losskit[lab]'``)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .._validation import LossValueError

__all__ = ["LabError", "MissingExtraError", "figure", "require"]


class LabError(LossValueError):
    """Bad input to the lab (data, options, output folder): the CLI prints it and exits with code 2."""

    user_facing = True


class MissingExtraError(LabError, ImportError):
    """An optional dependency of the lab is not installed."""


_PACKAGES = {"matplotlib": "matplotlib", "sklearn": "scikit-learn", "tqdm": "tqdm"}


def require(module: str, *, what: str = "the lab") -> ModuleType:
    """Import ``module`` (one of the ``losskit[lab]`` extras) or raise :class:`MissingExtraError`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtraError(
            f"{what}: the package {_PACKAGES.get(top, top)} must be installed, but got an environment without it; "
            "pip install 'losskit[lab]'"
        ) from None


def figure(**kwargs: Any) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no display and no global pyplot state are touched."""
    mfig = require("matplotlib.figure", what="plots")
    return mfig.Figure(**kwargs)
