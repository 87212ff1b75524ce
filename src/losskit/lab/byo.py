"""``compare(data=..., model_fn=...)``: the lab on your own model and ``torch.utils.data`` data.

Run ``r`` seeds torch with ``r`` and then calls ``model_fn()``, so every loss of a run starts from the same weights
and sees the same batch order: the per-run differences between two losses are paired. ``data`` is either

* ``(train, val, test)``: one fixed split. The runs vary the seed only (initial weights, batch order, dropout), so
  the verdict uses the plain paired t-test over seeds (:func:`losskit.lab.stats.corrected_ttest` with
  ``n_train = inf``: no correction for overlapping test sets, which do not exist here) and speaks for this split's
  test set only: it cannot tell how much the ranking would move on another sample of the data. Or
* a function ``split -> (train, val, test)``: run ``r`` uses split ``split_seed + r``, and the verdict uses Nadeau
  and Bengio's corrected resampled t-test as the tabular lab (the bundled ``digits-images`` demo does this). A
  function with the attribute ``fresh_draws = True`` promises independent data in every run (fresh synthetic
  images, as the bundled ``shapes`` demo): no two runs share items, so the plain paired t-test applies.

The metrics, verdict, doctor diagnoses, report and progress bar are the tabular lab's (:mod:`losskit.lab.runner`);
the task types are in :mod:`losskit.lab.tasks` and the training loop in :mod:`losskit.lab.train_torch`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import advisor
from . import provenance, stats
from ._extras import LabError, require
from .data import Prepared
from .metrics import HIGHER_IS_BETTER
from .tasks import Task, get_task, infer_task
from .train import RunResult
from .train_torch import OPTIMIZERS, Splits, TorchConfig, fit, load_splits

__all__ = ["LossSpec", "compare_torch", "resolve_losses"]

DEFAULT_EPOCHS = 20


@dataclasses.dataclass
class LossSpec:
    """One loss to train: a menu entry (configured per split from the training targets) or your own."""

    candidate: advisor.Candidate
    head: str
    """The menu entry's head, or ``"custom"`` (the model's output as it is, :mod:`losskit.lab.tasks`)."""
    own: Callable[[Tensor, Tensor], Tensor] | None = None
    menu: str | None = None
    """The menu name (the row's name may differ: a mapping's key, or ``ce-2`` for a repeat)."""

    @property
    def name(self) -> str:
        return self.candidate.name

    def build(self, y_train: np.ndarray, task: str) -> Callable[[Tensor, Tensor], Tensor]:
        """A fresh loss for one run: a menu loss configured on this split's training targets, or a copy of yours
        (a Module with state or parameters does not carry them from one run to the next)."""
        if self.own is not None:
            return copy.deepcopy(self.own) if isinstance(self.own, nn.Module) else self.own
        menu = self.menu or self.name
        entry = advisor.LOSS_MENU[menu]
        targets = _advisor_targets(y_train, task)
        rec = advisor.recommend(targets, task=task)
        mine = next((c for c in rec.candidates if c.name == menu), None)
        options = mine.options if mine is not None else entry.configure(rec.stats, targets)
        return dataclasses.replace(self.candidate, options=options).build()


def _advisor_targets(y: np.ndarray, task: str) -> np.ndarray:
    return (y > 0).astype(np.int64) if task == "multilabel" else y


def _own(obj: Any, name: str | None, rank: int, where: str) -> LossSpec:
    if not callable(obj):
        raise LabError(f"{where}: losses must hold menu names, loss Modules or callables, but got "
                       f"{type(obj).__name__}; pass e.g. losses=['ce', MyLoss()]")
    kind = type(obj).__name__ if isinstance(obj, nn.Module) else getattr(obj, "__name__", type(obj).__name__)
    label = name or kind.lower()
    return LossSpec(advisor.Candidate(rank, label, kind, {}, ["your own loss, given to compare"],
                                      f"loss_fn = {kind}(...)  # yours", baseline=False), "custom", obj)


def resolve_losses(losses: Any, y_train: np.ndarray, task: str, candidates: int, where: str = "compare"
                   ) -> tuple[list[LossSpec], list[str]]:
    """The losses to train and the advisor's reasons: ``"auto"`` (the advisor's first ``candidates``, the baseline
    always among them), menu names (``"ce,focal"``), or a list mixing menu names and loss Modules / callables, or a
    mapping name -> Module / callable / menu name. Segmentation:
    :func:`losskit.lab.task_segmentation.resolve_losses`."""
    if task == "segmentation":
        from .task_segmentation import resolve_losses as segmentation_losses

        return segmentation_losses(losses, y_train, candidates, where)
    rec = advisor.recommend(_advisor_targets(y_train, task), task=task)
    usable = [c for c in rec.candidates if advisor.LOSS_MENU[c.name].head != "ordinal"]
    by_name = {c.name: c for c in usable}
    if isinstance(losses, str) and losses.strip().lower() == "auto":
        chosen = usable[:candidates]
        base = next((c for c in usable if c.baseline), None)
        if base is not None and base not in chosen:
            chosen = [*chosen[: candidates - 1], base] if candidates > 1 else [*chosen, base]
        auto = [LossSpec(c, advisor.LOSS_MENU[c.name].head, menu=c.name) for c in chosen]
        return auto, rec.reasons + [f"{c.name}: {'; '.join(c.reasons)}" for c in chosen]
    items: list[tuple[str | None, Any]]
    if isinstance(losses, Mapping):
        items = [(str(k), v) for k, v in losses.items()]
    elif isinstance(losses, str):
        items = [(None, n) for n in losses.split(",") if n.strip()]
    elif isinstance(losses, (nn.Module,)) or callable(losses):
        items = [(None, losses)]
    elif isinstance(losses, Sequence):
        items = [(None, v) for v in losses]
    else:
        raise LabError(f"{where}: losses must be 'auto', names, a list or a mapping, but got "
                       f"{type(losses).__name__}; pass e.g. losses=['ce', MyLoss()]")
    if not items:
        raise LabError(f"{where}: losses must name at least one loss, but got {losses!r}; pass e.g. losses='auto'")
    specs: list[LossSpec] = []
    for label, value in items:
        if isinstance(value, str):
            (menu,) = advisor.resolve_loss_names(value, task, where=where)
            if advisor.LOSS_MENU[menu].head == "ordinal":
                raise LabError(f"{where}: loss {menu!r} needs a head of one logit per threshold, but got a model of "
                               "your own; choose another loss or give compare your own ordinal loss")
            if advisor.LOSS_MENU[menu].head == "quantiles":
                raise LabError(f"{where}: loss {menu!r} needs a head of one output per quantile (0.1, 0.5, 0.9), but "
                               "got a model of your own; choose another loss, or pass "
                               "lk.QuantileLoss(quantiles=0.5) as a loss of your own for the median")
            cand = by_name.get(menu)
            if cand is None:
                entry = advisor.LOSS_MENU[menu]
                options = entry.configure(rec.stats, _advisor_targets(y_train, task))
                cand = advisor.Candidate(len(specs) + 1, menu, entry.loss, options, [entry.summary],
                                         advisor._code(entry.loss, options, rec.stats))
            if label is not None and label != menu:
                cand = dataclasses.replace(cand, name=label, baseline=False)
            specs.append(LossSpec(cand, advisor.LOSS_MENU[menu].head, menu=menu))
        else:
            specs.append(_own(value, label, len(specs) + 1, where))
    seen: dict[str, int] = {}
    for s in specs:  # a name given twice (two Modules of one class): hinge, hinge-2
        seen[s.name] = seen.get(s.name, 0) + 1
        if seen[s.name] > 1:
            s.candidate = dataclasses.replace(s.candidate, name=f"{s.name}-{seen[s.name]}", baseline=False)
    return specs, rec.reasons


def _num_classes(task: str, ys: Sequence[np.ndarray]) -> int | None:
    if task == "binary":
        return 2
    if task == "multiclass":
        return int(max(int(y.max()) for y in ys)) + 1
    if task == "segmentation":
        from .task_segmentation import num_classes

        return num_classes(ys)
    return None


def _class_names(splits: Splits, task: str, C: int | None) -> list[str] | None:
    """The test dataset's ``classes`` (as torchvision's datasets) when they fit, else the class indices."""
    if task == "segmentation" and C == 1:
        return ["background", "foreground"]
    names = getattr(splits.test, "classes", None)
    if C and isinstance(names, (list, tuple)) and len(names) == C:
        return [str(n) for n in names]
    return [str(k) for k in range(C)] if C else None


def _prepared(splits: Splits, task: str, num_classes: int | None, counts: list[int] | None) -> Prepared:
    """The run's targets in the shape the report and the tuned-threshold row read (no feature table)."""
    empty = np.zeros((0, 0), dtype=np.float32)
    if task == "segmentation":  # a few test inputs for the report's picture of predictions
        from .task_segmentation import preview_inputs

        return Prepared(empty, splits.y_train, empty, splits.y_val, preview_inputs(splits.test), splits.y_test, task,
                        num_classes, train_counts=counts)
    return Prepared(empty, splits.y_train, empty, splits.y_val, empty, splits.y_test, task, num_classes,
                    train_counts=counts)


