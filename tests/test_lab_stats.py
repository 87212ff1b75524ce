"""The lab's statistics (:mod:`losskit.lab.stats`): Student's t against scipy, the corrected resampled t-test and
Holm by hand, and the winner rule's level and power by simulation (no training).

The simulation draws a data set of ``N`` rows from a null in which every loss has the same distribution: row ``i``
has a difficulty shared by all losses plus a loss-specific part, and run ``r`` draws a split (20% test), so a run's
metric is the mean over its test rows, plus a small term from its training rows and a seed term. Runs share rows,
so their differences are positively correlated: the structure Nadeau and Bengio's correction is for."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losskit.lab.stats import Comparison, corrected_ttest, decide, holm, runs_needed, student_t_ppf, student_t_sf

ALPHA = 0.05
REPS = 2000
"""Simulated comparisons per level check; a rate must stay below alpha + 3 binomial standard errors."""


def _simulate(rng: np.random.Generator, losses: int, runs: int, *, rows: int = 400, effect: float = 0.0,
              train_sd: float = 0.2, seed_sd: float = 0.02) -> tuple[dict[str, np.ndarray], int, int]:
    """One data set and ``runs`` paired runs of ``losses`` losses; loss 0 is better by ``effect`` (module doc)."""
    n_test = rows // 5
    shared = rng.normal(0.0, 1.0, rows)
    own = rng.normal(0.0, 1.0, (losses, rows)) + shared
    from_training = rng.normal(0.0, train_sd, (losses, rows))
    values = np.empty((losses, runs))
    for r in range(runs):
        order = rng.permutation(rows)
        test, train = order[:n_test], order[n_test:]
        values[:, r] = own[:, test].mean(1) + from_training[:, train].mean(1) + rng.normal(0.0, seed_sd, losses)
    values[0] += effect
    return {f"loss{k}": values[k] for k in range(losses)}, rows - n_test, n_test


# ------------------------------------------------------------------ Student's t
@pytest.mark.parametrize("df", [1, 2, 4, 9, 30])
def test_student_t_matches_scipy(df):
    st = pytest.importorskip("scipy.stats")
    for t in (-3.0, -0.4, 0.0, 0.7, 2.2, 8.0):
        assert student_t_sf(t, df) == pytest.approx(st.t.sf(t, df), rel=1e-10, abs=1e-14)
    for q in (0.025, 0.5, 0.9, 0.975, 0.9995):
        assert student_t_ppf(q, df) == pytest.approx(st.t.ppf(q, df), rel=1e-8, abs=1e-10)


# ------------------------------------------------------------------ the test, by hand
def test_corrected_ttest_by_hand():
    d = [0.02, 0.01, 0.03, 0.02, 0.025]
    got = corrected_ttest(d, n_train=800, n_test=200)
    # by hand: mean 0.021, S^2 = (1e-6 + 1.21e-4 + 8.1e-5 + 1e-6 + 1.6e-5) / 4 = 5.5e-5,
    # variance of the mean (1/5 + 200/800) S^2 = 0.45 * 5.5e-5 = 2.475e-5, t = 0.021 / 0.004975 = 4.2212, df 4
    assert got.mean == pytest.approx(0.021)
    assert got.sd**2 == pytest.approx(5.5e-5)
    assert got.se == pytest.approx(math.sqrt(2.475e-5))
    assert got.t == pytest.approx(4.221159, rel=1e-6) and got.df == 4
    assert got.p_value == pytest.approx(2 * student_t_sf(4.221159, 4), rel=1e-5)
    half = student_t_ppf(0.975, 4) * got.se  # t_{0.975, 4} = 2.7764
    assert got.ci == pytest.approx((0.021 - half, 0.021 + half))
    # the plain paired t-test (no n_test/n_train term) is more confident: the correction matters
    plain = 0.021 / math.sqrt(5.5e-5 / 5)
    assert got.t < plain / 1.4


def test_corrected_ttest_edge_cases():
    one = corrected_ttest([0.3], n_train=10, n_test=5)
    assert one.runs == 1 and math.isnan(one.p_value) and math.isnan(one.ci[0])
    assert corrected_ttest([0.0, 0.0, 0.0], n_train=10, n_test=5).p_value == 1.0
    assert corrected_ttest([0.1, 0.1, 0.1], n_train=10, n_test=5).p_value == 0.0
    with pytest.raises(ValueError, match="n_train and n_test must be positive"):
        corrected_ttest([0.1, 0.2], n_train=0, n_test=5)


def test_holm_by_hand():
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, float("nan")]) == [1.0, 1.0]
    assert holm([0.02]) == [0.02]


def test_runs_needed_has_a_floor():
    # with n_test / n_train = 1/4 the variance never falls below S^2 / 4: |mean| <= 1.96 * S / 2 is never resolved
    assert runs_needed(0.009, 0.01, n_train=800, n_test=200) is None
    big = runs_needed(0.03, 0.01, n_train=800, n_test=200)
    assert big is not None and 2 <= big <= 10
    t = 0.03 / (0.01 * math.sqrt(1 / big + 0.25))
    assert t >= student_t_ppf(0.975, big - 1)
    t_before = 0.03 / (0.01 * math.sqrt(1 / (big - 1) + 0.25))
    assert big == 2 or t_before < student_t_ppf(0.975, big - 2)


# ------------------------------------------------------------------ the rule
def test_decide_names_a_clear_winner_and_keeps_every_difference():
    values = {"base": [0.80, 0.82, 0.81, 0.79, 0.80], "good": [0.90, 0.91, 0.92, 0.90, 0.91],
              "meh": [0.81, 0.82, 0.80, 0.80, 0.81]}
    c = decide(values, metric="balanced_accuracy", higher_is_better=True, n_train=800, n_test=200, baseline="base",
               margin=0.01)
    assert c.winner == "good" and c.best == "good" and len(c.pairs) == 3
    gain = c.pair("good", "base")
    assert gain.diffs == pytest.approx([0.10, 0.09, 0.11, 0.11, 0.11])
    assert gain.family == 3 and gain.p_holm >= gain.test.p_value
    assert c.pair("base", "good").diffs == pytest.approx([-d for d in gain.diffs])
    assert [p.a for p in c.versus_baseline] == ["good", "meh"] and c.versus_baseline[0].family == 2
    data = c.to_dict()
    assert data["winner"] == "good" and len(data["pairs"]) == 3 and data["pairs"][0]["diffs"]


def test_decide_lower_is_better_and_the_margin():
    values = {"mse": [50.0, 51.0, 49.0, 50.5], "huber": [46.0, 47.0, 45.5, 46.0]}
    c = decide(values, metric="mae", higher_is_better=False, n_train=350, n_test=90, baseline="mse", margin=0.5)
    assert c.winner == "huber" and c.pair("huber", "mse").test.mean == pytest.approx(4.0)
    strict = decide(values, metric="mae", higher_is_better=False, n_train=350, n_test=90, baseline="mse", margin=5.0)
    assert strict.winner is None and strict.best == "huber"


def _rate(losses: int, runs: int, effect: float, seed: int, reps: int = REPS) -> tuple[float, float]:
    """(winner rate, rate of p < alpha for loss0 vs loss1) over ``reps`` simulated comparisons."""
    rng = np.random.default_rng(seed)
    winners = rejections = 0
    for _ in range(reps):
        values, n_train, n_test = _simulate(rng, losses, runs, effect=effect)
        c: Comparison = decide(values, metric="m", higher_is_better=True, n_train=n_train, n_test=n_test,
                               baseline="loss1", alpha=ALPHA, margin=0.0)
        winners += c.winner is not None
        rejections += c.pair("loss0", "loss1").test.p_value < ALPHA
    return winners / reps, rejections / reps


@pytest.mark.parametrize(("losses", "runs", "reps"), [(2, 5, REPS), (2, 10, REPS), (4, 10, REPS // 2)])
def test_false_winner_rate_holds_alpha_under_the_null(losses, runs, reps):
    winners, rejections = _rate(losses, runs, effect=0.0, seed=losses * 100 + runs, reps=reps)
    tolerance = 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert winners <= ALPHA + tolerance
    assert rejections <= ALPHA + tolerance
    if losses == 2:
        assert winners == rejections  # two losses, margin 0: a winner is exactly a rejection


def test_the_plain_paired_t_test_does_not_hold_alpha_here():
    """The simulation has teeth: without the n_test/n_train term the same data reject far too often."""
    rng = np.random.default_rng(7)
    rejections = 0
    for _ in range(500):
        values, _, _ = _simulate(rng, 2, 10)
        d = values["loss0"] - values["loss1"]
        t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
        rejections += 2 * student_t_sf(abs(t), d.size - 1) < ALPHA
    assert rejections / 500 > 2 * ALPHA


def test_power_for_a_large_effect():
    # the per-run spread of a difference is about sqrt(2 / 80) = 0.16; an effect of 0.4 is 2.5 of them
    winners, _ = _rate(2, 10, effect=0.4, seed=11, reps=400)
    assert winners >= 0.8
    winners4, _ = _rate(4, 10, effect=0.5, seed=12, reps=200)
    assert winners4 >= 0.8
