"""The advisor: which loss for these targets? :func:`recommend` inspects a target tensor and returns a ranked,
already configured list of losses with the reasons in plain words.

It answers the decision tree every loss-function guide draws (regression with or without outliers; binary,
multi-class or multi-label; balanced or imbalanced) on the user's own targets:

* the **task** from the dtype, the shape and the values (class indices, 0/1 multi-hot rows, real values);
* the **statistics** that decide between losses: class counts and the imbalance ratio (largest class over
  smallest), positive rates per label, and for regression the share of outliers by the median-absolute-deviation
  rule (modified z-score above 3.5, Iglewicz and Hoaglin, 1993);
* the **candidates**, ranked, each built from :data:`LOSS_MENU` (class weights from :mod:`losskit.weights`,
  ``pos_weight``, Huber's ``delta`` in target units ...), with a ready-to-paste line of code.

:data:`LOSS_MENU` is the one table of losses the lab (``losskit compare``) trains with: a short name, the
losskit class, the task kinds it serves, the kind of network head it needs, and how its options are set
from the targets.

Example:
    >>> import torch
    >>> from losskit.advisor import recommend
    >>> rec = recommend(torch.tensor([0.1, 2.0, 1.5, 0.7, 3.2, 2.2, 1.1, 0.4]))
    >>> rec.task, rec.candidates[0].name
    ('regression', 'mse')
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import _validation as V

__all__ = [
    "IMBALANCE_RATIO",
    "LOSS_MENU",
    "OUTLIER_SHARE",
    "TASKS",
    "Candidate",
    "MenuEntry",
    "Recommendation",
    "TargetStats",
    "menu_names",
    "recommend",
    "register",
    "resolve_loss_names",
]

TASKS = ("binary", "multiclass", "multilabel", "regression")

IMBALANCE_RATIO = 3.0
"""Largest class over smallest (or negatives over positives) from which the advisor calls targets imbalanced."""
SEVERE_IMBALANCE_RATIO = 20.0
"""From this ratio on, multi-class weights use the effective number of samples (Cui et al., 2019) instead of
1/sqrt. Two classes always use 1/count, the strength of ``pos_weight`` and of sigmoid focal's ``alpha``."""
OUTLIER_SHARE = 0.01
"""Share of regression targets beyond the MAD rule from which the advisor ranks the robust losses first."""
MAD_Z = 3.5
"""The modified z-score ``0.6745 |y - median| / MAD`` above which a target counts as an outlier."""
HUBER_K = 1.345
"""Huber's tuning constant: ``delta = 1.345 * sigma`` keeps 95% efficiency on Gaussian errors (Huber, 1981)."""
LONG_TAIL_SKEW = 2.0
"""Regression targets >= 0 with a skewness above this get the advice to train on ``log1p(target)``."""
MAX_INDEX_CLASSES = 100
"""Integer targets with more distinct values than this are treated as regression (counts, years ...)."""


# --------------------------------------------------------------------------------------------
# typed results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetStats:
    """What the advisor measured on the targets (fields that do not apply to the task are ``None``)."""

    num_samples: int
    shape: tuple[int, ...]
    dtype: str
    num_classes: int | None = None
    """Classes (binary: 2; multi-label: labels); ``None`` for regression."""
    class_counts: tuple[int, ...] | None = None
    """Rows per class (binary: negatives, positives; multi-label: positives per label)."""
    imbalance_ratio: float | None = None
    """Largest class count over smallest (multi-label: the worst label's negatives over positives)."""
    labels_per_row: float | None = None
    """Multi-label: mean number of positive labels per row."""
    mean: float | None = None
    std: float | None = None
    median: float | None = None
    mad_sigma: float | None = None
    """Regression: ``1.4826 * MAD``, a robust estimate of the standard deviation."""
    outlier_share: float | None = None
    """Regression: share of targets with modified z-score above 3.5."""
    skewness: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @property
    def imbalanced(self) -> bool:
        return self.imbalance_ratio is not None and self.imbalance_ratio >= IMBALANCE_RATIO

    def lines(self) -> list[str]:
        """The statistics in plain words, one per line."""
        out = [f"{self.num_samples} targets, shape {V.shape_str(self.shape)}, dtype {self.dtype}"]
        if self.class_counts is not None:
            more = ", ..." if len(self.class_counts) > 20 else ""
            counts = ", ".join(str(c) for c in self.class_counts[:20]) + more
            out.append(f"{self.num_classes} classes/labels, counts [{counts}]")
        if self.imbalance_ratio is not None:
            out.append(f"imbalance ratio {self.imbalance_ratio:.3g}:1")
        if self.labels_per_row is not None:
            out.append(f"{self.labels_per_row:.3g} positive labels per row on average")
        if self.mean is not None:
            out.append(
                f"mean {self.mean:.4g}, std {self.std:.4g}, median {self.median:.4g}, robust sigma (1.4826 MAD) "
                f"{self.mad_sigma:.4g}, range [{self.minimum:.4g}, {self.maximum:.4g}], skewness {self.skewness:.3g}"
            )
            out.append(f"outliers (modified z-score > {MAD_Z}): {self.outlier_share:.1%}")
        return out


