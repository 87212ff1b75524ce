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

Two more branches serve the families the lab does not train (their table is :data:`FAMILY_MENU`):

* ``task="ranking"``: ``targets`` is the graded relevance ``(N, L)`` of ``N`` lists (with ``mask=`` for padding).
  The advisor reads binary against graded relevance, the real items per list, the lists that have nothing to rank
  (no relevant item, or every item equally relevant: every ranking loss gives them 0), and the share of tied
  pairs, and ranks LambdaLoss, NeuralNDCG, ListNet, ListMLE, RankNet and ApproxNDCG; ``k=`` (the cut-off of the
  NDCG@k you evaluate) configures NeuralNDCG.
* ``task="preference"``: what the user has, not a tensor of targets: whether the reference model's
  log-probabilities are available (``reference=``), paired (chosen/rejected) or unpaired data (``paired=``, or
  the 0/1 desirable labels of unpaired responses as ``targets``), the responses' token counts (``lengths=``) and
  suspected label noise (``noisy_labels=``). It ranks DPO (and cDPO, robust DPO), IPO, SimPO, ORPO, CPO and KTO
  at the defaults their functionals document.

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
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import _validation as V

__all__ = [
    "FAMILY_MENU",
    "FAMILY_TASKS",
    "IMBALANCE_RATIO",
    "LOSS_MENU",
    "OUTLIER_SHARE",
    "STRUCTURED_TASKS",
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
INTERVAL_QUANTILES = (0.1, 0.5, 0.9)
"""The quantiles the ``quantile`` candidate predicts (a head of three outputs): the median is the point prediction,
[q0.1, q0.9] a prediction interval of nominal coverage 0.8."""
MAX_INDEX_CLASSES = 100
"""Integer targets with more distinct values than this are treated as regression (counts, years ...)."""

FAMILY_TASKS = ("ranking", "preference")
"""The tasks of the branches whose losses the lab does not train (:data:`FAMILY_MENU`)."""
STRUCTURED_TASKS = ("segmentation", "retrieval")
"""The lab's Dataset tasks with their own menus (:mod:`losskit.lab.task_segmentation`,
:mod:`losskit.lab.task_retrieval`): never inferred, pass them."""
FULL_ORDER_TIES = 0.05
"""Ranking: up to this share of tied pairs (same list, same relevance) the lists give a full order, ListMLE's
premise, and ListMLE ranks second."""
LISTMLE_MAX_TIES = 0.5
"""Ranking: from this share of tied pairs on, ListMLE is left out (most of its order would be arbitrary)."""
EXP2_MAX_RELEVANCE = 10.0
"""Ranking: above this relevance the exponential gain ``2^y - 1`` lets the top label dwarf the rest (2^10 = 1024);
the NDCG losses are then configured with the linear gain."""
PAIRWISE_MEMORY_ITEMS = 256
"""Ranking: from this many items per list the advisor states the memory of the ``(N, L, L)`` pairwise tensors."""
LENGTH_SPREAD = 2.0
"""Preference: the 90th over the 10th percentile of the response lengths from which lengths "vary a lot" and the
length-normalised losses (SimPO, ORPO) rank first."""
LENGTH_BIAS_SHARE = 0.65
"""Preference: the share of pairs (of unequal lengths) whose chosen response is the longer (or the shorter) from
which summed log-probabilities would mix the preference with the length."""
ASSUMED_FLIP_RATE = 0.1
"""Preference with ``noisy_labels=True``: the flip rate cDPO and robust DPO are configured with (an assumption,
not a measurement: set ``label_smoothing`` to your estimate)."""


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
    unit: str = "targets"
    """What ``num_samples`` counts: ``"targets"``, ``"lists"`` (ranking), ``"pairs"`` or ``"responses"``
    (preference)."""
    list_length_min: int | None = None
    """Ranking: fewest real (unmasked) items in a list."""
    list_length_max: int | None = None
    list_length_mean: float | None = None
    relevance_levels: tuple[float, ...] | None = None
    """Ranking: the distinct relevance values of the real items (the first 20)."""
    num_levels: int | None = None
    """Ranking: how many distinct relevance values; 2 or fewer is binary relevance."""
    relevant_per_list: float | None = None
    """Ranking: mean number of real items with relevance > 0 per list."""
    no_relevant_share: float | None = None
    """Ranking: share of lists whose real items all have relevance 0 (every ranking loss gives them 0)."""
    unrankable_share: float | None = None
    """Ranking: share of lists without two real items of different relevance (the no-relevant ones included)."""
    tie_share: float | None = None
    """Ranking: share of the pairs of real items of a rankable list that have equal relevance."""
    softmax_relevant_mass: float | None = None
    """Ranking: mean share of ListNet's softmax target (``exp(y) / sum exp(y)``) on the relevant items."""
    length_p10: float | None = None
    """Preference: 10th percentile of the response lengths (tokens)."""
    length_p90: float | None = None
    length_spread: float | None = None
    """Preference: ``length_p90 / length_p10``."""
    chosen_longer_share: float | None = None
    """Preference, paired lengths: share of the pairs of unequal lengths whose chosen response is the longer."""
    foreground_fraction: float | None = None
    """Segmentation: share of the pixels of a class > 0."""
    empty_share: float | None = None
    """Segmentation: share of the masks without a foreground pixel."""
    class_share: tuple[float, ...] | None = None
    """Segmentation: share of the pixels of each class."""
    singleton_classes: int | None = None
    """Retrieval: classes with one item (no positive pair)."""
    per_class_median: float | None = None
    """Retrieval: the median number of items per class."""

    @property
    def imbalanced(self) -> bool:
        return self.imbalance_ratio is not None and self.imbalance_ratio >= IMBALANCE_RATIO

    @property
    def graded(self) -> bool:
        """Ranking: more than two relevance levels."""
        return (self.num_levels or 0) > 2

    def lines(self) -> list[str]:
        """The statistics in plain words, one per line."""
        if self.num_samples == 0:
            return ["no data given: the advice rests on the options (reference, paired, lengths, noisy_labels)"]
        out = [f"{self.num_samples} {self.unit}, shape {V.shape_str(self.shape)}, dtype {self.dtype}"]
        if self.unit == "lists":
            return out + self._ranking_lines()
        if self.unit == "masks":
            shares = ", ".join(f"{v:.3g}" for v in (self.class_share or ())[:20])
            return [*out, f"{self.num_classes} classes, pixel shares [{shares}]; foreground (class > 0) "
                    f"{self.foreground_fraction:.1%} of the pixels; {self.empty_share:.1%} of the masks empty"]
        if self.unit == "responses" and self.class_counts is not None:
            out.append(f"{self.class_counts[1]} desirable, {self.class_counts[0]} undesirable responses")
        elif self.class_counts is not None:
            more = ", ..." if len(self.class_counts) > 20 else ""
            counts = ", ".join(str(c) for c in self.class_counts[:20]) + more
            out.append(f"{self.num_classes} classes/labels, counts [{counts}]")
        if self.imbalance_ratio is not None:
            out.append(f"imbalance ratio {self.imbalance_ratio:.3g}:1")
        if self.per_class_median is not None:
            out.append(f"median {self.per_class_median:g} items per class; {self.singleton_classes} classes with one "
                       "item")
        if self.labels_per_row is not None:
            out.append(f"{self.labels_per_row:.3g} positive labels per row on average")
        if self.mean is not None:
            out.append(
                f"mean {self.mean:.4g}, std {self.std:.4g}, median {self.median:.4g}, robust sigma (1.4826 MAD) "
                f"{self.mad_sigma:.4g}, range [{self.minimum:.4g}, {self.maximum:.4g}], skewness {self.skewness:.3g}"
            )
            out.append(f"outliers (modified z-score > {MAD_Z}): {self.outlier_share:.1%}")
        if self.length_spread is not None:
            out.append(f"response lengths: 10th percentile {self.length_p10:.4g}, 90th {self.length_p90:.4g} tokens "
                       f"({self.length_spread:.3g}x)")
        if self.chosen_longer_share is not None:
            out.append(f"the chosen response is the longer in {self.chosen_longer_share:.1%} of the pairs of unequal "
                       "lengths")
        return out

    def _ranking_lines(self) -> list[str]:
        levels = ", ".join(f"{v:g}" for v in self.relevance_levels or ())
        more = ", ..." if (self.num_levels or 0) > len(self.relevance_levels or ()) else ""
        return [
            f"real items per list: {self.list_length_min} to {self.list_length_max}, mean {self.list_length_mean:.3g}",
            f"{self.num_levels} relevance levels [{levels}{more}] ({'graded' if self.graded else 'binary'}), "
            f"{self.relevant_per_list:.3g} relevant items per list on average",
            f"lists without a relevant item: {self.no_relevant_share:.1%}; with nothing to rank (that, or every "
            f"item equally relevant, or fewer than 2 items): {self.unrankable_share:.1%}",
            f"tied pairs (same list, same relevance) in the rankable lists: {self.tie_share:.1%}",
        ]


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
    inputs: str = ""
    """Ranking and preference: what the loss is called on (which log-probabilities: summed or per-token averages)."""

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
                    "inputs": c.inputs,
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
            if c.inputs:
                lines.append(f"       {c.inputs}")
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
    classes, K - 1 for K classes, class-index target), ``"value"`` (real predictions) or ``"quantiles"`` (one
    real prediction per quantile of :data:`INTERVAL_QUANTILES`, ``(N, 3)``); in :data:`FAMILY_MENU`
    ``"scores"`` (one score per item of a list) or ``"log-probs"`` (per-sequence log-probabilities)."""
    summary: str
    configure: Callable[[TargetStats, np.ndarray], dict[str, Any]] = lambda stats, y: {}
    """Options for these targets (``y`` as the loss will see them: class indices, 0/1 matrix, or values)."""
    inputs: str = ""
    """:data:`FAMILY_MENU`: what the loss is called on."""

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
        MenuEntry("quantile", "QuantileLoss", _REG, "quantiles",
                  "quantile (pinball) loss at 0.1, 0.5 and 0.9: the median as the point prediction, [q0.1, q0.9] an "
                  "80% interval", lambda s, y: {"quantiles": INTERVAL_QUANTILES}),
    ]
}



def _ranking_gain(stats: TargetStats) -> str:
    levels = stats.relevance_levels or (0.0,)
    return "linear" if max(levels) > EXP2_MAX_RELEVANCE else "exp2"


def _kto_weights(stats: TargetStats, y: np.ndarray) -> dict[str, Any]:
    """``desirable_weight`` and ``undesirable_weight`` that bring lambda_D B_D / (lambda_U B_U) into [1, 4/3], the
    range Ethayarajh et al. advise; rounded up to 3 decimals so that the rounding cannot leave the range."""
    counts = stats.class_counts
    if counts is None or min(counts) == 0:
        return {"beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.0}
    undesirable, desirable = counts
    ratio = desirable / undesirable
    if ratio < 1.0:
        return {"beta": 0.1, "desirable_weight": math.ceil(1000.0 / ratio) / 1000.0, "undesirable_weight": 1.0}
    if ratio > 4.0 / 3.0:
        return {"beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": math.ceil(750.0 * ratio) / 1000.0}
    return {"beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.0}


_RANK = frozenset({"ranking"})
_PREF = frozenset({"preference"})
_RANK_IN = "loss_fn(scores, relevance, mask)  # (N, L) each; mask: bool, True = real item (None without padding)"
_SUMMED = "summed log-probs, losskit.preference.sequence_log_probs(logits, labels)"
_AVERAGED = "per-token averages, sequence_log_probs(logits, labels, average=True)"
_FOUR = "loss_fn(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps)"

FAMILY_MENU: dict[str, MenuEntry] = {
    e.name: e
    for e in [
        MenuEntry("lambda", "LambdaLoss", _RANK, "scores",
                  "LambdaLoss NDCG-Loss2++: pairwise logistic loss weighted by each pair's effect on NDCG",
                  lambda s, y: {"weighting": "ndcg_loss2pp", "mu": 10.0, "sigma": 1.0, "gain": _ranking_gain(s)},
                  _RANK_IN),
        MenuEntry("neural-ndcg", "NeuralNDCGLoss", _RANK, "scores",
                  "NeuralNDCG: 1 - NDCG@k under a smooth sort (NeuralSort + Sinkhorn)",
                  lambda s, y: {"temperature": 1.0, "powered_relevancies": _ranking_gain(s) == "exp2", "k": None},
                  _RANK_IN),
        MenuEntry("listnet", "ListNetLoss", _RANK, "scores",
                  "ListNet: cross-entropy of the top-one probabilities of relevance and scores",
                  lambda s, y: {"target_transform": "softmax" if s.graded else "linear"}, _RANK_IN),
        MenuEntry("listmle", "ListMLELoss", _RANK, "scores",
                  "ListMLE: Plackett-Luce likelihood of the order by relevance", inputs=_RANK_IN),
        MenuEntry("ranknet", "RankNetLoss", _RANK, "scores",
                  "RankNet: logistic loss on the score difference of each pair of different relevance",
                  lambda s, y: {"sigma": 1.0, "weighting": "none"}, _RANK_IN),
        MenuEntry("approx-ndcg", "ApproxNDCGLoss", _RANK, "scores", "ApproxNDCG: 1 - NDCG with sigmoid-smoothed ranks",
                  lambda s, y: {"temperature": 1.0, "gain": _ranking_gain(s)}, _RANK_IN),
        MenuEntry("dpo", "DPOLoss", _PREF, "log-probs", "DPO, beta=0.1", lambda s, y: {"beta": 0.1},
                  f"{_FOUR}  # (B,) {_SUMMED}"),
        MenuEntry("cdpo", "DPOLoss", _PREF, "log-probs", "conservative DPO: label smoothing = assumed flip rate",
                  lambda s, y: {"beta": 0.1, "label_smoothing": ASSUMED_FLIP_RATE}, f"{_FOUR}  # (B,) {_SUMMED}"),
        MenuEntry("rdpo", "DPOLoss", _PREF, "log-probs", "robust DPO: unbiased under the assumed flip rate",
                  lambda s, y: {"beta": 0.1, "label_smoothing": ASSUMED_FLIP_RATE, "loss_type": "robust"},
                  f"{_FOUR}  # (B,) {_SUMMED}"),
        MenuEntry("dpo-reffree", "DPOLoss", _PREF, "log-probs", "DPO with the reference log-ratio taken as 0",
                  lambda s, y: {"beta": 0.1, "reference_free": True},
                  f"loss_fn(policy_chosen_logps, policy_rejected_logps)  # (B,) {_SUMMED}"),
        MenuEntry("ipo", "IPOLoss", _PREF, "log-probs", "IPO: squared loss pulling the margin to 1/(2 beta)",
                  lambda s, y: {"beta": 0.1}, f"{_FOUR}  # (B,) {_AVERAGED}"),
        MenuEntry("simpo", "SimPOLoss", _PREF, "log-probs", "SimPO: reference-free, length-normalised, with a margin",
                  lambda s, y: {"beta": 2.0, "gamma": 1.0},
                  f"loss_fn(policy_chosen_logps, policy_rejected_logps)  # (B,) {_AVERAGED}"),
        MenuEntry("simpo-smooth", "SimPOLoss", _PREF, "log-probs", "SimPO with label smoothing = assumed flip rate",
                  lambda s, y: {"beta": 2.0, "gamma": 1.0, "label_smoothing": ASSUMED_FLIP_RATE},
                  f"loss_fn(policy_chosen_logps, policy_rejected_logps)  # (B,) {_AVERAGED}"),
        MenuEntry("orpo", "ORPOLoss", _PREF, "log-probs", "ORPO: chosen NLL plus a log-odds-ratio term, no reference",
                  lambda s, y: {"beta": 0.1},
                  f"loss_fn(policy_chosen_logps, policy_rejected_logps)  # (B,) {_AVERAGED}"),
        MenuEntry("cpo", "CPOLoss", _PREF, "log-probs", "CPO: DPO's loss without reference plus the chosen NLL",
                  lambda s, y: {"beta": 0.1, "cpo_alpha": 1.0},
                  f"loss_fn(policy_chosen_logps, policy_rejected_logps, chosen_lengths)  # (B,) {_SUMMED}; "
                  "chosen_lengths: token counts"),
        MenuEntry("kto", "KTOLoss", _PREF, "log-probs", "KTO: unpaired desirable/undesirable responses",
                  _kto_weights,
                  "loss_fn(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, "
                  f"reference_rejected_logps, kl)  # desirable (B_D,), undesirable (B_U,), {_SUMMED}; kl: one value, "
                  "(policy_kl_logps - reference_kl_logps).mean() over mismatched pairs, or torch.tensor(0.0)"),
    ]
}
"""Ranking and preference losses, in the layout of :data:`LOSS_MENU` (their options at the defaults the
functionals document unless the data set them); kept apart because the lab does not train them."""


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
    _check_task(task, where)
    return arr, dtype


def _check_task(task: str | None, where: str = "recommend") -> None:
    known = TASKS + FAMILY_TASKS + STRUCTURED_TASKS
    if task is not None and task not in known:
        close = difflib.get_close_matches(str(task), known, n=1)
        raise V.LossOptionError(
            f"{where}: task must be one of {', '.join(map(repr, known))} or None, but got {task!r}; "
            + (f"did you mean {close[0]!r}?" if close else "pass task=None to infer it")
        )


_FAMILY_OPTIONS = {"mask": "ranking", "k": "ranking", "reference": "preference", "paired": "preference",
                   "lengths": "preference", "embedding_dim": "retrieval"}


def recommend(targets: object = None, task: str | None = None, *, noisy_labels: bool = False,
              ordinal: bool = False, mask: object = None, k: int | None = None, reference: bool | None = None,
              paired: bool | None = None, lengths: object = None,
              embedding_dim: int | None = None) -> Recommendation:
    """Recommend configured losses for ``targets``.

    Args:
        targets: the training targets: a tensor, array or list. ``(N,)`` class indices, 0/1 or bool labels, or
            real values; ``(N, K)`` 0/1 multi-hot rows (multi-label), one-hot rows, or real values. For
            ``task="ranking"`` the relevance ``(N, L)`` of ``N`` lists (0 = not relevant, 1, 2, ... more). For
            ``task="preference"`` optional: the 0/1 (or bool) labels of unpaired responses, 1 = desirable. For
            ``task="segmentation"`` the training masks: ``(N, H, W)`` class indices or ``(N, 1, H, W)`` 0/1. For
            ``task="retrieval"`` the class label ``(N,)`` of every training item.
        task: ``"binary"``, ``"multiclass"``, ``"multilabel"`` or ``"regression"``; ``None`` (default) infers it.
            ``"ranking"``, ``"preference"``, ``"segmentation"`` and ``"retrieval"`` are never inferred: pass them.
            Segmentation reads the foreground share, the empty masks and the pixel share per class (ranked as the
            lab's ``losses="auto"``, cross-entropy first only when the classes are balanced and few masks are empty);
            retrieval reads the items per class (few per class, or many classes of one item: the proxy losses
            ArcFace and CosFace first; else SupCon).
        noisy_labels: the labels are known to be noisy (adds generalized cross-entropy to classification; cDPO,
            robust DPO or SimPO with label smoothing to preference data, at an assumed flip rate of 0.1).
        ordinal: the classes are ordered (0 < 1 < 2 ...: ratings, grades); for three or more classes the ordinal
            loss ``coral`` comes first, against plain cross-entropy as the baseline.
        mask: ranking: optional ``(N, L)`` boolean, ``True`` for a real item, ``False`` for padding.
        k: ranking: the cut-off of the NDCG@k you evaluate (configures NeuralNDCG); ``None``: the whole list.
        reference: preference: whether the reference model's log-probabilities are available (``None``: read as
            available, said in the reasons).
        paired: preference: chosen/rejected pairs (``True``) or unpaired desirable/undesirable responses
            (``False``, KTO); ``None``: unpaired when ``targets`` are given, else paired.
        lengths: preference: token counts of the responses, ``(B, 2)`` chosen and rejected per pair or ``(M,)``
            per response; lengths that vary a lot rank the length-normalised losses first.
        embedding_dim: retrieval: the width of the model's embedding, for ArcFace's and CosFace's centres
            (``None``: 128, said in the reasons).

    Returns:
        A :class:`Recommendation`: the task, :class:`TargetStats`, ranked :class:`Candidate` losses (each with
        its options already computed, its reasons and a code line), and the reasons for the task.
        Candidates whose loss this losskit build does not have are left out (with a reason).

    Raises:
        LossTypeError: non-numeric targets.
        LossShapeError: targets that are not 1-D or 2-D.
        NonFiniteError: NaN or infinite targets.
        LossValueError: fewer than 2 samples, one class only, or constant regression targets; ranking relevance
            that is negative or has no list with anything to rank; preference labels that are not 0/1.
        LossOptionError: an unknown ``task``; an option of another task (``mask`` without ``task="ranking"`` ...).

    Example:
        >>> from losskit.advisor import recommend
        >>> rec = recommend([0, 1, 1, 0, 1, 0, 0, 1])
        >>> rec.task, rec.stats.imbalance_ratio
        ('binary', 1.0)
        >>> recommend([[2, 1, 0, 0], [0, 1, 0, 0]], task="ranking").best.name
        'lambda'
        >>> [c.name for c in recommend(task="preference", reference=False).candidates][:2]
        ['simpo', 'cpo']
    """
    _check_task(task)
    options = {"mask": mask, "k": k, "reference": reference, "paired": paired, "lengths": lengths,
               "embedding_dim": embedding_dim}
    for arg, value in options.items():
        if value is not None and task != _FAMILY_OPTIONS[arg]:
            raise V.LossOptionError(f"recommend: {arg} applies to task={_FAMILY_OPTIONS[arg]!r}, but got task="
                                    f"{task!r}; pass task={_FAMILY_OPTIONS[arg]!r} or drop {arg}")
    if task in FAMILY_TASKS + STRUCTURED_TASKS and ordinal:
        raise V.LossOptionError(f"recommend: ordinal applies to class targets, but got task={task!r}; drop "
                                "ordinal=True")
    if task == "ranking":
        return _recommend_ranking(targets, mask, k, noisy_labels)
    if task == "preference":
        return _recommend_preference(targets, reference, paired, lengths, noisy_labels)
    if task == "segmentation":
        return _recommend_segmentation(targets, noisy_labels)
    if task == "retrieval":
        return _recommend_retrieval(targets, embedding_dim, noisy_labels)
    if targets is None:
        raise V.LossTypeError("recommend: targets must be given, but got None; pass the training targets (only "
                              "task='preference' works without them)")
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
# ranking data
# --------------------------------------------------------------------------------------------
_Step = tuple[str, list[str], dict[str, Any]]
"""One step of a family plan: the :data:`FAMILY_MENU` name, its reasons, and options set by the call."""


def _ranking_stats(rel: np.ndarray, m: np.ndarray, dtype: str) -> TargetStats:
    n, width = rel.shape
    counts = m.sum(1)
    real = rel[m]
    levels, inv = np.unique(real, return_inverse=True)
    relevant = (m & (rel > 0)).sum(1)
    hi = np.where(m, rel, -np.inf).max(1, initial=-np.inf)
    lo = np.where(m, rel, np.inf).min(1, initial=np.inf)
    rankable = hi > lo
    # tied pairs per list: sum over the levels of c (c - 1) / 2, from the counts of (list, level)
    keys, per_key = np.unique(np.nonzero(m)[0] * max(levels.size, 1) + inv.reshape(-1), return_counts=True)
    ties = np.bincount(keys // max(levels.size, 1), weights=per_key * (per_key - 1) / 2.0, minlength=n)
    pairs = counts * (counts - 1) / 2.0
    total_pairs = float(pairs[rankable].sum())
    # ListNet's softmax target exp(y) / sum exp(y) on the rankable lists: the share held by the relevant items
    e = np.where(m, np.exp(rel - np.where(rankable, hi, 0.0)[:, None]), 0.0)
    mass = (e * (rel > 0)).sum(1)[rankable] / e.sum(1)[rankable]
    return TargetStats(
        num_samples=n, shape=(n, width), dtype=dtype, unit="lists",
        list_length_min=int(counts.min()) if n else 0, list_length_max=int(counts.max()) if n else 0,
        list_length_mean=float(counts.mean()) if n else 0.0,
        relevance_levels=tuple(float(v) for v in levels[:20]), num_levels=int(levels.size),
        relevant_per_list=float(relevant.mean()) if n else 0.0,
        no_relevant_share=float((relevant == 0).mean()) if n else 0.0,
        unrankable_share=float((~rankable).mean()) if n else 1.0,
        tie_share=float(ties[rankable].sum()) / total_pairs if total_pairs else 0.0,
        softmax_relevant_mass=float(mass.mean()) if mass.size else None,
    )


def _ranking_arrays(targets: object, mask: object) -> tuple[np.ndarray, np.ndarray, str]:
    if targets is None:
        raise V.LossTypeError("recommend: task='ranking' needs targets, the relevance (N, L) of N lists of L items, "
                              "but got None; pass the training relevance labels")
    arr = _as_array(targets)
    dtype = _dtype_name(targets, arr)
    if arr.dtype.kind not in "biuf":
        raise V.LossTypeError(f"recommend: ranking relevance must be numeric, but got dtype {dtype}; encode the "
                              "grades as numbers (0 = not relevant, 1, 2, ... more relevant)")
    if arr.ndim != 2:
        fix = "use relevance[None] for a single list" if arr.ndim == 1 else "reshape it to (lists, items)"
        raise V.LossShapeError(f"recommend: ranking relevance must have shape (N, L), N lists of L items, but got "
                               f"shape {V.shape_str(arr.shape)}; {fix}")
    rel = arr.astype(np.float64)
    if mask is None:
        m = np.ones(rel.shape, dtype=bool)
    else:
        m = _as_array(mask)
        if m.dtype != bool:
            raise V.LossTypeError(f"recommend: mask must be boolean (True = real item, False = padding), but got "
                                  f"dtype {_dtype_name(mask, m)}; pass mask.bool() (allRank's -1 padding: "
                                  "relevance != -1)")
        if m.shape != rel.shape:
            raise V.LossShapeError(f"recommend: mask must have the relevance's shape {V.shape_str(rel.shape)}, but got "
                                   f"{V.shape_str(m.shape)}; pass one flag per item")
    real = rel[m]
    if not np.all(np.isfinite(real)):
        raise V.NonFiniteError(f"recommend: ranking relevance must be finite for the real items, but got "
                               f"{int((~np.isfinite(real)).sum())} NaN or infinite value(s); mask them out or fix them")
    if (real < 0).any():
        raise V.LossValueError(
            f"recommend: ranking relevance must be >= 0 for the real items, but got {int((real < 0).sum())} "
            f"negative value(s) such as {real[real < 0][0]:g}; if they mark padding (allRank's -1), pass "
            "mask=relevance != -1"
        )
    return rel, m, dtype


def _recommend_ranking(targets: object, mask: object, k: int | None, noisy_labels: bool) -> Recommendation:
    if noisy_labels:
        raise V.LossOptionError("recommend: noisy_labels applies to class and preference labels, but got "
                                "task='ranking'; no ranking loss here models label noise: drop noisy_labels=True")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise V.LossOptionError(f"recommend: k must be a positive int (the cut-off of the NDCG@k you evaluate) or "
                                f"None, but got {k!r}; pass e.g. k=10")
    rel, m, dtype = _ranking_arrays(targets, mask)
    stats = _ranking_stats(rel, m, dtype)
    n = stats.num_samples
    if stats.unrankable_share == 1.0:
        raise V.LossValueError(
            f"recommend: ranking relevance must hold a list with two real items of different relevance, but got "
            f"none in {n} lists; every ranking loss is 0 on such lists: check the relevance and the mask"
        )
    reasons = ["task given: ranking"]
    no_rel = stats.no_relevant_share or 0.0
    if no_rel > 0:
        reasons.append(
            f"{no_rel:.1%} of the lists ({round(no_rel * n)} of {n}) have no relevant item: every ranking loss gives "
            "them 0 and leaves them out of its mean, so they train nothing; losskit's ndcg gives them 0 (allRank's 1): "
            "leave them out of training, and say how they count when you report NDCG"
        )
    other = (stats.unrankable_share or 0.0) - no_rel
    if other > 1e-12:
        reasons.append(f"{other:.1%} of the lists have relevant items but nothing to rank (every real item equally "
                       "relevant, or a single item): also 0 in every loss")
    if mask is not None and stats.list_length_min != stats.list_length_max:
        reasons.append(f"lists hold {stats.list_length_min} to {stats.list_length_max} real items: pass the same mask "
                       "to the loss, which then never reads the padding")
    plan = _ranking_plan(stats, k, reasons)
    cands = _family_candidates(plan, stats, rel, "listnet", reasons)
    return Recommendation(task="ranking", stats=stats, candidates=cands, reasons=reasons)


def _ranking_plan(stats: TargetStats, k: int | None,
                  reasons: list[str]) -> list[_Step]:
    """Family-menu names in rank order, each with its reasons and the options the call sets (the cut-off)."""
    levels = stats.relevance_levels or ()
    shown = ", ".join(f"{v:g}" for v in levels[:8]) + (", ..." if (stats.num_levels or 0) > 8 else "")
    width = stats.list_length_max or 0
    ties = stats.tie_share or 0.0
    memory = ([f"builds (N, L, L) pair tensors: with up to {width} items, {width * width * 4 / 2**20:.3g} MiB per list "
               "in float32"] if width >= PAIRWISE_MEMORY_ITEMS else [])
    gain = _ranking_gain(stats)
    gain_why = (f"gain 'linear': the relevance reaches {max(levels):g}, where 2^y - 1 lets the top label outweigh all "
                "others; evaluate with ndcg(..., gain='linear') alike" if gain == "linear" else
                "gain 2^y - 1 ('exp2', the default; ndcg's too)")
    if k is None:
        cut, k_why = None, ("k=None: NDCG of the whole list; pass k= the cut-off you evaluate (NDCG@10 ...) to "
                            "stress the top")
    elif k >= width:
        cut, k_why = None, (f"k=None: the cut-off {k} you gave reaches the longest list ({width} real items), so "
                            f"NDCG@{k} is the NDCG of the whole list")
    else:
        cut, k_why = k, f"k={k}: the cut-off of the NDCG@{k} you evaluate"
    temp = ("temperature=1.0, the functional's default; it acts on the scale of your scores (smaller: closer to "
            "the hard sort)")
    lambda_opts = ("mu=10, sigma=1: the functional's defaults (allRank's mu too); " + gain_why)
    neural: _Step = ("neural-ndcg", ["optimises a smooth NDCG@k itself: NeuralSort's relaxed sort with Sinkhorn "
                                     "scaling (Pobrotyn & Białobrzeski, 2021)", k_why, temp, *memory], {"k": cut})
    approx: _Step = ("approx-ndcg", ["1 - NDCG with sigmoid-smoothed ranks (Qin et al., 2010); it takes no cut-off "
                                     "(a cut-off on smooth ranks is not smooth)", temp, *memory], {})
    if stats.graded:
        plan = [
            ("lambda", [f"graded relevance, {stats.num_levels} levels [{shown}]: NDCG's gain rewards putting the most "
                        "relevant items first, and NDCG-Loss2++ weights each pair by how much swapping it changes NDCG "
                        "(Wang et al., 2018, the best metric-driven loss of that paper)", lambda_opts, *memory], {}),
            neural,
            ("listnet", ["the baseline: a strong simple listwise loss, one softmax cross-entropy per list in O(L) "
                         "memory; target_transform='softmax', the functional's default (allRank's)"], {}),
            approx,
        ]
    else:
        mass = stats.softmax_relevant_mass
        soft = (f"; the default 'softmax' would leave them {mass:.1%} of it on these lists (exp(1) against exp(0) "
                "per item)" if mass is not None else "")
        plan = [
            ("ranknet", [f"binary relevance [{shown}]: a list tells which items are relevant, so every informative "
                         "pair is (relevant, not relevant), the pairs RankNet's logistic loss learns (Burges et al., "
                         "2005); there are no grades for NDCG's gain to weigh",
                         "sigma=1, weighting='none': the functional's defaults (with two levels every pair differs "
                         "alike)", *memory], {}),
            ("listnet", ["the baseline: a strong simple listwise loss, one softmax cross-entropy per list in O(L) "
                         "memory; target_transform='linear' puts the whole target on the relevant items" + soft], {}),
            ("lambda", ["if you evaluate NDCG: weights each pair by its effect on NDCG, which with binary relevance "
                        "still depends on the positions", lambda_opts, *memory], {}),
            approx,
        ]
    if ties <= FULL_ORDER_TIES:
        plan.insert(1, ("listmle", [f"{ties:.1%} of the pairs tie: the relevance gives a full order of each list, the "
                                    "premise of the Plackett-Luce likelihood (Xia et al., 2008)"], {}))
    elif ties < LISTMLE_MAX_TIES:
        plan.append(("listmle", [f"{ties:.1%} of the pairs tie, and ListMLE is the likelihood of a full order: losskit "
                                 "treats ties by Breslow's rule, so the loss does not depend on their order"], {}))
    else:
        reasons.append(f"listmle (ListMLE) left out: {ties:.1%} of the pairs tie, so most of the full order it "
                       "models would be arbitrary")
    return plan


# --------------------------------------------------------------------------------------------
# preference data
# --------------------------------------------------------------------------------------------
def _preference_arrays(targets: object, paired: bool | None, lengths: object
                       ) -> tuple[np.ndarray | None, np.ndarray | None, bool | None, str]:
    labels = lens = None
    dtype = "-"
    if targets is not None:
        arr = _as_array(targets)
        dtype = _dtype_name(targets, arr)
        if arr.dtype.kind not in "biuf" or arr.ndim != 1 or not np.isin(np.unique(arr), (0, 1)).all():
            raise V.LossValueError(
                f"recommend: preference targets must be the 0/1 labels of unpaired responses (1 = desirable), shape "
                f"(N,), but got shape {V.shape_str(arr.shape)}, dtype {dtype}; pass no targets for paired data"
            )
        if paired:
            raise V.LossOptionError("recommend: preference targets (desirable labels) describe unpaired responses, but "
                                    "got paired=True; drop the targets for paired data, or pass paired=False")
        labels, paired = arr.astype(np.int64), False
    if lengths is not None:
        la = _as_array(lengths)
        ld = _dtype_name(lengths, la)
        if la.dtype.kind not in "biuf" or not (la.ndim == 1 or (la.ndim == 2 and la.shape[1] == 2)):
            raise V.LossShapeError(
                f"recommend: lengths must be numeric token counts, (B, 2) chosen and rejected per pair or (M,) per "
                f"response, but got shape {V.shape_str(la.shape)}, dtype {ld}; pass e.g. (labels != -100).sum(-1)"
            )
        if la.size == 0 or not np.all(np.isfinite(la)) or (la <= 0).any():
            raise V.LossValueError("recommend: lengths must be finite token counts > 0, but got "
                                   f"{'none' if la.size == 0 else 'a value <= 0 or non-finite'}; count each "
                                   "response's tokens")
        if la.ndim == 2 and paired is False:
            raise V.LossShapeError("recommend: lengths of shape (B, 2) are chosen/rejected pairs, but got unpaired "
                                   "data; pass one length per response, shape (N,)")
        if labels is not None and la.shape[0] != labels.shape[0]:
            raise V.LossShapeError(f"recommend: lengths must give one count per labelled response, but got "
                                   f"{la.shape[0]} lengths for {labels.shape[0]} labels; pass them in the same order")
        lens = la.astype(np.float64)
        dtype = dtype if labels is not None else ld
    return labels, lens, paired, dtype


def _preference_stats(labels: np.ndarray | None, lens: np.ndarray | None, dtype: str) -> TargetStats:
    fields: dict[str, Any] = {}
    if labels is not None:
        pos = int(labels.sum())
        neg = int(labels.size - pos)
        fields.update(num_classes=2, class_counts=(neg, pos),
                      imbalance_ratio=max(pos, neg) / min(pos, neg) if min(pos, neg) else None)
    if lens is not None:
        p10, p90 = (float(v) for v in np.percentile(lens, [10, 90]))
        fields.update(length_p10=p10, length_p90=p90, length_spread=p90 / p10)
        if lens.ndim == 2:
            unequal = lens[:, 0] != lens[:, 1]
            if unequal.any():
                fields["chosen_longer_share"] = float((lens[unequal, 0] > lens[unequal, 1]).mean())
    if labels is not None:
        return TargetStats(num_samples=int(labels.size), shape=tuple(labels.shape), dtype=dtype, unit="responses",
                           **fields)
    if lens is not None:
        return TargetStats(num_samples=int(lens.shape[0]), shape=tuple(lens.shape), dtype=dtype,
                           unit="pairs" if lens.ndim == 2 else "responses", **fields)
    return TargetStats(num_samples=0, shape=(), dtype="-", unit="pairs")


def _recommend_preference(targets: object, reference: bool | None, paired: bool | None, lengths: object,
                          noisy_labels: bool) -> Recommendation:
    for arg, value in (("reference", reference), ("paired", paired)):
        if value is not None and not isinstance(value, bool):
            raise V.LossOptionError(f"recommend: {arg} must be True, False or None, but got {value!r}")
    labels, lens, paired, dtype = _preference_arrays(targets, paired, lengths)
    stats = _preference_stats(labels, lens, dtype)
    reasons = ["task given: preference"]
    if paired is None:
        paired = True
        reasons.append("paired not given: read as paired data (a chosen and a rejected response per prompt); pass "
                       "paired=False for unpaired thumbs-up/down")
    if reference is None:
        reference = True
        reasons.append("reference not given: read as available (the log-probabilities of the frozen model the policy "
                       "starts from, usually the SFT model); pass reference=False if you cannot compute them")
    else:
        reasons.append(f"the reference model's log-probabilities: {'available' if reference else 'not available'}")
    if stats.length_spread is not None and stats.length_spread < LENGTH_SPREAD:
        reasons.append(f"response lengths {stats.length_p10:g} to {stats.length_p90:g} tokens (10th to 90th "
                       f"percentile, {stats.length_spread:.3g}x): below the {LENGTH_SPREAD:g}x from which the "
                       "length-normalised losses rank first")
    if paired:
        plan, baseline = _paired_plan(stats, reference, noisy_labels, reasons), ("dpo" if reference else "dpo-reffree")
    else:
        plan, baseline = _unpaired_plan(stats, reference, noisy_labels, reasons), "kto"
    cands = _family_candidates(plan, stats, labels if labels is not None else np.zeros(0), baseline, reasons)
    return Recommendation(task="preference", stats=stats, candidates=cands, reasons=reasons)


def _length_reason(stats: TargetStats) -> str | None:
    """Why lengths call for per-token averages, in measured words; ``None`` when they do not."""
    parts = []
    if stats.length_spread is not None and stats.length_spread >= LENGTH_SPREAD:
        parts.append(f"response lengths vary {stats.length_spread:.3g}x from the 10th to the 90th percentile "
                     f"({stats.length_p10:g} to {stats.length_p90:g} tokens)")
    share = stats.chosen_longer_share
    if share is not None and (share >= LENGTH_BIAS_SHARE or share <= 1.0 - LENGTH_BIAS_SHARE):
        parts.append(f"the chosen response is the {'longer' if share >= 0.5 else 'shorter'} in "
                     f"{max(share, 1.0 - share):.1%} of the pairs of unequal lengths")
    if not parts:
        return None
    return (" and ".join(parts) + ": summed log-probabilities grow with the length, so a margin of sums mixes the "
            "preference with the length difference; SimPO and ORPO compare per-token averages (Meng et al., 2024 "
            "motivate SimPO's normalisation by this length effect)")


def _paired_plan(stats: TargetStats, reference: bool, noisy: bool,
                 reasons: list[str]) -> list[_Step]:
    length = _length_reason(stats)
    assumed = (f"label_smoothing={ASSUMED_FLIP_RATE:g}: an assumed flip rate, not measured here; set it to your "
               "estimate (e.g. from annotator disagreement)")
    simpo_why = ["reference-free: a logistic loss on per-token average log-probabilities with a target margin gamma "
                 "(Meng et al., 2024)", "beta=2.0, gamma=1.0: the SimPO authors' values, the functional's defaults "
                 "(TRL's CPOConfig uses beta=0.1, simpo_gamma=0.5)"]
    orpo: _Step = ("orpo", ["reference-free: the chosen response's NLL plus a log-odds-ratio term, so it can start "
                            "from the base model without a separate SFT stage (Hong et al., 2024)",
                            "beta=0.1 (the paper's lambda): the functional's default"], {})
    if reference:
        dpo_why = ["the standard baseline (Rafailov et al., 2023): a logistic loss on the policy's log-ratio margin "
                   "over the reference", "beta=0.1: the functional's default (TRL's too)"]
        if length:
            dpo_why.append("compares summed log-probabilities: with these lengths the margin includes the length "
                           "difference")
        dpo: _Step = ("dpo", dpo_why, {})
        ipo: _Step = ("ipo", ["a squared loss pulling the log-ratio margin to 1/(2 beta) = 5 rather than pushing it "
                              "without bound, which keeps the policy near the reference even where a preference never "
                              "varies (Azar et al., 2023)",
                              "beta=0.1: the functional's default; pass per-token averages (TRL's form)"], {})
        simpo: _Step = ("simpo", [*simpo_why, "needs no reference forward pass, though you have the reference"], {})
        if noisy:
            plan = [
                ("rdpo", ["label noise suspected: robust DPO (Chowdhury et al., 2024) is unbiased when each label is "
                          "flipped with probability label_smoothing", assumed, "beta=0.1: the default"], {}),
                ("cdpo", ["conservative DPO (Mitchell, 2023): each pair's target becomes 1 - label_smoothing, so no "
                          "margin is pushed without bound", assumed, "beta=0.1: the default"], {}),
                dpo, ipo,
            ]
            if length:
                plan.append(("simpo", [length, *simpo_why], {}))
            return plan
        if length:
            return [("simpo", [length, *simpo_why], {}), dpo, ipo, (orpo[0], [length, *orpo[1]], {})]
        return [dpo, ipo, simpo, orpo]
    reasons.append("no reference model: the reference-free losses (SimPO, ORPO, CPO) rank first; DPO and IPO need "
                   "the reference's log-probabilities (KTO too)")
    cpo: _Step = ("cpo", ["reference-free: DPO's logistic loss on summed log-probabilities without the reference, "
                          "plus the chosen response's NLL (Xu et al., 2024)", "beta=0.1, cpo_alpha=1.0: the "
                          "functional's defaults (TRL's); pass chosen_lengths to take the NLL per token"], {})
    base: _Step = ("dpo-reffree", ["the baseline without a reference: DPO with the reference log-ratio taken as 0 "
                                   "(TRL 0.x's reference_free), on summed log-probabilities",
                                   "beta=0.1: the default"], {})
    if noisy:
        return [("simpo-smooth", ["label noise suspected: SimPO with label smoothing (TRL's), the target of each pair "
                                  "becomes 1 - label_smoothing", assumed, *simpo_why[1:]], {}),
                ("simpo", simpo_why, {}), orpo, cpo, base]
    if length:
        return [("simpo", [length, *simpo_why], {}), (orpo[0], [length, *orpo[1]], {}), cpo, base]
    return [("simpo", simpo_why, {}), cpo, orpo, base]


def _unpaired_plan(stats: TargetStats, reference: bool, noisy: bool,
                   reasons: list[str]) -> list[_Step]:
    reasons.append("unpaired data: DPO, IPO, SimPO, ORPO and CPO compare a chosen with a rejected response to the same "
                   "prompt; pair responses to the same prompt where you have both to use them")
    why = ["unpaired desirable/undesirable responses (thumbs up/down): KTO needs no pairs, each response is compared "
           "with a reference point (Ethayarajh et al., 2024)"]
    counts = stats.class_counts
    opts = _kto_weights(stats, np.zeros(0))
    if counts is None:
        why.append("desirable_weight=1.0, undesirable_weight=1.0: the defaults; pass the 0/1 labels as targets to set "
                   "them from the counts (the authors advise lambda_D B_D / (lambda_U B_U) in [1, 4/3])")
    elif min(counts) == 0:
        why.append(f"only {'desirable' if counts[0] == 0 else 'undesirable'} responses: KTO learns from one side only "
                   "and the weights cannot balance the other; weights 1.0")
    else:
        achieved = opts["desirable_weight"] * counts[1] / (opts["undesirable_weight"] * counts[0])
        why.append(f"{counts[1]} desirable against {counts[0]} undesirable responses: desirable_weight="
                   f"{opts['desirable_weight']:g}, undesirable_weight={opts['undesirable_weight']:g} give lambda_D B_D "
                   f"/ (lambda_U B_U) = {achieved:.3g}, inside the [1, 4/3] the authors advise")
    why.append("beta=0.1: the functional's default (TRL's too)")
    if not reference:
        why.append("KTO needs the reference model's log-probabilities: compute them once with the frozen starting "
                   "model (a forward pass without gradient, precomputable); kl=torch.tensor(0.0) drops only the "
                   "reference point, not the reference")
    if noisy:
        reasons.append("noisy_labels: KTO has no label-smoothing option; its loss per response is bounded (1 - "
                       "sigmoid), so one wrong label costs at most its weight")
    return [("kto", why, {})]


def _family_candidates(plan: list[_Step], stats: TargetStats, y: np.ndarray,
                       baseline: str, reasons: list[str]) -> list[Candidate]:
    out: list[Candidate] = []
    for name, why, extra in plan:
        entry = FAMILY_MENU[name]
        if not entry.available:
            reasons.append(f"{name} ({entry.loss}) left out: this losskit build does not have it")
            continue
        options = {**entry.configure(stats, y), **extra}
        out.append(Candidate(rank=len(out) + 1, name=name, loss=entry.loss, options=options, reasons=why,
                             code=_code(entry.loss, options, stats), baseline=name == baseline, inputs=entry.inputs))
    if not out:
        raise V.LossValueError("recommend: the candidates of this task must exist in losskit, but got a build without "
                               "any of them; upgrade losskit")
    return out


# --------------------------------------------------------------------------------------------
# segmentation masks and retrieval labels (the lab's Dataset tasks)
# --------------------------------------------------------------------------------------------
def _recommend_segmentation(targets: object, noisy_labels: bool) -> Recommendation:
    """Masks ``(N, H, W)`` of class indices or ``(N, 1, H, W)`` of 0/1: the statistics and the order of the lab's
    segmentation menu (:func:`losskit.lab.task_segmentation.mask_stats` and ``plan``); the advisor lifts the
    baseline (cross-entropy) to the top when the pixel classes are balanced and no mask is empty too often."""
    import losskit

    from .lab import task_segmentation as seg

    if targets is None:
        raise V.LossTypeError("recommend: task='segmentation' needs the training masks, but got None; pass (N, H, W) "
                              "class masks or (N, 1, H, W) 0/1 masks")
    y = _as_array(targets)
    dtype = _dtype_name(targets, y)
    if y.dtype == bool:
        y = y.astype(np.int64)
    if y.dtype.kind == "f" and y.size and np.all(np.mod(y[np.isfinite(y)], 1) == 0) and np.isfinite(y).all():
        y = y.astype(np.int64)  # float masks holding whole numbers (a saved float tensor)
    if y.ndim not in (3, 4) or len(y) == 0:
        raise V.LossShapeError(f"recommend: segmentation masks must be (N, H, W) class indices or (N, 1, H, W) 0/1, "
                               f"but got shape {V.shape_str(y.shape)}; stack the training masks along a first axis")
    seg.check_masks(y, "recommend")
    s = seg.mask_stats(y)
    order, plan_reasons = seg.plan(s)
    mode = "binary" if s.binary else "multiclass"
    present = [v for v in s.class_share if v > 0]
    ratio = max(present) / min(present) if len(present) > 1 else math.inf
    stats = TargetStats(
        num_samples=len(y), shape=tuple(y.shape), dtype=dtype, num_classes=s.num_classes,
        imbalance_ratio=float(ratio), unit="masks", foreground_fraction=s.foreground_fraction,
        empty_share=s.empty_share, class_share=s.class_share,
    )
    reasons = ["task given: segmentation (" + ("(N, 1, H, W) 0/1 masks: one logit channel, sigmoid per pixel"
               if s.binary else f"(N, H, W) class masks: {s.num_classes} logit channels, softmax per pixel") + ")"]
    reasons += plan_reasons
    absent = [k for k, v in enumerate(s.class_share) if v == 0]
    if absent:
        reasons.append(f"classes {absent[:10]} have no pixel in these masks: no loss can learn them from these "
                       "masks")
    if noisy_labels:
        reasons.append("noisy_labels: no segmentation loss here models noisy masks; Dice and Jaccard average over the "
                       "pixels of a class, so a few mislabelled edge pixels cost little")
    balanced = ratio < IMBALANCE_RATIO and s.empty_share < seg.MANY_EMPTY
    names = [n for n, _ in order if n != "ce"]
    why = dict(order)
    if balanced:
        ranked = ["ce", *names]
        why["ce"] = (f"the pixel classes are balanced (largest/smallest share {ratio:.3g}:1, below "
                     f"{IMBALANCE_RATIO:g}:1) and few masks are empty: plain per-pixel cross-entropy is the strong "
                     "default, the others points of comparison")
    else:
        ranked = [*names[:2], "ce", *names[2:]]
        what = ("the pixel classes are imbalanced (largest/smallest share "
                f"{'no second class' if math.isinf(ratio) else f'{ratio:.3g}:1'})" if s.empty_share < seg.MANY_EMPTY
                else f"{s.empty_share:.0%} of the masks are empty")
        reasons.append(f"{what}: {names[0]} ranks first, cross-entropy is the baseline to beat")
    inputs = ("loss_fn(logits, masks)  # logits (N, 1, H, W), masks (N, 1, H, W) float 0/1" if s.binary else
              f"loss_fn(logits, masks)  # logits (N, {s.num_classes}, H, W), masks (N, H, W) long")
    out: list[Candidate] = []
    for name in ranked:
        item = seg.MENU[name]
        loss = "BCEWithLogitsLoss" if name == "ce" and s.binary else item.loss
        if not hasattr(losskit, loss):
            reasons.append(f"{name} ({loss}) left out: this losskit build does not have it")
            continue
        options = item.options(mode)
        out.append(Candidate(rank=len(out) + 1, name=name, loss=loss, options=options,
                             reasons=[item.summary, why[name]], code=_code(loss, options, stats),
                             baseline=name == "ce", inputs=inputs))
    return Recommendation("segmentation", stats, out, reasons)


FEW_PER_CLASS = 5
"""Retrieval: up to this median of examples per class, a batch rarely holds two of a class: the proxy losses
(ArcFace, CosFace), which compare each item with a learnt class centre, rank first."""
MANY_CLASSES = 1000
"""Retrieval: from this many classes on, the advisor states the size of the proxy losses' centre matrix."""
DEFAULT_EMBEDDING_DIM = 128
"""Retrieval: the embedding width the proxy losses are configured with when ``embedding_dim`` is not given."""


