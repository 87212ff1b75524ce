"""Where a ``compare`` result came from: package versions, the command line or Python call, the date and time (UTC),
the machine, the data set and the runs. ``results.json`` keeps it under ``"provenance"`` and ``report.html`` shows it
in its header, so a shared report says how to reproduce it."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import inspect
import os
import platform
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np

__all__ = ["PACKAGES", "command_line", "current", "describe_call", "finish", "package_versions", "start"]

PACKAGES = ("losskit", "torch", "numpy", "scikit-learn", "matplotlib")
"""The packages whose versions the provenance records (``None`` when one is not installed)."""

_SKIPPED = ("log", "progress")
"""Arguments of ``compare`` that change what is printed, not what is computed: left out of the call."""

_CURRENT: ContextVar[dict[str, Any] | None] = ContextVar("losskit_lab_provenance", default=None)


def package_versions() -> dict[str, str | None]:
    """``{package: version}`` for :data:`PACKAGES` and Python, as installed (``None``: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    if out["losskit"] is None:  # a source checkout that is not installed
        from .. import __version__

        out["losskit"] = __version__
    return out


def command_line(argv: Sequence[str] | None = None) -> str:
    """``argv`` (default ``sys.argv``) as one shell-quoted line, with the script path of ``python -m losskit`` or of
    the ``losskit`` entry point shortened to that name."""
    args = list(sys.argv if argv is None else argv)
    if not args:
        return ""
    first = args[0].replace("\\", "/")
    if first.endswith("losskit/__main__.py"):
        head = ["python", "-m", "losskit"]
    elif os.path.basename(first) == "losskit":
        head = ["losskit"]
    elif first == "-c":  # python -c: the script itself is not in argv
        head = ["python", "-c", "..."]
    else:
        head = [first]
    return shlex.join([*head, *args[1:]])


def _shown(value: object) -> str:
    if callable(value) and not isinstance(value, type):
        return getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or type(value).__name__
    name = getattr(value, "name", None)
    if name is not None and not isinstance(value, (str, bytes, int, float, tuple, list, dict)):
        return f"<{type(value).__name__} {name!r}>"
    return repr(value)


def describe_call(function: Callable[..., Any], arguments: Mapping[str, Any]) -> str:
    """``function(arg, key=value, ...)`` with the arguments that differ from ``function``'s defaults (those of
    :data:`_SKIPPED` left out); callables by name, data sets by type and name."""
    sig = inspect.signature(inspect.unwrap(function))
    parts = []
    for k, (name, param) in enumerate(sig.parameters.items()):
        if name not in arguments or name in _SKIPPED:
            continue
        value = arguments[name]
        if param.default is not inspect.Parameter.empty and _same(value, param.default):
            continue
        positional = k == 0 and param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        parts.append(_shown(value) if positional else f"{name}={_shown(value)}")
    return f"{getattr(function, '__name__', 'compare')}({', '.join(parts)})"


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and other values without a plain truth value
        return False


def start(function: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The part known when ``compare`` starts: versions, command line, Python call, UTC time and machine; also
    kept as :func:`current` for outputs written by a path that does not carry it."""
    import torch

    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    origin = {
        "versions": package_versions(),
        "command": command_line(),
        "argv": list(sys.argv),
        "call": describe_call(function, arguments),
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "cpu_count": os.cpu_count(),
            "cpus_usable": usable,
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }
    _CURRENT.set(origin)
    return origin


def current() -> dict[str, Any] | None:
    """What the latest :func:`start` in this context returned (``None`` before any)."""
    return _CURRENT.get()


def finish(origin: Mapping[str, Any], *, dataset: str, task: str, rows: int, features: int,
           class_names: Sequence[str] | None, splits: Sequence[Any], split_seed: int, custom_model: bool,
           processes: int, runs: int | None = None) -> dict[str, Any]:
    """``origin`` (:func:`start`) with the data set, its split sizes and the runs (run ``r``: split
    ``split_seed + r``, seed ``r``; ``runs`` default one per split), and the threads training used."""
    runs = len(splits) if runs is None else runs
    sizes = [(len(p.y_train), len(p.y_val), len(p.y_test)) for p in splits]
    mean = np.asarray(sizes, dtype=np.float64).mean(0) if sizes else np.zeros(3)
    machine = {**origin["machine"], "training_threads": origin["machine"]["torch_threads"] if custom_model else 1,
               "processes": processes}
    return {
        **origin,
        "machine": machine,
        "data": {
            "name": dataset, "task": task, "rows": rows, "features": features,
            "classes": len(class_names) if class_names is not None else None,
            "train_rows": round(float(mean[0]), 1), "validation_rows": round(float(mean[1]), 1),
            "test_rows": round(float(mean[2]), 1),
            "split_sizes": [list(s) for s in sizes],
        },
        "runs": runs,
        "splits": [split_seed + r for r in range(runs)],
        "seeds": list(range(runs)),
    }
