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

import csv
import difflib
import os
from dataclasses import dataclass, field

import numpy as np

from ._extras import LabError, require

__all__ = ["BUILTIN", "Dataset", "Prepared", "load_builtin", "load_csv", "load_data", "prepare"]

BUILTIN = ("digits", "breast_cancer", "wine", "iris", "diabetes")
_MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-", "--", "missing"}
MIN_PER_CLASS = 3
"""A stratified train/validation/test split needs every class in every part."""
MIN_ROWS_REGRESSION = 10


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


def load_csv(path: str | os.PathLike, target: str | None = None, *, task: str | None = None,
             where: str = "compare") -> Dataset:
    """Read a CSV with a header row; ``target`` names the target column (default: the last one).

    Raises:
        LabError: a missing or unreadable file, no data rows, an unknown target column (with close matches),
            ragged rows, a target with one class, stray text in a numeric column, or no usable feature.
    """
    p = str(path)
    if not os.path.isfile(p):
        raise LabError(f"{where}: csv must be an existing file, but got {p!r} (no such file); check the path")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            rows = [r for r in csv.reader(fh, dialect) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise LabError(f"{where}: csv must be UTF-8 text, but got undecodable bytes in {p!r}; "
                       "export the table as a UTF-8 CSV") from None
    except csv.Error as err:
        raise LabError(f"{where}: csv must be a valid CSV file, but got {err} in {p!r}; check the file") from None
    if len(rows) < 2:
        raise LabError(f"{where}: csv must have a header row and data rows, but got {len(rows)} row(s) in {p!r}; "
                       "check the file")
    header = [h.strip() for h in rows[0]]
    data = rows[1:]
    for i, r in enumerate(data, start=2):
        if len(r) != len(header):
            raise LabError(f"{where}: every csv row must have {len(header)} fields like the header, but got "
                           f"{len(r)} on line {i} of {p!r}; fix the quoting or the separators of that line")
    if target is None:
        target = header[-1]
    if target not in header:
        close = difflib.get_close_matches(target, header, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"columns are {', '.join(header)}"
        raise LabError(f"{where}: target must be a column of {os.path.basename(p)!r}, but got {target!r}; {hint}")
    notices: list[str] = []
    ti = header.index(target)
    keep = [r for r in data if not _is_missing(r[ti])]
    if len(keep) < len(data):
        notices.append(f"dropped {len(data) - len(keep)} row(s) whose target {target!r} is missing")
    data = keep
    if not data:
        raise LabError(f"{where}: target column {target!r} must have values, but got none; check the column")

    # the target
    raw = [r[ti].strip() for r in data]
    nums = [_to_float(v) for v in raw]
    class_names: list[str] | None
    if all(v is not None for v in nums):
        values = np.asarray(nums, dtype=np.float64)
        from ..advisor import _infer_task

        inferred = task or _infer_task(values, [])
        if inferred == "regression":
            y, class_names = values, None
        else:
            uniq, y = np.unique(values, return_inverse=True)
            class_names = [f"{u:g}" for u in uniq]
    else:
        bad = [v for v, f in zip(raw, nums) if f is None]
        if task == "regression":
            raise LabError(f"{where}: a regression target must be numeric, but got {bad[0]!r} in {target!r}; "
                           "fix the column or drop --task regression")
        uniq_s, y = np.unique(np.asarray(raw), return_inverse=True)
        class_names = [str(u) for u in uniq_s]
        inferred = task or ("binary" if len(class_names) == 2 else "multiclass")
        if len(class_names) > 0.5 * len(raw) and len(raw) > 20:
            raise LabError(f"{where}: a class target must repeat its labels, but got {len(class_names)} distinct "
                           f"text values in {len(raw)} rows of {target!r}; is it an identifier column?")
    if class_names is not None:
        if len(class_names) < 2:
            raise LabError(f"{where}: target {target!r} must hold at least two classes, but got one "
                           f"({class_names[0]!r}) in {len(raw)} rows; "
                           "a classifier cannot learn from one class: pick another column")
        task_name = "binary" if len(class_names) == 2 else "multiclass"
        y = np.asarray(y, dtype=np.int64)
    else:
        task_name = "regression"
        if float(np.std(y)) == 0.0:
            raise LabError(f"{where}: regression target {target!r} must vary, but got the constant {y[0]:g}; "
                           "pick another column")

    # the features
    columns: list[np.ndarray] = []
    names: list[str] = []
    n = len(data)
    for j, col in enumerate(header):
        if j == ti:
            continue
        vals = [r[j].strip() for r in data]
        missing = [_is_missing(v) for v in vals]
        present = [v for v, m in zip(vals, missing) if not m]
        if not present:
            notices.append(f"dropped column {col!r}: every value is missing")
            continue
        parsed = [_to_float(v) for v in present]
        bad = [v for v, f in zip(present, parsed) if f is None]
        if not bad:
            arr = np.asarray([_to_float(v) if not m else np.nan for v, m in zip(vals, missing)], dtype=np.float64)
            if any(missing):
                med = float(np.nanmedian(arr))
                arr = np.where(np.isnan(arr), med, arr)
                notices.append(f"imputed {sum(missing)} missing value(s) of numeric column {col!r} with its median "
                               f"{med:g}")
            if np.all(arr == arr[0]):
                notices.append(f"dropped column {col!r}: constant")
                continue
            columns.append(arr[:, None])
            names.append(col)
            continue
        if len(bad) <= 0.1 * len(present):
            row = next(i for i, (v, m) in enumerate(zip(vals, missing), start=2) if not m and _to_float(v) is None)
            raise LabError(
                f"{where}: column {col!r} must be numeric like {len(present) - len(bad)} of its {len(present)} "
                f"values, but got the text {bad[0]!r} on line {row}; fix or blank those cells (blanks are imputed)"
            )
        levels = sorted(set(present))
        if len(levels) > 0.5 * len(present) and len(present) >= 20:
            notices.append(f"dropped column {col!r}: text with {len(levels)} distinct values (an identifier or free "
                           "text, not a category)")
            continue
        if any(missing):
            mode = max(levels, key=present.count)
            vals = [mode if m else v for v, m in zip(vals, missing)]
            notices.append(f"imputed {sum(missing)} missing value(s) of categorical column {col!r} with its most "
                           f"frequent value {mode!r}")
        if len(levels) < 2:
            notices.append(f"dropped column {col!r}: constant")
            continue
        onehot = np.zeros((n, len(levels)), dtype=np.float64)
        index = {lv: k for k, lv in enumerate(levels)}
        for i, v in enumerate(vals):
            onehot[i, index[v]] = 1.0
        columns.append(onehot)
        names += [f"{col}={lv}" for lv in levels]
        notices.append(f"one-hot encoded categorical column {col!r} ({len(levels)} values)")
    if not columns:
        raise LabError(f"{where}: csv must have at least one usable feature column besides the target {target!r}, "
                       f"but got none in {p!r}; check the file")
    X = np.concatenate(columns, axis=1).astype(np.float32)
    name = os.path.splitext(os.path.basename(p))[0]
    return Dataset(name, X, y, task_name, names, target, class_names, notices)


def load_data(dataset: str | None = None, csv_path: str | None = None, target: str | None = None, *,
              task: str | None = None, where: str = "compare") -> Dataset:
    """:func:`load_builtin` or :func:`load_csv`, as the CLI's ``--dataset`` / ``--csv``."""
    if (dataset is None) == (csv_path is None):
        raise LabError(f"{where}: exactly one data source must be given, but got dataset={dataset!r} and "
                       f"csv={csv_path!r}; pass --dataset NAME or --csv FILE --target COLUMN")
    if dataset is not None:
        return load_builtin(dataset, where=where)
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


def _split_indices(data: Dataset, rng: np.random.Generator, where: str) -> tuple[np.ndarray, ...]:
    fractions = (0.6, 0.2)
    if data.task == "regression":
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
    where: str = "compare",
) -> Prepared:
    """Split, stress (train and validation only) and standardise; see the module docstring.

    ``imbalance`` ``R`` in ``(0, 1]`` keeps the class with the most rows whole and subsamples the others so that the
    counts fall geometrically, by rank of class size, to ``R`` times the largest; ``label_noise`` ``P`` gives that
    share of rows a different random class; ``outliers`` ``P`` moves that share of regression targets by 5 to 10
    standard deviations.
    """
    classification = data.task != "regression"
    if imbalance is not None and not (classification and 0.0 < imbalance <= 1.0):
        raise LabError(f"{where}: imbalance must be a ratio in (0, 1] on a classification task, but got {imbalance!r}"
                       f" on a {data.task} task; pass e.g. --imbalance 0.05 with a classification data set")
    if label_noise and not (classification and 0.0 <= label_noise < 1.0):
        raise LabError(f"{where}: label_noise must be a share in [0, 1) on a classification task, but got "
                       f"{label_noise!r} on a {data.task} task; use --outliers for regression")
    if outliers and not (not classification and 0.0 <= outliers < 1.0):
        raise LabError(f"{where}: outliers must be a share in [0, 1) on a regression task, but got {outliers!r} on a "
                       f"{data.task} task; use --label-noise or --imbalance for classification")
    rng = np.random.default_rng(seed)
    tr, va, te = _split_indices(data, rng, where)
    notices: list[str] = [f"split {len(tr)}/{len(va)}/{len(te)} rows (train/validation/test"
                          f"{', stratified by class' if classification else ''}, seed {seed})"]
    X, y = data.X, data.y
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
    if not classification and outliers > 0:
        y_tr, y_va = y_tr.astype(np.float64), y_va.astype(np.float64)
        sd = float(np.std(y[tr]))
        for part in (y_tr, y_va):
            hit = rng.random(len(part)) < outliers
            sign = rng.choice((-1.0, 1.0), size=int(hit.sum()))
            part[hit] += sign * rng.uniform(5.0, 10.0, size=int(hit.sum())) * sd
        notices.append(f"outliers {outliers:g}: about {outliers:.0%} of the training and validation targets moved by "
                       f"5-10 standard deviations ({sd:.4g}); test targets are clean")
    mean = X[tr].mean(0)
    std = X[tr].std(0)
    std = np.where(std > 0, std, 1.0)

    def scale(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / std).astype(np.float32)

    center, spread = 0.0, 1.0
    y_te = y[te]
    if not classification:
        center = float(np.median(y_tr))
        spread = float(1.4826 * np.median(np.abs(y_tr - center))) or float(np.std(y_tr)) or 1.0
        notices.append(f"the losses see the target scaled by the training median {center:.4g} and robust sigma "
                       f"(1.4826 MAD) {spread:.4g}; metrics are in the original units")
        y_tr = ((y_tr - center) / spread).astype(np.float32)
        y_va = ((y_va - center) / spread).astype(np.float32)
        y_te = np.asarray(y_te, dtype=np.float64)
    counts_tr = np.bincount(y_tr, minlength=data.num_classes or 0).tolist() if classification else None
    return Prepared(
        scale(X[tr]), y_tr, scale(X[va]), y_va, scale(X[te]), y_te, data.task, data.num_classes,
        center, spread, notices, counts_tr,
    )