def _recommend_retrieval(targets: object, embedding_dim: int | None, noisy_labels: bool) -> Recommendation:
    """Class labels ``(N,)`` of the items an embedding is trained on: the counts per class decide between the pair
    losses (contrastive, batch-hard triplet, SupCon: positives must share a batch) and the proxy losses (ArcFace,
    CosFace: a learnt centre per class). Options and classes as the lab's retrieval menu
    (:data:`losskit.lab.task_retrieval.RETRIEVAL_LOSSES`)."""
    import losskit

    from .lab import task_retrieval as ret

    if targets is None:
        raise V.LossTypeError("recommend: task='retrieval' needs the class label of every training item, but got "
                              "None; pass labels of shape (N,)")
    if embedding_dim is not None and (isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int)
                                      or embedding_dim < 1):
        raise V.LossOptionError(f"recommend: embedding_dim must be a positive int (the width of your model's "
                                f"embedding), but got {embedding_dim!r}; pass e.g. embedding_dim=128")
    arr, dtype = _prepare_targets(targets, None)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or (arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0)):
        raise V.LossShapeError(f"recommend: retrieval labels must be one class per item, shape (N,) of integers, but "
                               f"got shape {V.shape_str(arr.shape)}, dtype {dtype}; pass the class index of each item")
    values, y = np.unique(arr, return_inverse=True)
    counts = np.bincount(y)
    if values.size < 2:
        raise V.LossValueError(f"recommend: retrieval labels must hold at least two classes, but got one class "
                               f"({values[0]:g}) in {arr.size} items; an embedding cannot separate one class")
    indices = bool(values.min() >= 0 and np.all(np.mod(values, 1) == 0))
    num_classes = int(values.max()) + 1 if indices else int(values.size)
    lone = int((counts == 1).sum())
    median = float(np.median(counts))
    dim = embedding_dim or DEFAULT_EMBEDDING_DIM
    stats = TargetStats(
        num_samples=int(arr.size), shape=tuple(arr.shape), dtype=dtype, num_classes=int(values.size),
        class_counts=tuple(int(c) for c in counts), imbalance_ratio=float(counts.max() / counts.min()),
        unit="items", singleton_classes=lone, per_class_median=median,
    )
    reasons = [f"task given: retrieval ({values.size} classes, {int(counts.min())} to {int(counts.max())} items per "
               f"class, median {median:g})"]
    if lone:
        reasons.append(f"{lone} of {values.size} classes have one item: they cannot form a positive pair, so the "
                       "pair losses (contrastive, triplet, SupCon) use them only as negatives; a proxy loss still "
                       "learns their class centre")
    if lone == values.size:
        raise V.LossValueError(f"recommend: retrieval labels must give some class two items, but got {arr.size} "
                               "items of distinct classes; no loss can learn what makes two items alike")
    if not indices:
        reasons.append(f"ArcFace and CosFace index their centres by the label: map the labels to 0..{values.size - 1} "
                       "with numpy.unique(labels, return_inverse=True)[1]")
    elif num_classes != values.size:
        reasons.append(f"labels run up to {num_classes - 1} with {values.size} classes present: num_classes="
                       f"{num_classes} keeps centres for the absent ones")
    if noisy_labels:
        reasons.append("noisy_labels: no retrieval loss here models label noise; a wrong label pulls an item toward "
                       "another class's centre (proxies) or its items (pairs)")
    sampler = ("draw m items per class into each batch (e.g. pytorch-metric-learning's MPerClassSampler): with "
               f"{values.size} classes and {median:g} items per class, a random batch of 128 holds about "
               f"{128 * (median - 1) / max(arr.size - 1, 1):.2g} positives per anchor")
    proxy = ("a learnt centre per class: every item gets a positive (its centre) whatever the batch, so few items "
             "per class and classes of one item still train")
    centres = (f"a ({num_classes}, {dim}) centre matrix, {num_classes * dim:,} parameters trained with the model"
               + ("" if embedding_dim else f"; embedding_dim={dim} is a placeholder: pass your model's width"))
    pair = {
        "supcon": "every same-class item in the batch is a positive, each against all the others (Khosla et al., "
                  "2020); the strongest pair loss when batches hold several items per class",
        "triplet": "the hardest positive and negative of each anchor in the batch (Hermans et al., 2017)",
        "contrastive": "the baseline: same-class pairs pulled together, other pairs pushed apart past a margin",
    }
    plan: list[tuple[str, list[str]]]
    if median <= FEW_PER_CLASS or lone * 4 >= values.size:
        few = (f"a median of {median:g} items per class" if median <= FEW_PER_CLASS else
               f"{lone / values.size:.0%} of the classes have one item")
        reasons.append(f"{few}: the proxy losses (ArcFace, CosFace) rank first")
        plan = [
            ("arcface", [f"{few}: {proxy}", "additive angular margin 0.5, scale 30 (Deng et al., 2019)", centres]),
            ("cosface", [proxy, "additive cosine margin 0.35, scale 30 (Wang et al., 2018): a gentler margin, "
                                "steadier early in training", centres]),
            ("supcon", [pair["supcon"], f"needs two items of a class in a batch: {sampler}"]),
            ("contrastive", [pair["contrastive"], sampler]),
            ("triplet", [pair["triplet"], "an anchor without a positive in the batch gives no loss"]),
        ]
    else:
        reasons.append(f"{median:g} items per class (median): batches hold positives, SupCon ranks first")
        plan = [
            ("supcon", [pair["supcon"], sampler]),
            ("arcface", [proxy, "additive angular margin 0.5, scale 30 (Deng et al., 2019)", centres]),
            ("contrastive", [pair["contrastive"]]),
            ("triplet", [pair["triplet"]]),
            ("cosface", [proxy, "additive cosine margin 0.35, scale 30 (Wang et al., 2018)", centres]),
        ]
    if num_classes >= MANY_CLASSES:
        reasons.append(f"{num_classes} classes: the proxy losses hold {num_classes * dim:,} centre parameters and a "
                       f"softmax over {num_classes} classes per item; the pair losses have no parameter")
    reasons.append(ret.INFONCE_SKIPPED)
    out: list[Candidate] = []
    for name, why in plan:
        entry = ret.RETRIEVAL_LOSSES[name]
        if not hasattr(losskit, entry.loss):
            reasons.append(f"{name} ({entry.loss}) left out: this losskit build does not have it")
            continue
        options = dict(entry.options)
        if entry.centres:
            options = {"num_classes": num_classes, "embedding_dim": dim, **options}
        out.append(Candidate(rank=len(out) + 1, name=name, loss=entry.loss, options=options,
                             reasons=[*why, f"nearest neighbours by the {entry.distance} distance"],
                             code=_code(entry.loss, options, stats), baseline=name == "contrastive",
                             inputs=f"loss_fn(embeddings, labels)  # embeddings (N, {dim}), labels (N,) long"))
    return Recommendation("retrieval", stats, out, reasons)


