"""Collects ``ENTRIES`` from every family file of the test database."""

from __future__ import annotations

import importlib
import pkgutil

from tests.loss_db import LossEntry


def _collect() -> list[LossEntry]:
    entries: list[LossEntry] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        entries.extend(importlib.import_module(f"{__name__}.{info.name}").ENTRIES)
    return entries


ENTRIES: list[LossEntry] = _collect()
