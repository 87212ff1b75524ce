"""The lab's data: bundled scikit-learn data sets, any CSV, the stratified split and the stress options.

* :func:`load_builtin` reads ``digits``, ``breast_cancer``, ``wine``, ``iris`` or ``diabetes`` from scikit-learn
  (files inside the package: no download).
* :func:`load_csv` reads a CSV with a header row with the standard library: numeric columns as they are,
  categorical ones one-hot encoded, missing values imputed (median / most frequent), identifier-like and constant
  columns dropped, each with a notice; a mostly numeric column with stray text is an error.
* :func:`prepare` splits rows into train/validation/test (stratified for classification, 60/20/20), applies the
  stress options to the train and validation rows only (the test split stays clean), and standardises the
  features (and, for regression, the target by its median and MAD) on the training rows.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._extras import LabError, require

__all__ = ["BUILTIN", "IMAGE_DEMOS", "Dataset", "Prepared", "digits_images", "load_builtin", "load_csv",
           "load_csv_multilabel", "load_data", "prepare", "torch_splits"]

BUILTIN = ("digits", "breast_cancer", "wine", "iris", "diabetes")
IMAGE_DEMOS = ("digits-images", "shapes")
"""Bundled demos of the Dataset path (:mod:`losskit.lab.byo`): ``digits-images``, :func:`digits_images`;
``shapes`` (segmentation), :func:`losskit.lab.data_shapes.shapes_data`."""
_MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "missing"}
MIN_PER_CLASS = 3
"""A stratified train/validation/test split needs every class in every part."""
MIN_ROWS_REGRESSION = 10
MAX_CATEGORIES = 200
"""A text feature column with more distinct values is dropped (one-hot encoding would add that many columns)."""
MAX_TARGET_CLASSES = 10_000
"""A text target with more distinct values is refused (an identifier, not classes)."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
_CHUNK_ROWS = 16_384
TARGET_TRANSFORMS = (None, "log")
"""``--target-transform``: ``"log"`` trains regression losses on ``log1p(target)`` (targets >= 0)."""


@dataclass
class Dataset:
    """A table ready for the lab: float features and one target."""

    name: str
    X: np.ndarray
    """``(rows, features)`` float32."""
    y: np.ndarray
    """Class indices ``0..C-1`` (int64) for classification, float64 values for regression."""
    task: str
    """``"binary"``, ``"multiclass"`` or ``"regression"``."""
    feature_names: list[str]
    target_name: str
    class_names: list[str] | None = None
    notices: list[str] = field(default_factory=list)
    onehot: list[tuple[int, int]] = field(default_factory=list)
    """``[start, stop)`` of each one-hot encoded categorical column in ``X``; the other columns are numeric.
    Missing values are NaN (in every column of a one-hot block), imputed by :func:`prepare`."""

    @property
    def num_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def num_classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)