@dataclass
class Candidate:
    """One ranked, configured loss."""

    rank: int
    name: str
    """The short name in :data:`LOSS_MENU` (``losskit compare --losses NAME``)."""
    loss: str
    """The losskit class, e.g. ``"CrossEntropyLoss"``."""
    options: dict[str, Any]
    """Constructor keyword arguments (tensors for class weights and ``pos_weight``)."""
    reasons: list[str]
    code: str
    """A ready-to-paste line building the loss."""
    baseline: bool = False
    """The plain loss every other candidate has to beat."""

    def build(self) -> nn.Module:
        """The configured loss Module (needs the losskit class to exist in this build)."""
        return _loss_class(self.loss)(**self.options)


@dataclass
class Recommendation:
    """The advisor's answer: the task, what was measured, the ranked candidates and why."""

    task: str
    stats: TargetStats
    candidates: list[Candidate]
    reasons: list[str] = field(default_factory=list)
    """How the task was inferred and what stands out in the data."""

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    @property
    def code(self) -> str:
        """The ready-to-paste line of the first candidate."""
        return self.candidates[0].code

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (tensors as lists)."""
        return {
            "task": self.task,
            "stats": {k: getattr(self.stats, k) for k in self.stats.__dataclass_fields__},
            "reasons": list(self.reasons),
            "candidates": [
                {
                    "rank": c.rank,
                    "name": c.name,
                    "loss": c.loss,
                    "options": {k: _jsonable(v) for k, v in c.options.items()},
                    "reasons": list(c.reasons),
                    "code": c.code,
                    "baseline": c.baseline,
                }
                for c in self.candidates
            ],
        }

    def __str__(self) -> str:
        lines = [f"task: {self.task}"]
        lines += [f"  {s}" for s in self.stats.lines()]
        lines += [f"  - {r}" for r in self.reasons]
        lines.append("candidates, best first:")
        for c in self.candidates:
            tag = " (baseline)" if c.baseline else ""
            lines.append(f"  {c.rank}. {c.name}: {c.loss}{tag}")
            lines += [f"       {r}" for r in c.reasons]
            lines.append(f"       {c.code}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the loss menu
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MenuEntry:
    """One row of :data:`LOSS_MENU`."""

    name: str
    loss: str
    """The losskit class name."""
    tasks: frozenset[str]
    head: str
    """What the network must output: ``"logits"`` (one per class, class-index target), ``"sigmoid"`` (one logit
    per label, 0/1 float target of the same shape), ``"ordinal"`` (one logit per threshold between ordered
    classes, K - 1 for K classes, class-index target) or ``"value"`` (real predictions)."""
    summary: str
    configure: Callable[[TargetStats, np.ndarray], dict[str, Any]] = lambda stats, y: {}
    """Options for these targets (``y`` as the loss will see them: class indices, 0/1 matrix, or values)."""

    @property
    def available(self) -> bool:
        """Whether this losskit build has the class (some families land later)."""
        import losskit

        return hasattr(losskit, self.loss)

    def build(self, stats: TargetStats, targets: np.ndarray) -> nn.Module:
        return _loss_class(self.loss)(**self.configure(stats, targets))


def _class_weight_method(stats: TargetStats) -> str:
    """``"inverse"`` for two classes (the same strength as ``pos_weight = negatives / positives``, so the binary
    candidates rebalance alike); for more classes 1/sqrt, or the effective number from
    :data:`SEVERE_IMBALANCE_RATIO` on."""
    if stats.num_classes == 2:
        return "inverse"
    ratio = stats.imbalance_ratio or 1.0
    return "effective_number" if ratio >= SEVERE_IMBALANCE_RATIO else "inverse_sqrt"


def _weight_ratio(stats: TargetStats) -> float:
    """Largest over smallest class weight that :func:`_class_weights` gives (the rebalancing strength)."""
    from . import weights

    counts = [c for c in stats.class_counts or () if c > 0]
    if len(counts) < 2:
        return 1.0
    w = weights._weights_from_counts("advisor", torch.tensor(counts, dtype=torch.float64),
                                     _class_weight_method(stats), 0.999)
    return float(w.max() / w.min())


def _class_weights(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    from . import weights

    w = weights.class_weights(
        torch.as_tensor(np.asarray(y), dtype=torch.long), stats.num_classes, method=_class_weight_method(stats)
    )
    return {"weight": w.float()}


def _pos_weight(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    from . import weights

    t = torch.as_tensor(np.asarray(y), dtype=torch.float32)
    return {"pos_weight": weights.pos_weight(t.reshape(len(t), -1)).float()}


def _sigmoid_focal(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    # alpha weights the positive term and 1 - alpha the negative one. On imbalanced targets alpha = 1 - rate (the
    # share of negatives) weights each class by the other's share, whichever is rare: positives:negatives
    # alpha/(1 - alpha) = negatives/positives, the strength of pos_weight ("alpha may be set by inverse class
    # frequency", Lin et al., 2017). 0.5 keeps both terms equal on balanced targets.
    rate = float(np.asarray(y, dtype=np.float64).mean()) if np.asarray(y).size else 0.5
    alpha = round(1.0 - rate, 3) if stats.imbalanced and 0.0 < rate < 1.0 else 0.5
    return {"alpha": alpha, "gamma": 2.0}


def _huber_delta(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    sigma = stats.mad_sigma if stats.mad_sigma else (stats.std or 1.0)
    return {"delta": float(f"{HUBER_K * sigma:.4g}")}


def _smooth_l1_beta(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    sigma = stats.mad_sigma if stats.mad_sigma else (stats.std or 1.0)
    return {"beta": float(f"{HUBER_K * sigma:.4g}")}


_CLS = frozenset({"binary", "multiclass"})
_SIG = frozenset({"binary", "multilabel"})
_REG = frozenset({"regression"})

LOSS_MENU: dict[str, MenuEntry] = {
    e.name: e
    for e in [
        MenuEntry("ce", "CrossEntropyLoss", _CLS, "logits", "plain cross-entropy (softmax over classes)"),
        MenuEntry(
            "ce-weighted", "CrossEntropyLoss", _CLS, "logits", "cross-entropy with class weights from the counts",
            _class_weights,
        ),
        MenuEntry(
            "ce-smooth", "CrossEntropyLoss", _CLS, "logits", "cross-entropy with label smoothing 0.1",
            lambda s, y: {"label_smoothing": 0.1},
        ),
        MenuEntry("focal", "FocalLoss", _CLS, "logits", "focal loss, gamma=2 (down-weights easy examples)",
                  lambda s, y: {"gamma": 2.0}),
        MenuEntry(
            "focal-weighted", "FocalLoss", _CLS, "logits", "focal loss, gamma=2, with class weights",
            lambda s, y: {**_class_weights(s, y), "gamma": 2.0},
        ),
        MenuEntry("poly", "PolyLoss", _CLS, "logits", "Poly-1 loss, epsilon=1 (cross-entropy + epsilon(1 - p_t))",
                  lambda s, y: {"epsilon": 1.0}),
        MenuEntry("gce", "GeneralizedCrossEntropyLoss", _CLS, "logits",
                  "generalized cross-entropy, q=0.7 (robust to noisy labels)", lambda s, y: {"q": 0.7}),
        MenuEntry("coral", "CoralLoss", _CLS, "ordinal",
                  "ordinal loss (CORAL): one binary cross-entropy per threshold 'is the class above k?'"),
        MenuEntry("bce", "BCEWithLogitsLoss", _SIG, "sigmoid", "binary cross-entropy on logits"),
        MenuEntry("bce-posweight", "BCEWithLogitsLoss", _SIG, "sigmoid",
                  "binary cross-entropy with pos_weight = negatives / positives", _pos_weight),
        MenuEntry("bce-smooth", "BCEWithLogitsLoss", _SIG, "sigmoid", "binary cross-entropy with label smoothing 0.05",
                  lambda s, y: {"label_smoothing": 0.05}),
        MenuEntry("sigmoid-focal", "SigmoidFocalLoss", _SIG, "sigmoid", "sigmoid focal loss, gamma=2", _sigmoid_focal),
        MenuEntry("asl", "AsymmetricLoss", _SIG, "sigmoid",
                  "asymmetric loss (focuses and clips the many easy negatives)"),
        MenuEntry("mse", "MSELoss", _REG, "value", "mean squared error (fits the mean)"),
        MenuEntry("l1", "L1Loss", _REG, "value", "mean absolute error (fits the median)"),
        MenuEntry("huber", "HuberLoss", _REG, "value", "Huber loss, delta = 1.345 robust sigma", _huber_delta),
        MenuEntry("smooth-l1", "SmoothL1Loss", _REG, "value", "smooth L1 loss, beta = 1.345 robust sigma",
                  _smooth_l1_beta),
        MenuEntry("logcosh", "LogCoshLoss", _REG, "value", "log-cosh loss (quadratic near 0, linear far out)"),
        MenuEntry("quantile", "QuantileLoss", _REG, "value", "quantile (pinball) loss at the median",
                  lambda s, y: {"quantiles": 0.5}),
    ]
}


def menu_names(task: str | None = None) -> list[str]:
    """The menu's short names, optionally only those serving ``task``."""
    return [n for n, e in LOSS_MENU.items() if task is None or task in e.tasks]