# --------------------------------------------------------------------------------------------
# CLI: losskit recommend
# --------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``losskit recommend``."""
    from .cli import examples

    p = subparsers.add_parser(
        "recommend",
        help="recommend configured losses for a data set's target, with the reasons and a code line",
        description="Inspect the target column of a data set (task, class counts, imbalance, outliers) and print "
        "a ranked list of configured losses with the reasons and a ready-to-paste line of code. "
        "--task ranking reads a CSV of one row per item (--group names the list, --target the relevance); "
        "--task preference needs no file (--no-reference, --unpaired), or reads response lengths and labels from one. "
        "--task segmentation reads the training masks from --masks FILE (.npy or .pt); --task retrieval reads the "
        "class labels from --csv (--target, any text) or --dataset.",
        epilog=examples(
            ("losskit recommend --dataset breast_cancer", "a bundled data set: two classes, mildly imbalanced"),
            ("losskit recommend --csv data.csv --target label --noisy-labels --json",
             "your CSV's label column, labels known to be noisy, as JSON"),
            ("losskit recommend --task preference --no-reference", "preference pairs without a reference model"),
        ),
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", metavar="NAME",
                     help="a data set bundled with scikit-learn: digits, breast_cancer, wine, iris or diabetes")
    src.add_argument("--csv", metavar="FILE", help="a CSV file with a header row (use with --target)")
    src.add_argument("--masks", metavar="FILE", help="--task segmentation: the training masks, a .npy or .pt file of "
                     "(N, H, W) class indices or (N, 1, H, W) 0/1")
    p.add_argument("--target", metavar="COLUMN", help="the target column of --csv (default: the last column); with "
                   "--task ranking the relevance, with --task preference --unpaired the 0/1 desirable label")
    p.add_argument("--task", choices=TASKS + FAMILY_TASKS + STRUCTURED_TASKS, help="override the inferred task; "
                   "ranking, preference, segmentation and retrieval are never inferred")
    p.add_argument("--noisy-labels", action="store_true", help="the labels are known to be noisy")
    p.add_argument("--ordinal", action="store_true",
                   help="the classes are ordered (numeric labels by value, text labels alphabetically): rank the "
                   "ordinal loss (CORAL) first")
    p.add_argument("--group", metavar="COLUMN",
                   help="--task ranking: the column naming each row's list (query id); rows of one list need not be "
                   "adjacent")
    p.add_argument("--k", type=int, metavar="K", help="--task ranking: the cut-off of the NDCG@K you evaluate")
    p.add_argument("--no-reference", action="store_true",
                   help="--task preference: the reference model's log-probabilities are not available")
    p.add_argument("--unpaired", action="store_true",
                   help="--task preference: unpaired desirable/undesirable responses (KTO) instead of pairs")
    p.add_argument("--lengths", metavar="COLUMNS",
                   help="--task preference with --csv: the token-count column of each response, or two columns "
                   "'chosen,rejected' per pair")
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON instead of text")
    p.set_defaults(func=_main)