def compare_torch(
    data: Any,
    model_fn: Callable[[], nn.Module],
    *,
    task: str | None = None,
    losses: Any = "auto",
    candidates: int = 4,
    runs: int = 5,
    epochs: int | None = None,
    patience: int | None = None,
    batch_size: int = 128,
    optimizer: str = "adamw",
    lr: float = 3e-3,
    weight_decay: float = 1e-2,
    amp: bool = False,
    accumulate: int = 1,
    split_seed: int = 0,
    margin: float | None = None,
    alpha: float = stats.ALPHA,
    out_dir: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    name: str = "custom",
    on_model: Callable[[nn.Module], None] | None = None,
    on_own_threads: bool = True,
    where: str = "compare",
) -> Any:
    """The Dataset path of :func:`losskit.lab.compare` (its docstring has the options); returns a
    :class:`~losskit.lab.runner.CompareResult`. ``on_own_threads``: the model trains with torch's thread setting
    (``False``: the caller set one thread, as for the bundled demo), for the provenance."""
    from . import runner

    started = time.perf_counter()
    if optimizer not in OPTIMIZERS:
        raise LabError(f"{where}: optimizer must be one of {', '.join(OPTIMIZERS)}, but got {optimizer!r}; pass e.g. "
                       "optimizer='adamw'")
    if not callable(model_fn):
        raise LabError(f"{where}: model_fn must be a function returning a fresh torch.nn.Module, but got "
                       f"{type(model_fn).__name__}; pass e.g. model_fn=lambda: MyNet()")
    repeated = callable(data) and not isinstance(data, (tuple, list))

    def split(r: int) -> Splits:
        raw = data(split_seed + r) if repeated else data
        return load_splits(raw, where, split_seed + r if repeated else 0)

    first = split(0)
    if task is None:
        task_name, why = infer_task(first.y_train)
        reasons = [why]
    else:
        task_name, reasons = task, [f"task given: {task}"]
    t: Task = get_task(task_name, where)
    if t.name == "multilabel" and not np.isin(np.unique(first.y_train), (0, 1)).all():
        raise LabError(f"{where}: multilabel targets must be 0/1 vectors, but got values "
                       f"{np.unique(first.y_train)[:6].tolist()}; pass multi-hot targets")
    if t.classification and first.y_train.ndim != 1:
        raise LabError(f"{where}: {t.name} targets must be one class index per item, but got targets of shape "
                       f"{first.y_train.shape[1:]} per item; pass task='multilabel' for 0/1 vectors")
    if t.name == "retrieval":
        from .task_retrieval import retrieval_losses

        specs, advice = retrieval_losses(losses, first, model_fn, candidates, where)
    else:
        specs, advice = resolve_losses(losses, first.y_train, t.name, candidates, where)
    advice = reasons + advice
    patience = max(5, (epochs or DEFAULT_EPOCHS) // 4) if patience is None else patience
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    config = TorchConfig(epochs, patience, batch_size, optimizer, float(lr), float(weight_decay), bool(amp),
                         accumulate)
    say = log or ((lambda s: print(s, file=sys.stderr)) if progress else (lambda s: None))
    say(f"losskit compare: {name} ({sum(first.sizes)} items, input {first.input_shape}, {t.name}), losses "
        f"{', '.join(s.name for s in specs)}, {runs} run(s) ({'split and seed r' if repeated else 'seed r'}), "
        f"up to {epochs} epochs")
    bar = None
    if progress:
        tqdm = require("tqdm", what=where).tqdm
        bar = tqdm(total=len(specs) * runs * epochs, file=sys.stderr, unit="epoch", desc="compare", leave=False)
    by_loss: dict[str, list[RunResult]] = {s.name: [] for s in specs}
    all_splits: list[Splits] = []
    prepared: list[Prepared] = []
    try:
        with torch.random.fork_rng(devices=[]):  # the runs seed torch; the caller's generator stays as it was
            for r in range(runs):
                sp = first if r == 0 else split(r)
                all_splits.append(sp)
                C = _num_classes(t.name, [sp.y_train, sp.y_val, sp.y_test])
                counts = np.bincount(sp.y_train.astype(np.int64), minlength=C or 0).tolist() if t.classification \
                    else None
                prepared.append(_prepared(sp, t.name, C, counts))
                for spec in specs:
                    if bar is not None:
                        bar.set_postfix_str(f"{spec.name} run {r}")
                    before = bar.n if bar is not None else 0
                    run = fit(spec.name, spec.build(sp.y_train, t.name), spec.head, t.for_head(spec.head), sp, r,
                              config, model_fn,
                              num_classes=C, train_counts=counts, on_epoch=bar.update if bar is not None else None,
                              on_model=on_model, where=where)
                    if bar is not None:
                        bar.update(epochs - (bar.n - before))
                    by_loss[spec.name].append(run)
    finally:
        if bar is not None:
            bar.close()
    metric_names = t.metrics
    summaries = [runner._summarise(s.name, s.candidate, by_loss[s.name], metric_names) for s in specs]
    base = next((s for s in summaries if s.baseline), None)
    if base is not None and t.name == "binary":
        tuned = [runner._threshold_run(run, p) for run, p in zip(base.runs, prepared)]
        cand = next(s.candidate for s in specs if s.name == base.name)
        summaries.append(runner._summarise(f"{base.name}+threshold", dataclasses.replace(
            cand, reasons=[f"the {base.name} models with the decision threshold tuned on the validation split to "
                           "maximise balanced accuracy"]), tuned, metric_names, kind="threshold"))
    metric = t.primary
    compared = [s for s in summaries if all(math.isfinite(float(r.metrics[metric])) for r in s.runs)]  # type: ignore[arg-type]
    failed = [s.name for s in summaries if all(s is not c for c in compared)]
    reference_name = base.name if base is not None and base in compared else (compared or summaries)[0].name
    n_test = float(np.mean([sp.sizes[2] for sp in all_splits]))
    fresh = repeated and getattr(data, "fresh_draws", False) is True  # independent data per run: nothing shared
    n_train = float(np.mean([sp.sizes[0] + sp.sizes[1] for sp in all_splits])) if repeated and not fresh else math.inf
    sizes = {"n_train": n_train, "n_test": n_test}
    if margin is None:
        level = next(s for s in summaries if s.name == reference_name).mean[metric]
        margin = runner.default_margin(metric, level) if math.isfinite(level) else 0.0
    comparison = None
    if len(compared) > 1:
        comparison = stats.decide({s.name: [float(r.metrics[metric]) for r in s.runs] for s in compared},  # type: ignore[arg-type]
                                  metric=metric, higher_is_better=HIGHER_IS_BETTER[metric],
                                  baseline=reference_name, alpha=float(alpha), margin=float(margin), **sizes)
    winner, verdict = runner._verdict(comparison, len(compared), runs, (compared or summaries)[0].name)
    if not repeated and comparison is not None:
        verdict += (f"; one fixed split: the {runs} runs vary the seed only (initial weights, batch order), so the "
                    "test is the paired t-test over seeds, and the verdict holds for this test set, not for other "
                    "samples of the data")
    if failed:
        verdict += (f"; left out of the comparison for a non-finite test {metric.replace('_', ' ')} in some run "
                    f"(diverged?): {', '.join(failed)}")
    tr, va, te = first.sizes
    notices = [f"{tr}/{va}/{te} items (train/validation/test)"]
    if fresh:
        notices.append("every run draws fresh data (fresh_draws): no item is shared between runs, so the comparison "
                       "is the plain paired t-test, without the repeated-split correction")
    notices.append(f"{runs} runs: run r uses split {split_seed}+r and seed r, the same for every loss; losses of the "
                   "menu are configured on each split's training targets" if repeated else
                   f"one fixed split, {runs} runs: run r seeds torch with r before model_fn() (the same initial "
                   "weights and batch order for every loss); the comparison is the paired t-test over seeds, without "
                   "the repeated-split correction")
    cfg = {**asdict(config), "runs": runs, "losses": [s.name for s in specs], "split_seed": split_seed,
           "split": "repeated" if repeated else "fixed", "margin": margin, "alpha": alpha, "task": t.name,
           "model": getattr(model_fn, "__qualname__", type(model_fn).__name__), "input_shape": list(first.input_shape),
           "baseline": reference_name, "n_train": n_train, "n_test": n_test}  # n_train inf: one fixed split
    C = _num_classes(t.name, [first.y_train, first.y_val, first.y_test])
    result = runner.CompareResult(
        name, t.name, sum(first.sizes), int(np.prod(first.input_shape)) if first.input_shape else 0,
        _class_names(first, t.name, C), notices, cfg, metric, summaries, winner, verdict, advice,
        out_dir, 0.0, prepared[0].train_counts, runner._versus_baseline(comparison, summaries), comparison,
        runner._warnings(summaries, sizes, metric, float(margin), float(alpha), epochs),
    )
    origin = provenance.current()  # started by compare: versions, command line, call, machine
    if origin is not None:
        result.provenance = provenance.finish(
            origin, dataset=name, task=t.name, rows=result.num_rows, features=result.num_features,
            class_names=result.class_names, splits=prepared, split_seed=split_seed, custom_model=on_own_threads,
            processes=1, runs=runs)
        if not repeated:  # one fixed split: every run tests on it
            result.provenance["splits"] = [0] * runs
    result.seconds = time.perf_counter() - started
    if out_dir is not None:
        runner._write(result, prepared, out_dir)
        result.seconds = time.perf_counter() - started
    return result