def load_builtin(name: str, *, where: str = "compare") -> Dataset:
    """One of :data:`BUILTIN`, from the files bundled with scikit-learn."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in BUILTIN:
        close = difflib.get_close_matches(key, BUILTIN, n=2)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else "use --csv FILE --target COLUMN for others"
        raise LabError(f"{where}: dataset must be one of {', '.join(BUILTIN)}, but got {name!r}; {hint}")
    datasets = require("sklearn.datasets")
    bunch = getattr(datasets, f"load_{key}")()
    X = np.asarray(bunch.data, dtype=np.float32)
    names = [str(f) for f in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    if key == "diabetes":
        return Dataset(key, X, np.asarray(bunch.target, dtype=np.float64), "regression", names, "disease_progression")
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = [str(c) for c in getattr(bunch, "target_names", range(int(y.max()) + 1))]
    task = "binary" if len(classes) == 2 else "multiclass"
    return Dataset(key, X, y, task, names, "target", classes)


def _is_missing(v: str) -> bool:
    return v.strip().lower() in _MISSING


def _to_float(v: str) -> float | None:
    try:
        f = float(v.strip())
    except ValueError:
        return None
    return f if np.isfinite(f) else None


class _Column:
    """What the first pass learns about one column, in bounded memory (at most ``cap`` distinct values kept)."""

    __slots__ = ("bad", "cap", "first", "first_bad", "levels", "many", "missing", "name", "present", "too_big",
                 "varies")

    def __init__(self, name: str, cap: int) -> None:
        self.name, self.cap = name, cap
        self.present = self.missing = self.bad = 0
        self.first_bad: tuple[str, int] | None = None
        self.levels: dict[str, int] = {}
        self.many = False
        """More than ``cap`` distinct values (``levels`` stopped growing)."""
        self.first: float | None = None
        self.varies = False
        self.too_big: tuple[str, int] | None = None
        """The first value beyond float32's range, and its line."""

    def add(self, raw: str, line: int) -> None:
        v = raw.strip()
        if v.lower() in _MISSING:
            self.missing += 1
            return
        self.present += 1
        if not self.many:
            if v in self.levels:
                self.levels[v] += 1
            elif len(self.levels) < self.cap:
                self.levels[v] = 1
            else:
                self.many = True
        f = _to_float(v)
        if f is None:
            self.bad += 1
            if self.first_bad is None:
                self.first_bad = (v, line)
            return
        if self.first is None:
            self.first = f
        elif f != self.first:
            self.varies = True
        if abs(f) > FLOAT32_MAX and self.too_big is None:
            self.too_big = (v, line)