def _read_columns(path: str, names: Sequence[str]) -> dict[str, list[str]]:
    """The named columns of a CSV file with a header row, as text."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise V.LossValueError(f"recommend: --csv must have a header row, but got an empty file {path!r}; add one")
    header = [h.strip() for h in rows[0]]
    out: dict[str, list[str]] = {}
    for name in names:
        if name not in header:
            close = difflib.get_close_matches(name, header, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"choose from {', '.join(header[:20])}"
            raise V.LossOptionError(f"recommend: column {name!r} must be in {path!r}, but got no such column; {hint}")
        i = header.index(name)
        out[name] = [r[i].strip() for r in rows[1:] if len(r) > i]
    return out


def _numbers(values: list[str], column: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_number(v))
        raise V.LossValueError(f"recommend: column {column!r} must hold numbers, but got {bad!r}; fix or drop that "
                               "row") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _ranking_from_csv(path: str, group: str | None, target: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-item rows grouped into padded ``(N, L)`` relevance with its mask (lists in order of first appearance)."""
    if group is None or target is None:
        raise V.LossOptionError("recommend: --task ranking needs --group COLUMN (the list of each row) and --target "
                                f"COLUMN (its relevance), but got --group {group!r} and --target {target!r}")
    cols = _read_columns(path, [group, target])
    rel = _numbers(cols[target], target)
    ids: dict[str, int] = {}
    lists = np.array([ids.setdefault(g, len(ids)) for g in cols[group]], dtype=np.int64)
    counts = np.bincount(lists, minlength=len(ids))
    pos = np.zeros_like(lists)
    seen = np.zeros(len(ids), dtype=np.int64)
    for i, g in enumerate(lists):
        pos[i], seen[g] = seen[g], seen[g] + 1
    relevance = np.zeros((len(ids), int(counts.max(initial=0))))
    mask = np.zeros(relevance.shape, dtype=bool)
    relevance[lists, pos], mask[lists, pos] = rel, True
    return relevance, mask, f"{path} ({len(rel)} items in {len(ids)} lists by {group!r}, relevance {target!r})"


