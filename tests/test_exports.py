"""The public names are static: literal, sorted ``__all__`` lists bound by explicit imports (what type checkers
read), in step with the catalog and with each family file's own ``__all__``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import losskit as lk
import losskit.functional as LF
import losskit.modules as M
from losskit.modules._base import Loss

SRC = Path(lk.__file__).parent
FAMILIES = [
    "imaging", "robust",
    "augmentation", "longtail",
    "classification", "detection", "distillation", "distribution", "embedding", "imbalance", "margin", "metric",
    "ordinal", "regression", "segmentation", "sequence",
    "preference",
    "ranking",
]
PACKAGES = {"losskit": "__init__.py", "losskit.modules": "modules/__init__.py",
            "losskit.functional": "functional/__init__.py"}


def _static_all(relpath: str) -> tuple[list[str], set[str]]:
    """The literal ``__all__`` of a file and the names its top level binds by explicit imports or definitions."""
    tree = ast.parse((SRC / relpath).read_text())
    literal: list[str] | None = None
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            assert all(a.name != "*" for a in node.names), f"{relpath}: star import from {node.module}"
            bound.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            assert isinstance(node.value, ast.List), f"{relpath}: __all__ must be a list literal"
            literal = [ast.literal_eval(e) for e in node.value.elts]
    assert literal is not None, f"{relpath}: no __all__"
    return literal, bound


@pytest.mark.parametrize("package", list(PACKAGES))
def test_all_is_a_sorted_literal_of_explicitly_imported_names(package):
    literal, bound = _static_all(PACKAGES[package])
    assert literal == sorted(literal)
    assert len(set(literal)) == len(literal)
    assert set(literal) - bound == set(), "names in __all__ that no explicit import binds"
    assert literal == importlib.import_module(package).__all__


def test_exported_losses_are_the_catalog():
    rows = lk.list_losses()
    modules = {name for name in lk.__all__ if isinstance(getattr(lk, name), type)
               and issubclass(getattr(lk, name), Loss) and getattr(lk, name).family}
    assert modules == {row.name for row in rows} == set(M.__all__)
    assert LF.__all__ == sorted(row.functional for row in rows)
    for row in rows:
        assert getattr(lk, row.name).functional is getattr(LF, row.functional)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_export_reaches_the_package(family):
    """A loss added to a family file but not to the package's literal lists fails here, by name."""
    for package in ("losskit.modules", "losskit.functional"):
        names = set(importlib.import_module(f"{package}.{family}").__all__)
        assert names - set(importlib.import_module(package).__all__) == set(), package
    assert set(importlib.import_module(f"losskit.modules.{family}").__all__) <= set(lk.__all__)