def _rows(fh: Any, dialect: Any) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of a CSV with the line on which each ends."""
    reader = csv.reader(fh, dialect)
    for r in reader:
        if any(c.strip() for c in r):
            yield reader.line_num, r


def _open_csv(p: str, where: str) -> tuple[Any, Any]:
    fh = open(p, newline="", encoding="utf-8-sig")  # closed by the caller
    try:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
    except UnicodeDecodeError:
        fh.close()
        raise LabError(f"{where}: csv must be UTF-8 text, but got undecodable bytes in {p!r}; "
                       "export the table as a UTF-8 CSV") from None
    return fh, dialect


def _csv_errors(p: str, where: str) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def translate() -> Iterator[None]:
        try:
            yield
        except UnicodeDecodeError:
            raise LabError(f"{where}: csv must be UTF-8 text, but got undecodable bytes in {p!r}; "
                           "export the table as a UTF-8 CSV") from None
        except csv.Error as err:
            raise LabError(f"{where}: csv must be a valid CSV file, but got {err} in {p!r}; check the file") from None

    return translate()


def load_csv(path: str | os.PathLike, target: str | None = None, *, task: str | None = None,
             where: str = "compare") -> Dataset:
    """Read a CSV with a header row; ``target`` names the target column (default: the last one).

    Two passes over the file in bounded memory: the first learns each column's kind (numeric, categorical with at
    most :data:`MAX_CATEGORIES` values, or dropped) and checks every value, the second fills a preallocated
    float32 feature matrix chunk by chunk. Peak memory is about the size of that matrix plus a chunk of rows, not
    a multiple of the file (measured in the README). Missing feature values stay NaN here: :func:`prepare` imputes
    them with statistics of the training rows only (median, or the most frequent category).

    Raises:
        LabError: a missing or unreadable file, no data rows, an unknown target column (with close matches),
            ragged rows, a target with one class, stray text in a numeric column, a value beyond float32's range
            (named by column and line), or no usable feature.
    """
    p = str(path)
    if not os.path.isfile(p):
        raise LabError(f"{where}: csv must be an existing file, but got {p!r} (no such file); check the path")
    base = os.path.basename(p)
    # ---- pass 1: the header, each column's kind, every check
    fh, dialect = _open_csv(p, where)
    with fh, _csv_errors(p, where):
        rows = _rows(fh, dialect)
        first = next(rows, None)
        header = [h.strip() for h in first[1]] if first is not None else []
        if target is None and header:
            target = header[-1]
        if target is not None and target not in header and header:
            close = difflib.get_close_matches(target, header, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"columns are {', '.join(header)}"
            raise LabError(f"{where}: target must be a column of {base!r}, but got {target!r}; {hint}")
        ti = header.index(target) if header and target is not None else 0
        cols = [_Column(h, MAX_TARGET_CLASSES if j == ti else MAX_CATEGORIES) for j, h in enumerate(header)]
        total = kept = 0
        for line, r in rows:
            total += 1
            if len(r) != len(header):
                raise LabError(f"{where}: every csv row must have {len(header)} fields like the header, but got "
                               f"{len(r)} on line {line} of {p!r}; fix the quoting or the separators of that line")
            if _is_missing(r[ti]):
                continue
            kept += 1
            for c, v in zip(cols, r):
                c.add(v, line)
    if total == 0:
        raise LabError(f"{where}: csv must have a header row and data rows, but got {1 if header else 0} row(s) in "
                       f"{p!r}; check the file")
    notices: list[str] = []
    if kept < total:
        notices.append(f"dropped {total - kept} row(s) whose target {target!r} is missing")
    if kept == 0:
        raise LabError(f"{where}: target column {target!r} must have values, but got none; check the column")

    # ---- the target's kind
    tc = cols[ti]
    class_names: list[str] | None = None
    numeric_target = tc.bad == 0
    if not numeric_target:
        if task == "regression":
            raise LabError(f"{where}: a regression target must be numeric, but got {tc.first_bad[0]!r} in "  # type: ignore[index]
                           f"{target!r}; fix the column or drop --task regression")
        if tc.many or (len(tc.levels) > 0.5 * kept and kept > 20):
            shown = f"more than {MAX_TARGET_CLASSES}" if tc.many else str(len(tc.levels))
            raise LabError(f"{where}: a class target must repeat its labels, but got {shown} distinct text values in "
                           f"{kept} rows of {target!r}; is it an identifier column?")
        class_names = sorted(tc.levels)

    # ---- the features' kinds
    plan: list[tuple[int, str, list[str]]] = []  # (column, "num" | "cat", levels)
    names: list[str] = []
    onehot: list[tuple[int, int]] = []
    width = 0
    for j, c in enumerate(cols):
        if j == ti:
            continue
        col = c.name
        if not c.present:
            notices.append(f"dropped column {col!r}: every value is missing")
            continue
        if not c.bad:
            if c.too_big is not None:
                raise LabError(f"{where}: column {col!r} must fit in float32 (|x| <= {FLOAT32_MAX:.4g}), but got "
                               f"{c.too_big[0]} on line {c.too_big[1]}; rescale the column (e.g. to other units or "
                               "log10) or drop it")
            if not c.varies:
                notices.append(f"dropped column {col!r}: constant")
                continue
            if c.missing:
                notices.append(f"imputed {c.missing} missing value(s) of numeric column {col!r} with its median on "
                               "the training rows")
            plan.append((j, "num", []))
            names.append(col)
            width += 1
            continue
        if c.bad <= 0.1 * c.present:
            v, line = c.first_bad  # type: ignore[misc]
            raise LabError(
                f"{where}: column {col!r} must be numeric like {c.present - c.bad} of its {c.present} "
                f"values, but got the text {v!r} on line {line}; fix or blank those cells (blanks are imputed)"
            )
        if c.many:
            notices.append(f"dropped column {col!r}: text with more than {MAX_CATEGORIES} distinct values (too many "
                           "to one-hot encode)")
            continue
        levels = sorted(c.levels)
        if len(levels) > 0.5 * c.present and c.present >= 20:
            notices.append(f"dropped column {col!r}: text with {len(levels)} distinct values (an identifier or free "
                           "text, not a category)")
            continue
        if len(levels) < 2:
            notices.append(f"dropped column {col!r}: constant")
            continue
        if c.missing:
            notices.append(f"imputed {c.missing} missing value(s) of categorical column {col!r} with its most "
                           "frequent value on the training rows")
        plan.append((j, "cat", levels))
        names += [f"{col}={lv}" for lv in levels]
        onehot.append((width, width + len(levels)))
        width += len(levels)
        notices.append(f"one-hot encoded categorical column {col!r} ({len(levels)} values)")
    if not plan:
        raise LabError(f"{where}: csv must have at least one usable feature column besides the target {target!r}, "
                       f"but got none in {p!r}; check the file")

    # ---- pass 2: fill the preallocated arrays, a chunk of rows at a time
    X = np.zeros((kept, width), dtype=np.float32)
    # the target's values: numbers, or class indices (the other array stays empty)
    y_num = np.empty(kept if numeric_target else 0, dtype=np.float64)
    y_cls = np.empty(0 if numeric_target else kept, dtype=np.int64)
    class_index = {lv: k for k, lv in enumerate(class_names or [])}
    starts = [0]
    for _, kind, levels in plan:
        starts.append(starts[-1] + (1 if kind == "num" else len(levels)))
    fh, dialect = _open_csv(p, where)
    with fh, _csv_errors(p, where):
        rows = _rows(fh, dialect)
        next(rows, None)
        i = 0
        chunk: list[list[str]] = []

        def flush() -> None:
            nonlocal i
            n = len(chunk)
            tvals = [r[ti].strip() for r in chunk]
            if numeric_target:
                y_num[i : i + n] = [float(v) for v in tvals]
            else:
                y_cls[i : i + n] = [class_index[v] for v in tvals]
            for (j, kind, levels), s in zip(plan, starts):
                vals = [r[j] for r in chunk]
                if kind == "num":
                    X[i : i + n, s] = [math.nan if _is_missing(v) else float(v) for v in vals]
                    continue
                index = {lv: k for k, lv in enumerate(levels)}
                codes = np.asarray([index.get(v.strip(), -1) for v in vals], dtype=np.int64)
                block = X[i : i + n, s : s + len(levels)]
                hit = codes >= 0
                block[np.flatnonzero(hit), codes[hit]] = 1.0
                block[~hit] = np.nan  # missing: imputed in prepare from the training rows
            i += n
            chunk.clear()

        for _, r in rows:
            if _is_missing(r[ti]):
                continue
            chunk.append(r)
            if len(chunk) == _CHUNK_ROWS:
                flush()
        if chunk:
            flush()

    # ---- the target's task
    y: np.ndarray
    if numeric_target:
        from ..advisor import _infer_task

        inferred = task or _infer_task(y_num, [])
        if inferred == "regression":
            y = y_num
        else:
            uniq, y = np.unique(y_num, return_inverse=True)
            class_names = [f"{u:g}" for u in uniq]
    else:
        y = y_cls
    if class_names is not None:
        if len(class_names) < 2:
            raise LabError(f"{where}: target {target!r} must hold at least two classes, but got one "
                           f"({class_names[0]!r}) in {kept} rows; "
                           "a classifier cannot learn from one class: pick another column")
        task_name = "binary" if len(class_names) == 2 else "multiclass"
        y = np.asarray(y, dtype=np.int64).reshape(-1)
    else:
        task_name = "regression"
        if float(np.std(y)) == 0.0:
            raise LabError(f"{where}: regression target {target!r} must vary, but got the constant {y[0]:g}; "
                           "pick another column")
    name = os.path.splitext(base)[0]
    return Dataset(name, X, y, task_name, names, target, class_names, notices, onehot)  # type: ignore[arg-type]


def load_csv_multilabel(path: str | os.PathLike, targets: list[str], *, where: str = "compare") -> Dataset:
    """A CSV whose target is several 0/1 label columns (``--target a,b,c``): a multi-label task. The features are
    read as :func:`load_csv` reads them (the other label columns left out); every label value must be 0 or 1.

    Raises:
        LabError: fewer than two or repeated label columns, a label column that is not in the header, a blank or a
            value other than 0/1 in one (named by column and line), and :func:`load_csv`'s errors.
    """
    p = str(path)
    if len(targets) < 2 or len(set(targets)) != len(targets):
        raise LabError(f"{where}: a multi-label target must name two or more distinct columns, but got "
                       f"{','.join(targets)!r}; pass e.g. --target a,b,c (one column: --target a)")
    base = load_csv(p, targets[0], where=where)
    fh, dialect = _open_csv(p, where)
    with fh, _csv_errors(p, where):
        rows = _rows(fh, dialect)
        header = [h.strip() for h in next(rows)[1]]
        missing = [t for t in targets if t not in header]
        if missing:
            close = difflib.get_close_matches(missing[0], header, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"columns are {', '.join(header)}"
            raise LabError(f"{where}: target must be columns of {os.path.basename(p)!r}, but got {missing[0]!r}; "
                           f"{hint}")
        index = [header.index(t) for t in targets]
        labels: list[list[int]] = []
        for line, r in rows:
            row = []
            for t, j in zip(targets, index):
                v = r[j].strip()
                if v not in ("0", "1", "0.0", "1.0"):
                    raise LabError(f"{where}: multi-label column {t!r} must hold 0 or 1, but got {v!r} on line "
                                   f"{line}; encode each label as 0/1 and fill blanks")
                row.append(int(float(v)))
            labels.append(row)
    y = np.asarray(labels, dtype=np.int64)
    # the other label columns were read as features: leave them out (a numeric column, or a one-hot block)
    others = set(targets[1:])
    in_block = {k: start for start, stop in base.onehot for k in range(start, stop)}
    keep = [k for k, n in enumerate(base.feature_names)
            if (base.feature_names[in_block[k]].split("=", 1)[0] if k in in_block else n) not in others]
    remap = {old: new for new, old in enumerate(keep)}
    onehot = [(remap[a], remap[b - 1] + 1) for a, b in base.onehot if a in remap]
    notices = [n for n in base.notices if not any(f"column {o!r}" in n for o in others)]
    if not keep:
        raise LabError(f"{where}: csv must have at least one feature column besides the labels {','.join(targets)!r}, "
                       f"but got none in {p!r}; check the file")
    notices.append(f"multi-label target: {len(targets)} 0/1 columns ({', '.join(targets)}), positives per label "
                   f"{y.sum(0).tolist()} of {len(y)} rows")
    return Dataset(base.name, base.X[:, keep], y, "multilabel", [base.feature_names[k] for k in keep],
                   ",".join(targets), list(targets), notices, onehot)


def torch_splits(data: Dataset) -> Any:
    """``split -> (train, val, test)``: the table's split of seed ``split`` (:func:`prepare`) as
    ``TensorDataset`` objects of standardised features and targets, for the Dataset path of ``compare`` (a CSV with
    a multi-label target trains there)."""
    import torch
    from torch.utils.data import TensorDataset

    def make(split: int) -> tuple[Any, Any, Any]:
        p = prepare(data, seed=split)
        return tuple(TensorDataset(torch.as_tensor(x), torch.as_tensor(y))  # type: ignore[return-value]
                     for x, y in ((p.X_train, p.y_train), (p.X_val, p.y_val), (p.X_test, p.y_test)))

    return make


def load_data(dataset: str | None = None, csv_path: str | None = None, target: str | None = None, *,
              task: str | None = None, where: str = "compare") -> Dataset:
    """:func:`load_builtin` or :func:`load_csv`, as the CLI's ``--dataset`` / ``--csv``."""
    if (dataset is None) == (csv_path is None):
        raise LabError(f"{where}: exactly one data source must be given, but got dataset={dataset!r} and "
                       f"csv={csv_path!r}; pass --dataset NAME or --csv FILE --target COLUMN")
    if dataset is not None:
        return load_builtin(dataset, where=where)
    if target is not None and "," in target:
        return load_csv_multilabel(csv_path, [t.strip() for t in target.split(",") if t.strip()],  # type: ignore[arg-type]
                                   where=where)
    return load_csv(csv_path, target, task=task, where=where)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# split and stress