def _load_masks(path: str) -> np.ndarray:
    """The masks saved in ``path``: a ``.npy`` array or a ``.pt`` tensor."""
    import os

    if not os.path.isfile(path):
        raise V.LossValueError(f"recommend: --masks must name a file, but got {path!r}, which does not exist; check "
                               "the path")
    if not path.endswith((".npy", ".pt", ".pth")):
        raise V.LossValueError(f"recommend: --masks must be a .npy or .pt file, but got {path!r}; save the masks "
                               "with numpy.save or torch.save")
    try:
        value = (np.load(path, allow_pickle=False) if path.endswith(".npy")
                 else torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, ValueError, RuntimeError, EOFError) as err:
        raise V.LossValueError(f"recommend: --masks must be a readable .npy or .pt file, but got {path!r} ({err}); "
                               "save the masks with numpy.save or torch.save") from None
    if isinstance(value, Tensor):
        return value.numpy()
    if not isinstance(value, np.ndarray):
        raise V.LossTypeError(f"recommend: --masks must hold one tensor or array, but got a {type(value).__name__} "
                              f"in {path!r}; save the stacked masks")
    return value


def _retrieval_labels(dataset: str | None, path: str | None, target: str | None) -> tuple[np.ndarray, str]:
    """Class indices of the items and a description: a CSV column (any text: each distinct value a class; default
    the last column) or a bundled classification data set's target."""
    if path is not None:
        import csv

        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
        column = target or (header[-1].strip() if header else "")
        values = _read_columns(path, [column])[column]
        labels = np.unique(np.asarray(values, dtype=str), return_inverse=True)[1].astype(np.int64)
        return labels, f"{path} ({len(labels)} items, labels {column!r})"
    if dataset is None:
        raise V.LossOptionError("recommend: --task retrieval needs the labels from --csv FILE (--target COLUMN) or "
                                "--dataset NAME, but got neither")
    from .lab.data import load_data

    data = load_data(dataset, None, target, where="recommend")
    if data.task == "regression":
        raise V.LossOptionError(f"recommend: --task retrieval needs class labels, but got the regression target of "
                                f"{dataset!r}; choose a classification data set (digits, wine, iris)")
    return np.asarray(data.y, dtype=np.int64), f"{data.name} ({data.num_rows} items, target {data.target_name!r})"


