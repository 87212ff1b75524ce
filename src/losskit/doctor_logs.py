"""Readers for the curve doctor: turn the loss logs that trainers write into per-epoch curves.

Layouts (``format=``; ``"auto"`` detects them from the content):

================ ====================================================================================================
``"lab"``        the lab's ``curves.csv``: columns ``loss, seed, epoch, train_loss, val_loss, ...``; one run per loss
                 and seed
``"lightning"``  Lightning's ``CSVLogger`` ``metrics.csv``: ``epoch`` and ``step`` columns, training and validation
                 values on separate rows with blank cells, ``_step``/``_epoch`` suffixes (``train_loss_step``,
                 ``train_loss_epoch``, ``val_loss``)
``"hf"``         Hugging Face Trainer: ``trainer_state.json`` (an object with a ``log_history`` key) or the
                 ``log_history`` list itself; ``loss`` is the training loss and ``eval_loss`` the validation loss
                 (the end-of-training summary, whose ``train_loss`` is the run's mean, is skipped)
``"tensorboard"`` TensorBoard scalars exported as CSV (``Wall time,Step,Value``, one file per tag; a file whose
                 name says ``val``/``valid``/``eval``/``test``/``dev`` is a validation curve, paired with the training
                 file of the same run)
``"csv"``        any CSV with a training-loss column (``train_loss``, ``loss``, ...), optionally a validation-loss
                 column (``val_loss``, ``valid_loss``, ``eval_loss``, ...) and an ``epoch`` or ``step`` column;
                 a loss name with too few values gives way to the next (a Hugging Face ``log_history`` saved as
                 CSV reads ``loss``, not the summary's ``train_loss``, and its summary row is dropped)
================ ====================================================================================================

How rows become a curve: a blank cell (or a missing key) is a missing value, never a NaN loss; a cell that says
``nan``/``inf`` is a NaN or infinite loss. Where an epoch column exists with at least 2 epochs, rows are grouped by
epoch (fractional epochs, as Hugging Face writes them, by the epoch they end in: 0.25 and 1.0 are epoch 1): the
training loss of an epoch is its epoch-level value (``*_epoch``) if logged, else the mean of its step values; the
validation loss is the mean of the epoch's validation values, or missing. Without an epoch column, the training
values between two validation points are averaged onto the later one; a training-only log longer than
:data:`MAX_POINTS` is averaged in consecutive bins down to at most ``MAX_POINTS // 2`` points.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from typing import NamedTuple

from . import _validation as V

__all__ = ["FORMATS", "FORMAT_NAMES", "MAX_POINTS", "Curves", "detect_format", "read_curves", "read_logs"]

FORMATS = ("auto", "lab", "lightning", "hf", "tensorboard", "csv")
FORMAT_NAMES = {
    "lab": "the lab's curves.csv",
    "lightning": "a Lightning CSVLogger metrics.csv",
    "hf": "a Hugging Face Trainer log_history",
    "tensorboard": "a TensorBoard scalar export",
    "csv": "a plain CSV log",
}
MAX_POINTS = 200
"""A training-only log without epochs longer than this is averaged in bins."""

_NAME = "doctor"
_EPOCH = ("epoch", "epochs")
_STEP = ("step", "steps", "global_step", "iter", "iteration")
_TRAIN = ("train_loss", "training_loss", "train/loss", "loss/train", "train", "loss", "trn_loss", "train_epoch_loss")
_VAL = (
    "val_loss", "valid_loss", "validation_loss", "val/loss", "loss/val", "loss/valid", "eval_loss", "eval/loss",
    "val", "valid", "validation", "dev_loss", "test_loss", "val_epoch_loss",
)
_GROUP = ("loss", "seed", "split", "fold", "repeat", "run")
_VAL_FILE = re.compile(r"(^|[^a-z])(val|valid|validation|eval|test|dev)([^a-z]|$)")
_TB_FILE = re.compile(r"run[-_](?P<run>.+?)[-_]tag[-_](?P<tag>.+)$")


class Curves(NamedTuple):
    """One run's curves, ready for :func:`~losskit.doctor.diagnose_curves`."""

    epochs: list[int]
    """The x values: epochs, or steps when the log has no epoch column (see :attr:`unit`)."""
    train: list[float]
    val: list[float | None] | None
    """The validation loss per point (``None`` where it was not measured), or ``None`` without validation."""
    unit: str = "epoch"
    """``"epoch"`` or ``"step"``."""