def resolve_loss_names(spec: str | Sequence[str], task: str, *, where: str = "compare") -> list[str]:
    """Turn ``"a,b,c"`` (or a list) into menu names valid for ``task``, with close matches for typos.

    Raises:
        LossOptionError: an unknown name (with the close matches), a name that does not serve ``task``, a loss
            this build of losskit does not have yet, or an empty list.
    """
    names = [n.strip().lower() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        raise V.LossOptionError(f"{where}: losses must name at least one loss, but got {spec!r}; "
                                f"pass e.g. --losses {','.join(menu_names(task)[:3])}")
    out: list[str] = []
    for n in names:
        if n not in LOSS_MENU:
            close = difflib.get_close_matches(n, list(LOSS_MENU), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"choose from {', '.join(LOSS_MENU)}"
            raise V.LossOptionError(f"{where}: losses has an unknown name {n!r}; {hint}")
        entry = LOSS_MENU[n]
        if task not in entry.tasks:
            raise V.LossOptionError(
                f"{where}: loss {n!r} serves {'/'.join(sorted(entry.tasks))} targets, but got a {task} task; "
                f"choose from {', '.join(menu_names(task))}"
            )
        if not entry.available:
            raise V.LossOptionError(
                f"{where}: loss {n!r} needs losskit.{entry.loss}, but got a losskit build without it; "
                f"upgrade losskit or choose from {', '.join(m for m in menu_names(task) if LOSS_MENU[m].available)}"
            )
        if n not in out:
            out.append(n)
    return out


def _loss_class(name: str) -> type:
    import losskit

    cls = getattr(losskit, name, None)
    if cls is None:
        raise V.LossOptionError(
            f"advisor: the loss losskit.{name} must exist to build this candidate, but got a losskit build "
            f"without it; upgrade losskit or pick another candidate"
        )
    return cls


# --------------------------------------------------------------------------------------------
# inference of the task and statistics
# --------------------------------------------------------------------------------------------
def _as_array(targets: object) -> np.ndarray:
    if isinstance(targets, Tensor):
        return targets.detach().cpu().numpy()
    try:
        arr = np.asarray(targets)
    except (TypeError, ValueError) as err:
        raise V.LossTypeError(
            f"recommend: targets must be a tensor, array or list of numbers, but got {type(targets).__name__} "
            f"({err}); pass e.g. torch.as_tensor(labels)"
        ) from None
    return arr


def _dtype_name(targets: object, arr: np.ndarray) -> str:
    return str(targets.dtype) if isinstance(targets, Tensor) else str(arr.dtype)


def _infer_task(arr: np.ndarray, reasons: list[str]) -> str:
    if arr.dtype == bool:
        reasons.append("boolean targets: a binary (or multi-label) task")
        return "binary" if arr.ndim == 1 or arr.shape[1] == 1 else "multilabel"
    integral = bool(np.all(np.mod(arr, 1) == 0))
    values = np.unique(arr)
    zero_one = bool(np.isin(values, (0, 1)).all())
    if arr.ndim == 2 and arr.shape[1] > 1:
        if zero_one:
            if np.all(arr.sum(1) == 1):
                reasons.append(
                    "every row holds exactly one 1: one-hot class labels, read as a multi-class task (losskit's "
                    "cross-entropy wants class indices: use targets.argmax(1))"
                )
                return "multiclass"
            reasons.append(f"rows of 0/1 with several 1s per row: a multi-label task over {arr.shape[1]} labels")
            return "multilabel"
        reasons.append(f"real-valued targets with {arr.shape[1]} columns: multi-output regression")
        return "regression"
    is_int_dtype = np.issubdtype(arr.dtype, np.integer)
    if integral and values.size == 2 and zero_one:
        reasons.append("two values, 0 and 1: a binary task")
        return "binary"
    if integral and values.size <= 2:
        reasons.append(f"two distinct values {values.tolist()}: a binary task (map them to 0/1)")
        return "binary"
    if is_int_dtype and values.size <= MAX_INDEX_CLASSES:
        reasons.append(f"integer targets with {values.size} distinct values: class indices, a multi-class task")
        return "multiclass"
    if integral and not is_int_dtype and values.size <= 20 and values.min() >= 0:
        reasons.append(
            f"floating targets holding only the integers {values.min():g}..{values.max():g}: read as class indices "
            "(pass task='regression' if they are quantities)"
        )
        return "multiclass"
    if is_int_dtype:
        reasons.append(f"integer targets with {values.size} distinct values: too many for classes, read as regression")
    else:
        reasons.append("real-valued targets: a regression task")
    return "regression"


def _classification_stats(arr: np.ndarray, dtype: str, task: str) -> tuple[TargetStats, np.ndarray]:
    n = arr.shape[0]
    if task == "multilabel":
        y = (arr.reshape(n, -1) > 0).astype(np.int64)
        pos = y.sum(0)
        neg = n - pos
        ratios = [max(p, q) / max(min(p, q), 1) for p, q in zip(pos, neg)]
        stats = TargetStats(
            num_samples=n, shape=tuple(arr.shape), dtype=dtype, num_classes=int(y.shape[1]),
            class_counts=tuple(int(p) for p in pos), imbalance_ratio=float(max(ratios)),
            labels_per_row=float(y.sum(1).mean()),
        )
        return stats, y
    if arr.ndim == 2:
        arr = arr.argmax(1) if arr.shape[1] > 1 else arr[:, 0]
    values, y = np.unique(arr, return_inverse=True)
    num_classes = int(values.size)
    if task == "multiclass" and values.min() >= 0 and np.all(np.mod(values, 1) == 0):
        # class indices as given (a class may be absent from this sample)
        y = arr.astype(np.int64)
        num_classes = int(values.max()) + 1
    counts = np.bincount(y.reshape(-1), minlength=num_classes)
    present = counts[counts > 0]
    stats = TargetStats(
        num_samples=n, shape=tuple(arr.shape), dtype=dtype, num_classes=max(num_classes, 2),
        class_counts=tuple(int(c) for c in counts), imbalance_ratio=float(present.max() / present.min()),
    )
    return stats, y.reshape(-1)


def _regression_stats(arr: np.ndarray, dtype: str) -> TargetStats:
    y = arr.astype(np.float64).reshape(arr.shape[0], -1)
    med = np.median(y, 0)
    mad = np.median(np.abs(y - med), 0)
    std = y.std(0)
    safe_mad = np.where(mad > 0, mad, np.where(std > 0, std / 1.4826, 1.0))
    z = 0.6745 * np.abs(y - med) / safe_mad
    centred = y - y.mean(0)
    skew = (centred**3).mean(0) / np.where(std > 0, std, 1.0) ** 3
    return TargetStats(
        num_samples=arr.shape[0], shape=tuple(arr.shape), dtype=dtype,
        mean=float(y.mean()), std=float(std.mean()), median=float(med.mean()),
        mad_sigma=float((1.4826 * safe_mad).mean()), outlier_share=float((z > MAD_Z).any(1).mean()),
        skewness=float(skew.mean()), minimum=float(y.min()), maximum=float(y.max()),
    )


# --------------------------------------------------------------------------------------------
# the ranking
# --------------------------------------------------------------------------------------------
def _plan(task: str, stats: TargetStats, noisy_labels: bool, ordinal: bool = False) -> list[tuple[str, list[str]]]:
    """Menu names in rank order, each with its reasons."""
    if ordinal and task == "multiclass":
        rest = [p for p in _plan(task, stats, noisy_labels) if p[0] not in ("ce", "coral")]
        return [
            ("coral", [f"the {stats.num_classes} classes are ordered: CORAL asks 'is the class above k?' at each of "
                       f"the {(stats.num_classes or 2) - 1} thresholds, so a prediction one class off costs less "
                       "than one far off; cross-entropy treats the classes as unordered"]),
            ("ce", ["the baseline: plain cross-entropy, which ignores the order of the classes"]),
            *rest,
        ]
    if task == "regression":
        share = stats.outlier_share or 0.0
        out_words = f"{share:.1%} of the targets lie beyond the MAD rule"
        huber = ("quadratic within delta = 1.345 robust sigma of the target, linear beyond: the efficiency of MSE on "
                 "Gaussian errors, the pull of L1 on outliers")
        if share > OUTLIER_SHARE:
            return [
                ("huber", [f"{out_words}: MSE would square their errors and chase them", huber]),
                ("l1", ["fits the conditional median, which outliers barely move; slower to converge near 0"]),
                ("logcosh", ["smooth everywhere, about squared for small errors and absolute for large ones "
                             "(in target units: scale the target if its spread is far from 1)"]),
                ("mse", ["the baseline: optimal for Gaussian noise but dominated by the outliers"]),
            ]
        return [
            ("mse", [f"only {out_words}: the errors look light-tailed, and MSE fits the mean efficiently"]),
            ("huber", [huber, "a safe alternative if outliers appear later"]),
            ("logcosh", ["smooth, about MSE for small errors, robust for large ones"]),
            ("l1", ["fits the median: prefer it if the mean is not what you need"]),
        ]
    if task == "multilabel":
        ratio = stats.imbalance_ratio or 1.0
        first = ("bce-posweight", [f"the rarest label is outnumbered {ratio:.3g}:1 by its negatives: pos_weight = "
                                   "negatives/positives per label restores their share of the gradient"])
        plain = ("bce", ["one independent sigmoid per label: the standard multi-label loss"])
        plan = [
            first if stats.imbalanced else plain,
            ("asl", ["multi-label rows are mostly negatives: the asymmetric loss focuses on hard negatives and "
                     "discards very easy ones"]),
            ("sigmoid-focal", ["focal term (gamma=2) down-weights the easy labels; alpha = 1 - the overall positive "
                               "rate (one value for every label, while pos_weight is set per label)"]),
        ]
        if stats.imbalanced:
            plan.append(("bce", ["the baseline: plain binary cross-entropy per label"]))
        return plan
    ratio = stats.imbalance_ratio or 1.0
    counts = stats.class_counts or ()
    if task == "binary":
        if stats.imbalanced:
            rare, common = ("positives", "negatives") if counts[1] < counts[0] else ("negatives", "positives")
            strength = (f"every rebalancing candidate here weights the rare {rare} {ratio:.3g}:1 against the others "
                        "(the inverse of the class counts), so they differ in the loss, not in the strength")
            return [
                ("bce-posweight", [f"{counts[0]} negatives for {counts[1]} positives ({ratio:.3g}:1): pos_weight = "
                                   f"negatives/positives = {counts[0] / max(counts[1], 1):.3g} gives both classes "
                                   "the same total weight", strength]),
                ("sigmoid-focal", [f"focal term (gamma=2) stops the many easy {common} from dominating; alpha = "
                                   f"the share of negatives weights the rare {rare} "
                                   f"{ratio:.3g}:1, the strength of pos_weight"]),
                ("bce", ["the baseline: plain binary cross-entropy, biased toward the majority class"]),
                ("ce-weighted", [f"the same rebalancing with two softmax logits: class weights 1/count, ratio "
                                 f"{_weight_ratio(stats):.3g}:1 like pos_weight"]),
            ]
        plan = [
            ("bce", [f"balanced classes ({counts[0]} / {counts[1]}): plain binary cross-entropy on one logit"]),
            ("bce-smooth", ["label smoothing 0.05 keeps the logit from growing without bound; it may help accuracy "
                            "but often worsens calibration: compare the ECE column"]),
            ("sigmoid-focal", ["focal term for hard examples; rarely needed on balanced data"]),
        ]
        if noisy_labels:
            plan.insert(1, ("gce", ["noisy labels expected: generalized cross-entropy (q=0.7) bounds the loss of "
                                    "a wrong label"]))
        return plan
    if stats.imbalanced:
        method = _class_weight_method(stats)
        why = {"inverse": "1/count", "inverse_sqrt": "1/sqrt(count) (milder than 1/count)",
               "effective_number": "the effective number of samples (beta=0.999, Cui et al., 2019)"}[method]
        wr = _weight_ratio(stats)
        plan = [
            ("ce-weighted", [f"{stats.num_classes} classes from {max(counts)} down to {min(c for c in counts if c)} "
                             f"rows ({ratio:.3g}:1): class weights by {why}, rarest to largest {wr:.3g}:1, give the "
                             "rare classes a larger share of the gradient"]),
            ("focal", ["focal loss (gamma=2) down-weights the easy, mostly majority-class examples without "
                       "needing the counts"]),
            ("ce", ["the baseline: plain cross-entropy favours the large classes"]),
            ("focal-weighted", [f"the focal term with the same class weights as ce-weighted ({wr:.3g}:1)"]),
        ]
    else:
        plan = [
            ("ce", [f"{stats.num_classes} classes, balanced (largest/smallest {ratio:.3g}:1): plain cross-entropy "
                    "is the strong default"]),
            ("ce-smooth", ["label smoothing 0.1: a regulariser against over-confident logits; it may help accuracy, "
                           "but it often worsens calibration (on digits the lab measured a higher ECE than plain "
                           "CE): compare the ECE column"]),
            ("poly", ["Poly-1 adds epsilon(1 - p_t) to cross-entropy (small gains reported on image "
                      "classification, Leng et al., 2022): a point of comparison"]),
            ("focal", ["focal loss (gamma=2): mainly for imbalance; here a point of comparison"]),
        ]
    if noisy_labels:
        plan.insert(1, ("gce", ["noisy labels expected: generalized cross-entropy (q=0.7) bounds the loss of a "
                                "wrong label, between cross-entropy and MAE"]))
        plan = [p for p in plan if p[0] != "focal-weighted"]
    return plan


def _float_literal(v: float) -> str:
    """4 significant digits that still read as a float (``9.0``, not ``9``: a float tensor, not an int one)."""
    text = f"{v:.4g}"
    return text if any(c in text for c in ".eni") else text + ".0"


def _render(value: object) -> str:
    if isinstance(value, Tensor):
        vals = value.detach().cpu().reshape(-1).tolist()
        return "torch.tensor([" + ", ".join(_float_literal(v) for v in vals) + "])"
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


def _code(loss: str, options: dict[str, Any], stats: TargetStats) -> str:
    parts = []
    for k, v in options.items():
        if isinstance(v, Tensor) and v.numel() > 20:  # too long to print: compute it from the targets
            if k == "weight":
                v = f"lk.weights.class_weights(targets, method={_class_weight_method(stats)!r})"
            else:
                v = f"lk.weights.{k}(targets)"
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={_render(v)}")
    return f"loss_fn = lk.{loss}({', '.join(parts)})"


def _jsonable(value: object) -> object:
    if isinstance(value, Tensor):
        return value.detach().cpu().tolist()
    return value


def _prepare_targets(targets: object, task: str | None, where: str = "recommend") -> tuple[np.ndarray, str]:
    arr = _as_array(targets)
    dtype = _dtype_name(targets, arr)
    if arr.dtype.kind not in "biuf":
        raise V.LossTypeError(
            f"{where}: targets must be numeric (bool, integer or float), but got dtype {dtype}; "
            "encode labels as integers first (e.g. numpy.unique(labels, return_inverse=True)[1])"
        )
    if arr.ndim == 0 or arr.ndim > 2:
        raise V.LossShapeError(
            f"{where}: targets must be 1-D (N,) or 2-D (N, K), but got shape {V.shape_str(arr.shape)}; "
            "pass one row per sample"
        )
    if arr.shape[0] < 2:
        raise V.LossValueError(
            f"{where}: targets must hold at least 2 samples, but got {arr.shape[0]}; pass the training targets"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).sum())
        raise V.NonFiniteError(
            f"{where}: targets must be finite, but got {bad} NaN or infinite value(s) out of {arr.size}; "
            "drop or impute those rows first"
        )
    if task is not None and task not in TASKS:
        close = difflib.get_close_matches(str(task), TASKS, n=1)
        raise V.LossOptionError(
            f"{where}: task must be one of {', '.join(map(repr, TASKS))} or None, but got {task!r}; "
            + (f"did you mean {close[0]!r}?" if close else "pass task=None to infer it")
        )
    return arr, dtype


def recommend(targets: object, task: str | None = None, *, noisy_labels: bool = False,
              ordinal: bool = False) -> Recommendation:
    """Recommend configured losses for ``targets``.

    Args:
        targets: the training targets: a tensor, array or list. ``(N,)`` class indices, 0/1 or bool labels, or
            real values; ``(N, K)`` 0/1 multi-hot rows (multi-label), one-hot rows, or real values.
        task: ``"binary"``, ``"multiclass"``, ``"multilabel"`` or ``"regression"``; ``None`` (default) infers it.
        noisy_labels: the labels are known to be noisy (adds generalized cross-entropy to classification).
        ordinal: the classes are ordered (0 < 1 < 2 ...: ratings, grades); for three or more classes the ordinal
            loss ``coral`` comes first, against plain cross-entropy as the baseline.

    Returns:
        A :class:`Recommendation`: the task, :class:`TargetStats`, ranked :class:`Candidate` losses (each with
        its options already computed, its reasons and a code line), and the reasons for the task.
        Candidates whose loss this losskit build does not have are left out (with a reason).

    Raises:
        LossTypeError: non-numeric targets.
        LossShapeError: targets that are not 1-D or 2-D.
        NonFiniteError: NaN or infinite targets.
        LossValueError: fewer than 2 samples, one class only, or constant regression targets.
        LossOptionError: an unknown ``task``.

    Example:
        >>> from losskit.advisor import recommend
        >>> rec = recommend([0, 1, 1, 0, 1, 0, 0, 1])
        >>> rec.task, rec.stats.imbalance_ratio
        ('binary', 1.0)
    """
    arr, dtype = _prepare_targets(targets, task)
    reasons: list[str] = []
    if task is None:
        task = _infer_task(arr, reasons)
    else:
        reasons.append(f"task given: {task}")
    if task == "regression":
        if arr.dtype == bool:
            arr = arr.astype(np.float64)
        stats = _regression_stats(arr, dtype)
        y = arr.astype(np.float64)
        if stats.std == 0:
            raise V.LossValueError(
                f"recommend: regression targets must vary, but got the constant {stats.mean:g} in all "
                f"{stats.num_samples} rows; check the target column"
            )
        if stats.skewness is not None and stats.skewness > LONG_TAIL_SKEW and (stats.minimum or 0) >= 0:
            reasons.append(f"the targets are long-tailed (skewness {stats.skewness:.3g}) and not negative: try "
                           "training on log1p(target) (losskit compare --target-transform log; metrics stay on the "
                           "original scale)")
    else:
        if task in ("binary", "multiclass") and arr.ndim == 2 and arr.shape[1] > 1 and task == "binary":
            raise V.LossShapeError(
                f"recommend: binary targets must have shape (N,) or (N, 1), but got {V.shape_str(arr.shape)}; "
                "pass task='multilabel' for several 0/1 labels per row"
            )
        if task == "multilabel" and (arr.ndim != 2 or not np.isin(np.unique(arr), (0, 1)).all()):
            raise V.LossValueError(
                f"recommend: multilabel targets must be a 2-D matrix of 0/1, but got shape "
                f"{V.shape_str(arr.shape)} with values {np.unique(arr)[:6].tolist()}; pass multi-hot rows"
            )
        if task != "multilabel" and arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
            raise V.LossValueError(
                f"recommend: {task} targets must be class indices, but got non-integer values such as "
                f"{arr[np.mod(arr, 1) != 0].reshape(-1)[0]:g}; pass task='regression' or integer labels"
            )
        stats, y = _classification_stats(arr, dtype, task)
        present = sum(1 for c in (stats.class_counts or ()) if c > 0)
        if task != "multilabel" and present < 2:
            raise V.LossValueError(
                f"recommend: targets must hold at least two classes, but got one class "
                f"({np.unique(arr).tolist()[:1]}) in {stats.num_samples} rows; a classifier cannot learn from "
                "one class: check the target column or the data filtering"
            )
        if task == "multilabel" and any(c == 0 for c in stats.class_counts or ()):
            empty = [i for i, c in enumerate(stats.class_counts or ()) if c == 0]
            reasons.append(f"labels {empty[:10]} have no positive row: no loss can learn them from these targets")
        if task == "binary" and stats.num_classes != 2:
            stats = TargetStats(**{**stats.__dict__, "num_classes": 2})
        if stats.imbalanced:
            reasons.append(f"imbalanced: the ratio {stats.imbalance_ratio:.3g}:1 is above {IMBALANCE_RATIO:g}:1")
    if task == "regression" and stats.outlier_share and stats.outlier_share > OUTLIER_SHARE:
        reasons.append(f"{stats.outlier_share:.1%} outliers by the MAD rule (modified z-score > {MAD_Z})")

    candidates: list[Candidate] = []
    baseline = "mse" if task == "regression" else ("bce" if task in ("binary", "multilabel") else "ce")
    if task == "binary" and stats.imbalanced:
        baseline = "bce"
    if ordinal and task == "binary":
        reasons.append("ordered classes: with two classes the ordinal loss is binary cross-entropy; no ordinal "
                       "candidate added")
    elif ordinal and task != "multiclass":
        raise V.LossOptionError(f"recommend: ordinal applies to class targets, but got a {task} task; drop "
                                "ordinal=True (--ordinal)")
    for name, why in _plan(task, stats, noisy_labels, ordinal):
        entry = LOSS_MENU[name]
        if not entry.available:
            reasons.append(f"{name} ({entry.loss}) left out: this losskit build does not have it")
            continue
        options = entry.configure(stats, y)
        candidates.append(
            Candidate(
                rank=len(candidates) + 1, name=name, loss=entry.loss, options=options, reasons=why,
                code=_code(entry.loss, options, stats), baseline=name == baseline,
            )
        )
    if not candidates:
        raise V.LossValueError(
            f"recommend: the candidates for a {task} task must exist in losskit, but got a build without any of "
            f"them; upgrade losskit"
        )
    return Recommendation(task=task, stats=stats, candidates=candidates, reasons=reasons)


# --------------------------------------------------------------------------------------------
# CLI: losskit recommend
# --------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit recommend``."""
    p = subparsers.add_parser(
        "recommend",
        help="recommend configured losses for a data set's target, with the reasons and a code line",
        description="Inspect the target column of a data set (task, class counts, imbalance, outliers) and print "
        "a ranked list of configured losses with the reasons and a ready-to-paste line of code.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME",
                     help="a data set bundled with scikit-learn: digits, breast_cancer, wine, iris or diabetes")
    src.add_argument("--csv", metavar="FILE", help="a CSV file with a header row (use with --target)")
    p.add_argument("--target", metavar="COLUMN", help="the target column of --csv (default: the last column)")
    p.add_argument("--task", choices=TASKS, help="override the inferred task")
    p.add_argument("--noisy-labels", action="store_true", help="the labels are known to be noisy")
    p.add_argument("--ordinal", action="store_true",
                   help="the classes are ordered (numeric labels by value, text labels alphabetically): rank the "
                   "ordinal loss (CORAL) first")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON instead of text")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import json

    from .lab.data import load_data

    data = load_data(args.dataset, args.csv, args.target, where="recommend")
    targets = data.y if data.task != "regression" or args.task else data.y.astype(np.float64)
    rec = recommend(targets, task=args.task, noisy_labels=args.noisy_labels, ordinal=args.ordinal)
    if args.json:
        print(json.dumps({"data": data.name, **rec.to_dict()}, indent=2))
        return 0
    print(f"data: {data.name} ({data.num_rows} rows, {data.X.shape[1]} features, target {data.target_name!r})")
    for note in data.notices:
        print(f"note: {note}")
    print(rec)
    print("\npaste:\n    import torch, losskit as lk\n    " + rec.code)
    return 0