def _main(args: argparse.Namespace) -> int:
    import json

    notes: list[str] = []
    family = {"--group": (args.group, "ranking"), "--k": (args.k, "ranking"),
              "--no-reference": (args.no_reference or None, "preference"),
              "--unpaired": (args.unpaired or None, "preference"), "--lengths": (args.lengths, "preference")}
    for flag, (value, task) in family.items():
        if value is not None and args.task != task:
            raise V.LossOptionError(f"recommend: {flag} applies to --task {task}, but got --task {args.task}; add "
                                    f"--task {task} or drop {flag}")
    if args.masks is not None and args.task != "segmentation":
        raise V.LossOptionError(f"recommend: --masks applies to --task segmentation, but got --task {args.task}; add "
                                "--task segmentation")
    if args.task in STRUCTURED_TASKS:
        if args.task == "segmentation":
            if args.masks is None:
                raise V.LossOptionError("recommend: --task segmentation needs --masks FILE (a .npy or .pt of the "
                                        "training masks), but got none; save them with numpy.save or torch.save")
            masks = _load_masks(args.masks)
            rec = recommend(masks, task="segmentation", noisy_labels=args.noisy_labels, ordinal=args.ordinal)
            name = f"{args.masks} ({len(masks)} masks)"
        else:
            classes, name = _retrieval_labels(args.dataset, args.csv, args.target)
            rec = recommend(classes, task="retrieval", noisy_labels=args.noisy_labels, ordinal=args.ordinal)
        if args.json:
            print(json.dumps({"data": name, **rec.to_dict()}, indent=2))
            return 0
        print(f"data: {name}")
    elif args.task in FAMILY_TASKS:
        if args.dataset is not None:
            raise V.LossOptionError(f"recommend: --task {args.task} reads --csv, but got --dataset {args.dataset}; "
                                    "the bundled data sets hold no lists or preferences")
        if args.task == "ranking":
            if args.csv is None:
                raise V.LossOptionError("recommend: --task ranking needs --csv FILE with one row per item, but got "
                                        "none; pass --csv FILE --group COLUMN --target COLUMN")
            relevance, mask, name = _ranking_from_csv(args.csv, args.group, args.target)
            rec = recommend(relevance, task="ranking", mask=mask, k=args.k, noisy_labels=args.noisy_labels)
        else:
            labels = lengths = None
            name = args.csv or "no data (the options only)"
            if args.target and not args.unpaired:
                raise V.LossOptionError("recommend: --target names the 0/1 labels of unpaired responses, but got "
                                        "paired data; add --unpaired, or drop --target")
            if args.csv is not None:
                length_cols = [c.strip() for c in (args.lengths or "").split(",") if c.strip()]
                if len(length_cols) > 2:
                    raise V.LossOptionError(f"recommend: --lengths takes one column or two (chosen,rejected), but got "
                                            f"{len(length_cols)}: {args.lengths!r}")
                cols = _read_columns(args.csv, length_cols + ([args.target] if args.target else []))
                if length_cols:
                    lens = [_numbers(cols[c], c) for c in length_cols]
                    lengths = np.stack(lens, 1) if len(lens) == 2 else lens[0]
                if args.target:
                    labels = _numbers(cols[args.target], args.target)
            rec = recommend(labels, task="preference", reference=not args.no_reference,
                            paired=False if args.unpaired else None, lengths=lengths, noisy_labels=args.noisy_labels)
        if args.json:
            print(json.dumps({"data": name, **rec.to_dict()}, indent=2))
            return 0
        print(f"data: {name}")
    else:
        from .lab.data import load_data

        if args.dataset is None and args.csv is None:
            raise V.LossOptionError("recommend: one of --dataset NAME or --csv FILE is required, but got neither; "
                                    "only --task preference works without data")
        data = load_data(args.dataset, args.csv, args.target, where="recommend")
        targets = data.y if data.task != "regression" or args.task else data.y.astype(np.float64)
        rec = recommend(targets, task=args.task, noisy_labels=args.noisy_labels, ordinal=args.ordinal)
        if args.json:
            print(json.dumps({"data": data.name, **rec.to_dict()}, indent=2))
            return 0
        print(f"data: {data.name} ({data.num_rows} rows, {data.X.shape[1]} features, target {data.target_name!r})")
        notes = list(data.notices)
    for note in notes:
        print(f"note: {note}")
    print(rec)
    print("\npaste:\n    import torch, losskit as lk\n    " + rec.code)
    return 0