class _Row(NamedTuple):
    epoch: float | None
    step: float | None
    train: float | None  # a step-level (or unsuffixed) training value
    train_epoch: float | None  # an epoch-level training value (``*_epoch``)
    val: float | None


def _err(msg: str) -> V.LossValueError:
    return V.LossValueError(f"{_NAME}: {msg}")


def _load(path: str | os.PathLike) -> str:
    p = str(path)
    if not os.path.exists(p):
        raise _err(f"FILE must be an existing log file, but got {p!r} (no such file); check the path")
    if os.path.isdir(p):
        raise _err(f"FILE must be a log file, but got the folder {p!r}; pass the file inside it (e.g. metrics.csv "
                   "or trainer_state.json)")
    hint = ("; a TensorBoard event file cannot be read: export the scalars as CSV from TensorBoard's Scalars tab"
            if "tfevents" in os.path.basename(p) else "; export the log as CSV or JSON")
    try:
        with open(p, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise _err(f"FILE must be a UTF-8 text log (CSV or JSON), but got undecodable bytes in {p!r}{hint}") from None
    except OSError as err:
        raise _err(f"FILE must be readable, but got {err.strerror or err} for {p!r}; check its permissions") from None
    if "\x00" in text:
        raise _err(f"FILE must be a text log (CSV or JSON), but got binary data in {p!r}{hint}")
    if not text.strip():
        raise _err(f"FILE must hold a loss log, but {p!r} is empty; point at the log the trainer wrote")
    return text


def _norm(h: str) -> str:
    return h.strip().lower().replace(" ", "_").replace("-", "_")


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    return [(line, r) for line, r in enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
            if any(c.strip() for c in r)]


def _detect(text: str) -> str:
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return "hf"  # the reader names the JSON error
        return "tensorboard" if isinstance(obj, list) and obj and isinstance(obj[0], list) else "hf"
    rows = _csv_rows(text[:65536])
    if not rows:
        return "csv"
    header = [_norm(h) for h in rows[0][1]]
    if header == ["wall_time", "step", "value"]:
        return "tensorboard"
    if "train_loss" in header and "seed" in header and "loss" in header:
        return "lab"
    suffixed = any(h.endswith(("_step", "_epoch")) and h not in _STEP for h in header)
    blanks = any(len(r) < len(header) or any(not c.strip() for c in r) for _, r in rows[1:50])
    if "epoch" in header and "step" in header and (suffixed or blanks):
        return "lightning"
    return "csv"


def detect_format(path: str | os.PathLike) -> str:
    """The layout of the log at ``path``: one of :data:`FORMATS` other than ``"auto"``.

    Raises:
        LossValueError: a missing, unreadable, binary or empty file.
    """
    return _detect(_load(path))


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _rows_to_curves(rows: list[_Row]) -> Curves | None:
    """Group rows by epoch (or align on steps); ``None`` when no training value is left."""
    with_epoch = [r for r in rows if r.epoch is not None]
    if with_epoch:
        whole = all(float(r.epoch).is_integer() for r in with_epoch)  # type: ignore[arg-type]
        groups: dict[int, list[_Row]] = {}
        for r in with_epoch:
            e = float(r.epoch)  # type: ignore[arg-type]
            groups.setdefault(int(e) if whole else max(1, math.ceil(e - 1e-9)), []).append(r)
        epochs, train, val = [], [], []
        for k in sorted(groups):
            g = groups[k]
            t_epoch = [r.train_epoch for r in g if r.train_epoch is not None]
            t_step = [r.train for r in g if r.train is not None]
            vs = [r.val for r in g if r.val is not None]
            if not t_epoch and not t_step:
                continue  # validation without training in that epoch (e.g. a sanity check): nothing to pair
            epochs.append(k)
            train.append(t_epoch[-1] if t_epoch else _mean(t_step))
            val.append(_mean(vs) if vs else None)
        if len(epochs) >= 2:
            return Curves(epochs, train, val if any(v is not None for v in val) else None, "epoch")
    has_step = any(r.step is not None for r in rows)
    xs = [r.step if r.step is not None else float(i + 1) for i, r in enumerate(rows)]
    order = sorted(range(len(rows)), key=lambda i: xs[i])
    raw = [(xs[i], rows[i].train if rows[i].train is not None else rows[i].train_epoch) for i in order]
    tpts: list[tuple[float, float]] = [(x, t) for x, t in raw if t is not None]
    vpts = [(xs[i], rows[i].val) for i in order if rows[i].val is not None]
    if not tpts:
        return None
    unit = "step" if has_step else "epoch"
    if len(vpts) >= 2:
        out_x: list[int] = []
        out_t: list[float] = []
        out_v: list[float | None] = []
        prev = -math.inf
        for xv, v in vpts:
            seg = [t for x, t in tpts if prev < x <= xv]
            before = [t for x, t in tpts if x <= xv]
            prev = xv
            if not seg and not before:
                continue
            out_x.append(int(xv))
            out_t.append(_mean(seg) if seg else before[-1])
            out_v.append(v)
        return Curves(out_x, out_t, out_v, unit)
    if len(tpts) > MAX_POINTS:
        size = math.ceil(len(tpts) / (MAX_POINTS // 2))
        bins = [tpts[i : i + size] for i in range(0, len(tpts), size)]
        tpts = [(b[-1][0], _mean([t for _, t in b])) for b in bins]
    return Curves([int(x) for x, _ in tpts], [t for _, t in tpts], None, unit)


def _pick(header: list[str], names: Sequence[str], exclude: set[int], data: list[list[str]]) -> dict[str, int]:
    """The columns of the first loss name present with at least 2 values in ``data`` (else of the first name
    present): ``{"plain"|"step"|"epoch": index}``."""
    first: dict[str, int] = {}
    for base in names:
        found = {}
        for i, h in enumerate(header):
            if i in exclude:
                continue
            if h == base:
                found["plain"] = i
            elif h == base + "_epoch":
                found["epoch"] = i
            elif h == base + "_step":
                found["step"] = i
        if found and sum(1 for r in data for i in found.values() if i < len(r) and r[i].strip()) >= 2:
            return found
        first = first or found
    return first


def _read_table(text: str, path: str, fmt: str) -> dict[str, Curves]:
    rows = _csv_rows(text)
    if len(rows) < 2:
        raise _err(f"FILE must have a header row and at least one data row, but got {len(rows)} row(s) in "
                   f"{path!r}; export the full log")
    raw = rows[0][1]
    header = [_norm(h) for h in raw]
    lab = fmt == "lab" or (fmt == "csv" and "train_loss" in header and "seed" in header and "loss" in header)
    if "train_runtime" in header:  # Hugging Face's log_history saved as CSV: drop the end-of-training summary
        i_sum = header.index("train_runtime")
        rows = rows[:1] + [(n, r) for n, r in rows[1:] if i_sum >= len(r) or not r[i_sum].strip()]
    data = [r for _, r in rows[1:]]
    tcols = _pick(header, _TRAIN[:5] + _TRAIN[6:] if lab else _TRAIN, set(), data)
    if not tcols:
        close = difflib.get_close_matches("train_loss", header, n=1, cutoff=0.4)
        raise _err(f"FILE must have a training-loss column (train_loss, loss, train_loss_epoch, ...), but got "
                   f"columns {raw} in {path!r}; rename it to train_loss" + (f" (is it {close[0]!r}?)" if close else ""))
    vcols = _pick(header, _VAL, set(tcols.values()), data)
    if "epoch" in vcols or "plain" in vcols:  # epoch-level validation values beat per-batch ones
        vcols.pop("step", None)
    i_epoch = next((header.index(h) for h in _EPOCH if h in header), None)
    i_step = next((header.index(h) for h in _STEP if h in header), None)
    if fmt == "lightning" and (i_epoch is None or i_step is None):
        raise _err(f"FILE must have 'epoch' and 'step' columns to be read as a Lightning metrics.csv, but got "
                   f"columns {raw} in {path!r}; drop --format or use --format csv")
    used = set(tcols.values()) | set(vcols.values())
    groups = [header.index(g) for g in _GROUP if g in header and header.index(g) not in used]

    def cell(row: list[str], i: int | None, line: int) -> float | None:
        if i is None or i >= len(row) or not row[i].strip():
            return None
        try:
            return float(row[i])
        except ValueError:
            raise _err(f"FILE must hold numbers in its loss, epoch and step columns, but got {row[i].strip()!r} in "
                       f"column {raw[i]!r} on line {line} of {path!r}; fix or drop that line") from None

    per_run: dict[str, list[_Row]] = {}
    for line, row in rows[1:]:
        key = " ".join(f"{raw[g]}={row[g] if g < len(row) else ''}" for g in groups) if groups else ""
        plain = cell(row, tcols.get("plain"), line)
        per_run.setdefault(key, []).append(_Row(
            cell(row, i_epoch, line), cell(row, i_step, line),
            plain if plain is not None else cell(row, tcols.get("step"), line),
            cell(row, tcols.get("epoch"), line),
            _first(cell(row, vcols.get("plain"), line), cell(row, vcols.get("epoch"), line),
                   cell(row, vcols.get("step"), line)),
        ))
    out = {}
    for key, rs in per_run.items():
        c = _rows_to_curves(rs)
        if c is not None:
            out[key or os.path.basename(path)] = c
    if not out:
        raise _err(f"FILE must hold training-loss values, but every cell of column {raw[min(tcols.values())]!r} is "
                   f"blank in {path!r}; log the training loss")
    return out


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _number(entry: dict, key: str, k: int, path: str) -> float | None:
    v = entry.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(f"FILE must hold numbers under {key!r}, but got {v!r} in log_history entry {k} of {path!r}; "
                   "fix that entry")
    return float(v)


def _read_json(text: str, path: str, fmt: str = "hf") -> dict[str, Curves]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise _err(f"FILE must be valid JSON to be read as a Hugging Face log, but got {err.msg} at line "
                   f"{err.lineno} of {path!r}; pass trainer_state.json as the Trainer wrote it") from None
    tb = isinstance(obj, list) and bool(obj) and all(isinstance(e, list) and len(e) == 3 for e in obj)
    if fmt == "tensorboard" and not tb:
        raise _err(f"FILE must be a list of [wall time, step, value] to be read as TensorBoard's JSON export, but "
                   f"{path!r} is not; drop --format or use --format hf")
    if isinstance(obj, dict):
        if not isinstance(obj.get("log_history"), list):
            raise _err(f"FILE is JSON of an unknown layout: an object without a 'log_history' list (keys "
                       f"{sorted(obj)[:6]}) in {path!r}; pass a Hugging Face trainer_state.json or its log_history")
        obj = obj["log_history"]
    if not isinstance(obj, list) or not obj:
        raise _err(f"FILE is JSON of an unknown layout: expected a non-empty list of log entries, but got "
                   f"{type(obj).__name__} in {path!r}; pass a Hugging Face trainer_state.json or its log_history")
    if tb:  # TensorBoard's JSON export: [wall time, step, value]
        return {os.path.basename(path): _tb_curves([(float(e[1]), float(e[2])) for e in obj], [])}
    rows = []
    for k, e in enumerate(obj):
        if not isinstance(e, dict):
            raise _err(f"FILE is JSON of an unknown layout: log entry {k} is {type(e).__name__}, not an object, in "
                       f"{path!r}; pass a Hugging Face trainer_state.json or its log_history")
        if "train_runtime" in e or "total_flos" in e:
            continue  # the end-of-training summary: its train_loss is the mean over the whole run
        t, v = _number(e, "loss", k, path), _number(e, "eval_loss", k, path)
        if t is not None or v is not None:
            rows.append(_Row(_number(e, "epoch", k, path), _number(e, "step", k, path), t, None, v))
    c = _rows_to_curves(rows)
    if c is None:
        raise _err(f"FILE must hold training-loss entries ('loss'), but none of the {len(obj)} log entries of "
                   f"{path!r} has one; set logging_steps so the Trainer logs the loss")
    return {os.path.basename(path): c}


def _read_tb(text: str, path: str) -> list[tuple[float, float]]:
    rows = _csv_rows(text)
    if [_norm(h) for h in rows[0][1]] != ["wall_time", "step", "value"]:
        raise _err(f"FILE must have the header 'Wall time,Step,Value' to be read as a TensorBoard export, but got "
                   f"{rows[0][1]} in {path!r}; drop --format or use --format csv")
    pts = []
    for line, r in rows[1:]:
        try:
            pts.append((float(r[1]), float(r[2])))
        except (ValueError, IndexError):
            raise _err(f"FILE must hold numbers in Step and Value, but got {r} on line {line} of {path!r}; fix or "
                       "drop that line") from None
    return pts


def _tb_curves(train: list[tuple[float, float]], val: list[tuple[float, float]]) -> Curves:
    rows = [_Row(None, s, t, None, None) for s, t in train] + [_Row(None, s, None, None, v) for s, v in val]
    rows.sort(key=lambda r: (r.step, r.val is not None))  # training values first at a shared step
    c = _rows_to_curves(rows)
    if c is None:
        raise _err("FILE must hold at least one training-loss value, but the TensorBoard export has none; export "
                   "the training-loss tag")
    return c


def read_logs(paths: Sequence[str | os.PathLike], *, format: str = "auto") -> dict[str, Curves]:
    """Read one or more loss logs: ``{run name: Curves}`` (layouts and grouping in the module docstring).

    Runs are named by their file (or, in the lab's curves.csv, by loss and seed). TensorBoard exports are paired by
    run: ``run-X-tag-train_loss.csv`` with ``run-X-tag-val_loss.csv``.

    Raises:
        LossValueError: a missing, unreadable or empty file, an unknown layout, no training-loss column, or a
            value that is not a number.
    """
    V.check_choice(_NAME, "format", format, FORMATS)
    runs: dict[str, Curves] = {}
    tb: dict[str, dict[str, tuple[str, list[tuple[float, float]]]]] = {}
    for path in paths:
        p = str(path)
        text = _load(p)
        fmt = _detect(text) if format == "auto" else format
        is_json = text.lstrip()[:1] in ("[", "{")
        if fmt == "hf" or (fmt == "tensorboard" and is_json):
            found = _read_json(text, p, fmt)
        elif is_json:
            raise _err(f"FILE is JSON, which --format {fmt} cannot read, in {p!r}; use --format hf or auto")
        elif fmt == "tensorboard":
            stem = os.path.splitext(os.path.basename(p))[0]
            m = _TB_FILE.search(stem)
            run, tag = (m["run"], m["tag"]) if m else ("", stem)
            role = "val" if _VAL_FILE.search(tag.lower()) else "train"
            pair = tb.setdefault(run, {})
            if role in pair:
                raise _err(f"FILE {p!r} is a second {'validation' if role == 'val' else 'training'} curve for the "
                           f"same run as {pair[role][0]!r}; pass one training and one validation export per run")
            pair[role] = (p, _read_tb(text, p))
            continue
        else:
            found = _read_table(text, p, fmt)
        for key, c in found.items():
            runs[_unique(runs, key if len(paths) == 1 or key != os.path.basename(p) else p)] = c
    for run, pair in tb.items():
        if "train" not in pair:
            raise _err(f"FILE {pair['val'][0]!r} is a validation curve (from its name) without a training curve; "
                       "pass the training-loss export too")
        key = run or os.path.splitext(os.path.basename(pair["train"][0]))[0]
        runs[_unique(runs, key)] = _tb_curves(pair["train"][1], pair["val"][1] if "val" in pair else [])
    return runs


def _unique(runs: dict[str, Curves], key: str) -> str:
    k, i = key, 2
    while k in runs:
        k, i = f"{key} ({i})", i + 1
    return k


def read_curves(path: str | os.PathLike, *, format: str = "auto") -> dict[str, Curves]:
    """Read one loss log: ``{run name: Curves(epochs, train, val, unit)}``; see :func:`read_logs`."""
    return read_logs([path], format=format)