# --------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """The three splits, standardised; regression targets scaled by the training median and MAD."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    num_classes: int | None
    y_center: float = 0.0
    y_scale: float = 1.0
    """Regression: the loss sees ``(y - y_center) / y_scale``; metrics are in the original units."""
    notices: list[str] = field(default_factory=list)
    train_counts: list[int] | None = None
    y_transform: str | None = None
    """Regression: ``"log"`` when the loss sees ``(log1p(y) - y_center) / y_scale`` (``--target-transform log``)."""

    def to_original(self, z: np.ndarray) -> np.ndarray:
        """Regression outputs (what the loss saw) back in the target's units, float64."""
        v = np.asarray(z, dtype=np.float64) * self.y_scale + self.y_center
        if self.y_transform == "log":
            v = np.expm1(np.minimum(v, np.log(np.finfo(np.float64).max)))
        return v


def _split_indices(data: Dataset, rng: np.random.Generator, where: str) -> tuple[np.ndarray, ...]:
    fractions = (0.6, 0.2)
    if data.task in ("regression", "multilabel"):  # multi-label rows: a random split (no single class to stratify)
        if data.num_rows < MIN_ROWS_REGRESSION:
            raise LabError(f"{where}: a train/validation/test split needs at least {MIN_ROWS_REGRESSION} rows, but "
                           f"got {data.num_rows}; use a larger data set")
        order = rng.permutation(data.num_rows)
        a, b = round(fractions[0] * data.num_rows), round(sum(fractions) * data.num_rows)
        return order[:a], order[a:b], order[b:]
    parts: list[list[np.ndarray]] = [[], [], []]
    counts = np.bincount(data.y, minlength=data.num_classes or 0)
    for c, count in enumerate(counts):
        if count < MIN_PER_CLASS:
            label = data.class_names[c] if data.class_names else str(c)
            raise LabError(
                f"{where}: every class must have at least {MIN_PER_CLASS} rows for a stratified train/validation/test "
                f"split, but got {count} for class {label!r}; collect more rows or merge that class"
            )
        idx = rng.permutation(np.flatnonzero(data.y == c))
        n_tr = max(1, round(fractions[0] * count))
        n_va = max(1, round(fractions[1] * count))
        n_tr = min(n_tr, count - 2)
        parts[0].append(idx[:n_tr])
        parts[1].append(idx[n_tr : n_tr + n_va])
        parts[2].append(idx[n_tr + n_va :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def digits_images(split: int = 0) -> tuple[Any, Any, Any]:
    """scikit-learn's 8x8 digits as ``(1, 8, 8)`` float images (pixels 0..16 scaled to 0..1) with their class
    index: the stratified 60/20/20 train/validation/test split of seed ``split`` (as :func:`prepare`), each a
    ``torch.utils.data.TensorDataset`` of ``(image, label)`` pairs."""
    import torch
    from torch.utils.data import TensorDataset

    data = load_builtin("digits")
    parts = _split_indices(data, np.random.default_rng(split), "digits-images")
    images = torch.as_tensor(data.X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    labels = torch.as_tensor(data.y, dtype=torch.long)
    train, val, test = (TensorDataset(images[idx], labels[idx]) for idx in parts)
    return train, val, test


def _impute_and_scale(data: Dataset, tr: np.ndarray, va: np.ndarray, te: np.ndarray,
                      notices: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three feature splits with missing values imputed and the columns standardised, every statistic from
    the training rows only (median of a numeric column, most frequent level of a one-hot block, mean and
    standard deviation in float64); float32."""
    parts = [data.X[tr], data.X[va], data.X[te]]  # copies: data.X stays as loaded
    train = parts[0]
    missing = np.zeros(train.shape[1], dtype=bool)
    for a in parts:
        missing |= np.isnan(a).any(0)
    filled: list[str] = []
    in_block = np.zeros(train.shape[1], dtype=bool)
    for start, stop in data.onehot:
        in_block[start:stop] = True
        if not missing[start]:
            continue
        mode = int(np.argmax(np.nansum(train[:, start:stop], 0)))
        for a in parts:
            rows = np.isnan(a[:, start])
            a[rows, start:stop] = 0.0
            a[rows, start + mode] = 1.0
        col, level = data.feature_names[start + mode].split("=", 1)
        filled.append(f"{col!r} by its most frequent value {level!r}")
    for k in np.flatnonzero(missing & ~in_block):
        present = train[:, k][~np.isnan(train[:, k])]
        med = float(np.median(present)) if present.size else 0.0
        for a in parts:
            a[np.isnan(a[:, k]), k] = med
        filled.append(f"{data.feature_names[k]!r} by its median {med:g}"
                      + ("" if present.size else " (no training value: 0)"))
    if filled:
        notices.append(f"missing feature values imputed with statistics of the {len(tr)} training rows only: "
                       + ", ".join(filled))
    mean = train.mean(0, dtype=np.float64)
    std = train.std(0, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    return tuple(((a - mean) / std).astype(np.float32) for a in parts)


def _log_target(y_tr: np.ndarray, y_va: np.ndarray, data: Dataset, outliers: float, notices: list[str],
                where: str) -> tuple[np.ndarray, np.ndarray]:
    """``log1p`` of the training and validation targets (``--target-transform log``)."""
    low = float(min(np.min(y_tr), np.min(y_va)))
    if float(np.min(data.y)) < 0 or low < 0:
        cause = (" after --outliers moved some of them below 0" if float(np.min(data.y)) >= 0 and outliers else "")
        raise LabError(f"{where}: target_transform 'log' needs targets >= 0, but got {low:g} in {data.target_name!r}"
                       f"{cause}; drop --target-transform or shift the target")
    notices.append("target transform log: the losses train on log1p(target); predictions are mapped back with "
                   "expm1, so every metric is in the target's units")
    return np.log1p(y_tr.astype(np.float64)), np.log1p(y_va.astype(np.float64))


def _imbalance(y: np.ndarray, ratio: float, ranks: np.ndarray, num_classes: int, rng: np.random.Generator,
               reference: np.ndarray) -> np.ndarray:
    """Indices of ``y`` kept so that class counts fall geometrically from the largest to ``ratio`` times it."""
    counts = np.bincount(reference, minlength=num_classes)
    keep: list[np.ndarray] = []
    top = counts.max()
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        share = ratio ** (ranks[c] / max(num_classes - 1, 1))
        wanted = round(float(top * share * len(idx) / max(counts[c], 1)))
        keep.append(rng.permutation(idx)[: max(1, min(len(idx), wanted))])
    return np.sort(np.concatenate(keep))


def prepare(
    data: Dataset,
    *,
    seed: int = 0,
    imbalance: float | None = None,
    label_noise: float = 0.0,
    outliers: float = 0.0,
    target_transform: str | None = None,
    where: str = "compare",
) -> Prepared:
    """Split, stress (train and validation only) and standardise; see the module docstring.

    ``imbalance`` ``R`` in ``(0, 1]`` keeps the class with the most rows whole and subsamples the others so that the
    counts fall geometrically, by rank of class size, to ``R`` times the largest; ``label_noise`` ``P`` gives that
    share of rows a different random class; ``outliers`` ``P`` moves that share of regression targets by 5 to 10
    standard deviations. ``target_transform="log"`` (regression, targets >= 0) has the losses see ``log1p`` of the
    target (then scaled as usual); :meth:`Prepared.to_original` maps predictions back, so metrics stay in the
    target's units. Missing feature values are imputed and the features standardised with statistics of the
    training rows only (:func:`_impute_and_scale`).
    """
    classification = data.task in ("binary", "multiclass")
    regression = data.task == "regression"
    if target_transform not in TARGET_TRANSFORMS:
        raise LabError(f"{where}: target_transform must be one of None, 'log', but got {target_transform!r}; pass "
                       "--target-transform log or leave it out")
    if target_transform is not None and not regression:
        raise LabError(f"{where}: target_transform applies to regression targets, but got a {data.task} task; drop "
                       "--target-transform")
    if imbalance is not None and not (classification and 0.0 < imbalance <= 1.0):
        raise LabError(f"{where}: imbalance must be a ratio in (0, 1] on a classification task, but got {imbalance!r}"
                       f" on a {data.task} task; pass e.g. --imbalance 0.05 with a classification data set")
    if label_noise and not (classification and 0.0 <= label_noise < 1.0):
        raise LabError(f"{where}: label_noise must be a share in [0, 1) on a classification task, but got "
                       f"{label_noise!r} on a {data.task} task; use --outliers for regression")
    if outliers and not (regression and 0.0 <= outliers < 1.0):
        raise LabError(f"{where}: outliers must be a share in [0, 1) on a regression task, but got {outliers!r} on a "
                       f"{data.task} task; use --label-noise or --imbalance for classification")
    rng = np.random.default_rng(seed)
    tr, va, te = _split_indices(data, rng, where)
    notices: list[str] = [f"split {len(tr)}/{len(va)}/{len(te)} rows (train/validation/test"
                          f"{', stratified by class' if classification else ''}, seed {seed})"]
    y = data.y
    y_tr, y_va = y[tr].copy(), y[va].copy()
    if classification and imbalance is not None and imbalance < 1.0:
        C = data.num_classes or 0
        counts = np.bincount(y, minlength=C)
        ranks = np.empty(C, dtype=np.int64)
        ranks[np.lexsort((np.arange(C), -counts))] = np.arange(C)
        k_tr = _imbalance(y_tr, imbalance, ranks, C, rng, y)
        k_va = _imbalance(y_va, imbalance, ranks, C, rng, y)
        tr, va, y_tr, y_va = tr[k_tr], va[k_va], y_tr[k_tr], y_va[k_va]
        new = np.bincount(y_tr, minlength=C)
        notices.append(f"imbalance {imbalance:g}: training class counts now {new.tolist()} (largest/smallest "
                       f"{new.max() / max(new.min(), 1):.3g}:1); validation subsampled alike; the test split keeps "
                       "its original class balance")
    if classification and label_noise > 0:
        C = data.num_classes or 2
        for part in (y_tr, y_va):
            flip = rng.random(len(part)) < label_noise
            part[flip] = (part[flip] + rng.integers(1, C, size=int(flip.sum()))) % C
        notices.append(f"label noise {label_noise:g}: about {label_noise:.0%} of the training and validation labels "
                       "changed to another class at random; test labels are clean")
    if regression and outliers > 0:
        y_tr, y_va = y_tr.astype(np.float64), y_va.astype(np.float64)
        sd = float(np.std(y[tr]))
        for part in (y_tr, y_va):
            hit = rng.random(len(part)) < outliers
            sign = rng.choice((-1.0, 1.0), size=int(hit.sum()))
            part[hit] += sign * rng.uniform(5.0, 10.0, size=int(hit.sum())) * sd
        notices.append(f"outliers {outliers:g}: about {outliers:.0%} of the training and validation targets moved by "
                       f"5-10 standard deviations ({sd:.4g}); test targets are clean")
    X_tr, X_va, X_te = _impute_and_scale(data, tr, va, te, notices)
    center, spread = 0.0, 1.0
    y_te = y[te]
    if regression and target_transform == "log":
        y_tr, y_va = _log_target(y_tr, y_va, data, outliers, notices, where)
    if regression:
        center = float(np.median(y_tr))
        spread = float(1.4826 * np.median(np.abs(y_tr - center))) or float(np.std(y_tr)) or 1.0
        notices.append(f"the losses see the target scaled by the training median {center:.4g} and robust sigma "
                       f"(1.4826 MAD) {spread:.4g}; metrics are in the original units")
        y_tr = ((y_tr - center) / spread).astype(np.float32)
        y_va = ((y_va - center) / spread).astype(np.float32)
        y_te = np.asarray(y_te, dtype=np.float64)
    counts_tr = np.bincount(y_tr, minlength=data.num_classes or 0).tolist() if classification else None
    return Prepared(
        X_tr, y_tr, X_va, y_va, X_te, y_te, data.task, data.num_classes,
        center, spread, notices, counts_tr, y_transform=target_transform if regression else None,
    )
