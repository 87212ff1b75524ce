r"""The statistics behind the lab's verdict: paired differences over repeated splits, Nadeau and Bengio's
corrected resampled t-test, Holm's step-down correction, and the winner rule. Pure numpy, no scipy.

**The data.** ``compare`` trains every loss in ``J`` runs; run ``r`` uses split ``r`` (a fresh stratified
train/validation/test split) and seed ``r`` (initialisation, batch order, dropout), the same for every loss. For two
losses ``a`` and ``b`` the paired difference of run ``r`` is

.. math::  d_r = s \cdot (m_{a,r} - m_{b,r}), \qquad s = +1 \text{ if the metric is higher-is-better, else } -1,

so ``d_r > 0`` means ``a`` did better in run ``r``.

**The test.** The runs share rows, so the ``d_r`` are positively correlated and the plain paired t-test (variance
``S^2/J``) is far too confident. Nadeau and Bengio (2003) take the correlation between two runs' estimates to be
about ``n_test / n`` and inflate the variance of the mean accordingly:

.. math::

    \bar d = \frac1J \sum_r d_r, \quad S^2 = \frac{1}{J-1} \sum_r (d_r - \bar d)^2, \quad
    \widehat{\mathrm{Var}}(\bar d) = \Big(\frac1J + \frac{n_{test}}{n_{train}}\Big) S^2, \quad
    t = \frac{\bar d}{\sqrt{\widehat{\mathrm{Var}}(\bar d)}} \sim t_{J-1},

with ``n_train`` the rows a run may learn from (all rows outside its test split: training and validation) and
``n_test`` the rows of its test split. The two-sided p-value is ``2 P(T_{J-1} > |t|)`` and the confidence interval
``\bar d \pm t_{1-\alpha/2, J-1} \sqrt{\widehat{\mathrm{Var}}(\bar d)}``. The inflation does not vanish as ``J``
grows: repeated splits of one data set cannot resolve a difference smaller than about
``t_{1-\alpha/2} S \sqrt{n_{test}/n_{train}}`` (:func:`runs_needed` says so). The correction is for the overlap of
the test splits; when much of the run-to-run variation comes from *which rows are trained on*, the test is liberal
(Bouckaert and Frank, 2004): in the simulation of ``tests/test_lab_stats.py`` with a fifth of the variance of a
difference from the training rows, 10 runs reject a true null about 11% of the time at ``alpha = 0.05`` (5% with
none, 6% with a fiftieth). The permuted-label check in the README measures the lab itself.

**Several comparisons.** Holm (1979): sort the ``m`` p-values, ``p_{(1)} \le \dots \le p_{(m)}``; the adjusted
values are ``\tilde p_{(i)} = \min(1, \max_{k \le i} (m - k + 1) p_{(k)})``; rejecting where ``\tilde p < \alpha``
keeps the family-wise error rate at ``\alpha`` under any dependence.

**The winner rule** (:func:`decide`). Every pair of losses is compared, and Holm corrects over all ``K(K-1)/2``
pairs. The loss with the best mean is named the winner only when, against **every** other loss, its mean gain is
positive with a Holm-adjusted p-value below ``alpha`` and at least the practical ``margin``. A winner that is not
truly better than every other loss needs at least one false rejection in the family, so the chance of naming a
false winner is at most ``alpha`` whatever the number of losses. Separately, each loss is compared with the
baseline (Holm over the ``K - 1`` comparisons) for the "vs baseline" lines.

References:
    C. Nadeau and Y. Bengio, "Inference for the Generalization Error", Machine Learning 52(3), 2003.
    R. R. Bouckaert and E. Frank, "Evaluating the Replicability of Significance Tests for Comparing Learning
    Algorithms", PAKDD 2004.
    S. Holm, "A Simple Sequentially Rejective Multiple Test Procedure", Scandinavian Journal of Statistics 6(2),
    1979.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "Comparison",
    "Pair",
    "PairedTest",
    "corrected_ttest",
    "decide",
    "holm",
    "runs_needed",
    "student_t_ppf",
    "student_t_sf",
]

ALPHA = 0.05
MAX_RUNS = 200
""":func:`runs_needed` looks no further."""


# --------------------------------------------------------------------------------------------
# Student's t without scipy
# --------------------------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularized incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """``I_x(a, b)``, the regularized incomplete beta function (Press et al., Numerical Recipes, 6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """``P(T > t)`` for Student's t with ``df`` degrees of freedom: ``I_{df/(df+t^2)}(df/2, 1/2) / 2`` for
    ``t >= 0``."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


@functools.lru_cache(maxsize=4096)
def student_t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`student_t_sf`)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"student_t_ppf: q must be in (0, 1), but got {q!r}; pass e.g. q=0.975")
    if q < 0.5:
        return -student_t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while student_t_sf(hi, df) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_sf(mid, df) > 1.0 - q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedTest:
    """Nadeau and Bengio's corrected resampled t-test on paired differences (module docstring)."""

    runs: int
    mean: float
    """``\\bar d``."""
    sd: float
    """``S``, the sample standard deviation of the differences (0 with one run)."""
    se: float
    """``S sqrt(1/J + n_test/n_train)``."""
    t: float
    df: int
    p_value: float
    """Two-sided; NaN with fewer than two runs."""
    ci: tuple[float, float]
    """The ``1 - alpha`` confidence interval of the mean difference (not adjusted for multiplicity)."""
    alpha: float
    correction: float
    """``n_test / n_train``."""


def corrected_ttest(diffs: Sequence[float] | np.ndarray, *, n_train: float, n_test: float,
                    alpha: float = ALPHA) -> PairedTest:
    """Nadeau and Bengio's corrected resampled t-test of ``mean(diffs) == 0``.

    Args:
        diffs: one paired difference per run (same split and seed for both losses).
        n_train: rows a run learns from (outside its test split). n_test: rows of its test split. With one fixed
            split whose runs vary only the seed there is no overlap of test sets to correct for: ``n_train=math.inf``
            gives the plain paired t-test (variance ``S^2/J``).
        alpha: for the confidence interval.

    Returns:
        A :class:`PairedTest`. With fewer than two runs the p-value and the interval are NaN; with differences that
        are all equal, ``p = 1`` if they are 0 and ``p = 0`` otherwise.

    Example:
        >>> round(corrected_ttest([0.02, 0.01, 0.03, 0.02, 0.025], n_train=800, n_test=200).p_value, 4)
        0.0135
    """
    d = np.asarray(diffs, dtype=np.float64).reshape(-1)
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"corrected_ttest: n_train and n_test must be positive, but got {n_train!r} and {n_test!r}")
    J = int(d.size)
    correction = float(n_test) / float(n_train)
    mean = float(d.mean()) if J else math.nan
    if J < 2:
        return PairedTest(J, mean, 0.0, math.nan, math.nan, 0, math.nan, (math.nan, math.nan), alpha, correction)
    sd = float(d.std(ddof=1))
    if sd <= 1e-12 * max(1.0, abs(mean)):  # equal differences, up to rounding
        sd = 0.0
    se = sd * math.sqrt(1.0 / J + correction)
    df = J - 1
    if se == 0.0:
        t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
        return PairedTest(J, mean, sd, se, t, df, p, (mean, mean), alpha, correction)
    t = mean / se
    p = min(1.0, 2.0 * student_t_sf(abs(t), df))
    half = student_t_ppf(1.0 - alpha / 2.0, df) * se
    return PairedTest(J, mean, sd, se, t, df, p, (mean - half, mean + half), alpha, correction)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (NaN counts as 1).

    Example:
        >>> holm([0.01, 0.04, 0.03, 0.005])
        [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray([1.0 if (v is None or math.isnan(v)) else float(v) for v in p_values], dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for i, k in enumerate(order):
        running = max(running, (m - i) * p[k])
        adjusted[k] = min(1.0, running)
    return [round(float(v), 12) for v in adjusted]


def runs_needed(mean: float, sd: float, *, n_train: float, n_test: float, alpha: float = ALPHA,
                max_runs: int = MAX_RUNS) -> int | None:
    """The smallest number of runs ``J >= 2`` at which a mean difference ``mean`` with per-run spread ``sd`` would
    give ``|t| >= t_{1-alpha/2, J-1}``; ``None`` if no ``J <= max_runs`` does (the corrected variance has the floor
    ``S^2 n_test / n_train``, so a small enough difference is never resolved by more splits of the same data)."""
    if not math.isfinite(mean) or mean == 0.0:
        return None
    if sd == 0.0 or not math.isfinite(sd):
        return 2
    r = n_test / n_train
    for J in range(2, max_runs + 1):
        if abs(mean) / (sd * math.sqrt(1.0 / J + r)) >= student_t_ppf(1.0 - alpha / 2.0, J - 1):
            return J
    return None


# --------------------------------------------------------------------------------------------
# the rule
# --------------------------------------------------------------------------------------------
@dataclass
class Pair:
    """``a`` against ``b``: ``diffs[r] > 0`` when ``a`` did better in run ``r``."""

    a: str
    b: str
    diffs: list[float]
    test: PairedTest
    p_holm: float
    """Holm-adjusted over the family this pair belongs to."""
    family: int
    """The number of comparisons Holm corrected over."""

    def better(self, alpha: float, margin: float) -> str | None:
        """``a`` or ``b`` when its mean gain is significant (Holm) and at least ``margin``; else ``None``."""
        if not self.p_holm < alpha or not math.isfinite(self.test.mean) or abs(self.test.mean) < margin:
            return None
        if self.test.mean == 0.0:
            return None
        return self.a if self.test.mean > 0 else self.b

    def to_dict(self) -> dict[str, Any]:
        t = self.test
        return {"a": self.a, "b": self.b, "diffs": self.diffs, "mean": t.mean, "sd": t.sd, "se": t.se, "t": t.t,
                "df": t.df, "p": t.p_value, "p_holm": self.p_holm, "family": self.family, "ci": list(t.ci)}


@dataclass
class Comparison:
    """What :func:`decide` found."""

    metric: str
    higher_is_better: bool
    alpha: float
    margin: float
    n_train: float
    n_test: float
    runs: int
    baseline: str | None
    means: dict[str, float]
    pairs: list[Pair]
    """Every pair, the best-by-mean loss first within each pair when it involves it; Holm over all of them."""
    versus_baseline: list[Pair] = field(default_factory=list)
    """Each loss against the baseline (``a`` = the loss), Holm over these ``K - 1``."""
    winner: str | None = None
    best: str | None = None
    """The loss with the best mean (the only possible winner)."""
    closest: Pair | None = None
    """The best loss's weakest comparison (the one that decides whether it wins)."""
    runs_to_resolve: int | None = None
    """From the closest comparison's effect and spread; ``None`` when more splits of this data cannot resolve it."""

    def pair(self, a: str, b: str) -> Pair:
        """The comparison of ``a`` with ``b`` (oriented so that ``diffs > 0`` means ``a`` did better)."""
        for p in self.pairs:
            if (p.a, p.b) == (a, b):
                return p
            if (p.a, p.b) == (b, a):
                flipped = PairedTest(p.test.runs, -p.test.mean, p.test.sd, p.test.se, -p.test.t, p.test.df,
                                     p.test.p_value, (-p.test.ci[1], -p.test.ci[0]), p.test.alpha, p.test.correction)
                return Pair(a, b, [-d for d in p.diffs], flipped, p.p_holm, p.family)
        raise KeyError(f"Comparison.pair: no comparison of {a!r} with {b!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": ("Nadeau-Bengio corrected resampled t-test (variance x (1/J + n_test/n_train)), two-sided"
                     if math.isfinite(self.n_train) else
                     "paired t-test over seeds on one fixed split (variance x 1/J: n_train = inf), two-sided"),
            "correction": "Holm over all pairs (winner); Holm over the comparisons with the baseline (vs baseline)",
            "metric": self.metric, "higher_is_better": self.higher_is_better, "alpha": self.alpha,
            "margin": self.margin, "n_train": self.n_train, "n_test": self.n_test, "runs": self.runs,
            "baseline": self.baseline, "means": self.means, "best": self.best, "winner": self.winner,
            "runs_to_resolve": self.runs_to_resolve,
            "pairs": [p.to_dict() for p in self.pairs],
            "versus_baseline": [p.to_dict() for p in self.versus_baseline],
        }


def decide(values: Mapping[str, Sequence[float]], *, metric: str, higher_is_better: bool, n_train: float,
           n_test: float, baseline: str | None = None, alpha: float = ALPHA, margin: float = 0.0) -> Comparison:
    """The winner rule of the module docstring, on ``values[name][r]`` = the metric of loss ``name`` in run ``r``.

    Args:
        values: per loss, one value per run, the runs paired across losses (at least two losses; NaN not allowed).
        metric, higher_is_better: the metric's name and direction.
        n_train, n_test: rows learnt from and tested on per run (:func:`corrected_ttest`).
        baseline: the loss every other is compared with in :attr:`Comparison.versus_baseline`.
        alpha: the family-wise error rate of each Holm family.
        margin: the smallest mean gain that counts, in the metric's units.

    Returns:
        A :class:`Comparison`; its ``winner`` is ``None`` unless the best loss beats every other one.
    """
    names = list(values)
    table = {n: np.asarray(values[n], dtype=np.float64).reshape(-1) for n in names}
    runs = {v.size for v in table.values()}
    if len(names) < 2 or len(runs) != 1:
        raise ValueError(f"decide: values must hold at least two losses with the same number of runs, but got "
                         f"{ {n: v.size for n, v in table.items()} }")
    if any(not np.all(np.isfinite(v)) for v in table.values()):
        raise ValueError("decide: values must be finite, but got NaN or inf; drop the failed runs first")
    J = runs.pop()
    sign = 1.0 if higher_is_better else -1.0
    means = {n: float(v.mean()) for n, v in table.items()}
    best = max(names, key=lambda n: sign * means[n])

    def make(a: str, b: str) -> tuple[list[float], PairedTest]:
        d = sign * (table[a] - table[b])
        d = np.round(d, 12) + 0.0  # no 1e-17 noise from subtracting equal floats
        return d.tolist(), corrected_ttest(d, n_train=n_train, n_test=n_test, alpha=alpha)

    raw: list[tuple[str, str, list[float], PairedTest]] = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            first, second = (b, a) if b == best else (a, b)
            raw.append((first, second, *make(first, second)))
    adjusted = holm([r[3].p_value for r in raw])
    pairs = [Pair(a, b, d, t, p, len(raw)) for (a, b, d, t), p in zip(raw, adjusted)]
    result = Comparison(metric, higher_is_better, alpha, margin, float(n_train), float(n_test), J, baseline, means,
                        pairs, best=best)
    if baseline is not None and baseline in table:
        others = [n for n in names if n != baseline]
        vs = [(n, *make(n, baseline)) for n in others]
        adj = holm([t.p_value for _, _, t in vs])
        result.versus_baseline = [Pair(n, baseline, d, t, p, len(vs)) for (n, d, t), p in zip(vs, adj)]
    mine = [p for p in pairs if p.a == best]
    closest = max(mine, key=lambda p: (p.better(alpha, margin) != best, p.p_holm, -p.test.mean))
    result.closest = closest
    if all(p.better(alpha, margin) == best for p in mine):
        result.winner = best
    else:
        # Bonferroni over the family: a rough upper bound of what Holm would need at its first step
        result.runs_to_resolve = runs_needed(closest.test.mean, closest.test.sd, n_train=n_train, n_test=n_test,
                                             alpha=alpha / len(pairs))
    return result
