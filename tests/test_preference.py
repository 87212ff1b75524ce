"""Preference losses beyond the generic database tests: golden values (by hand from the papers' formulas, and
TRL 1.16's own code where it can run without a trainer), the fused linear path against the naive form in float64
(values and gradients), and the helpers (``sequence_log_probs``, the SFT token mean, ``preference_rewards``)."""

from __future__ import annotations

import types
import warnings

import pytest
import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from losskit.bench.baselines import naive_linear_preference_loss
from losskit.fused import PREFERENCE_LOSS_TYPES, fused_linear_cross_entropy, fused_linear_preference_loss
from losskit.preference import preference_rewards, sequence_log_probs

D = torch.float64

# (policy chosen, policy rejected, reference chosen, reference rejected): log-ratio margins h = 2.5, -3.75, -0.25
PAIRS = torch.tensor([[-12.0, -15.5, -13.0, -14.0], [-30.25, -28.0, -29.0, -30.5], [-7.5, -9.0, -7.0, -8.75]], dtype=D)
PC, PR, RC, RR = PAIRS.unbind(1)


# --------------------------------------------------------------------------------------------
# golden values by hand (python math on the formulas of the docstrings; the TRL 1.16 file each matches)
# --------------------------------------------------------------------------------------------
GOLDEN = [
    # DPO, TRL 1.16 trainer/dpo_trainer.py loss_type="sigmoid": -log sigmoid(beta h)
    ("dpo beta=0.1", LF.dpo_loss, (PC, PR, RC, RR), {}, [0.5759394198788437, 0.89812326413984, 0.7057253035255248]),
    ("dpo beta=0.5", LF.dpo_loss, (PC, PR, RC, RR), {"beta": 0.5},
     [0.251929081345373, 2.0176750576056013, 0.757599035317169]),
    # cDPO: TRL 0.x DPOTrainer.dpo_loss "sigmoid" with label_smoothing (Mitchell 2023)
    ("cdpo eps=0.25", LF.dpo_loss, (PC, PR, RC, RR), {"label_smoothing": 0.25},
     [0.6384394198788437, 0.8043732641398401, 0.6994753035255248]),
    # robust DPO, TRL 1.16 loss_type="robust" (Chowdhury et al. 2024 eq. 7)
    ("robust eps=0.25", LF.dpo_loss, (PC, PR, RC, RR), {"loss_type": "robust", "label_smoothing": 0.25},
     [0.4509394198788438, 1.08562326413984, 0.7182253035255246]),
    # reference-free: TRL 0.x reference_free=True (reference log-ratio 0)
    ("dpo reference-free", LF.dpo_loss, (PC, PR), {"reference_free": True},
     [0.5333821554187769, 0.8119620020497038, 0.620957047789532]),
    # IPO, TRL 1.16 loss_type="ipo" on these (already averaged) log-probs: (h - 1/(2 beta))^2
    ("ipo beta=0.5", LF.ipo_loss, (PC, PR, RC, RR), {"beta": 0.5}, [2.25, 22.5625, 1.5625]),
    # KTO, TRL 1.16 trainer/kto_trainer.py loss_type="kto", kl = 0.75
    ("kto kl=0.75", LF.kto_loss, (PC, PR, RC, RR, torch.tensor(0.75, dtype=D)), {},
     [0.4937503255004896, 0.5498339973124778, 0.5312093733737562,
      0.4439861094553801, 0.5436386872370789, 0.47502081252106]),
]


@pytest.mark.parametrize(("desc", "fn", "args", "kwargs", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_values_by_hand(desc, fn, args, kwargs, expected):
    out = fn(*args, **kwargs, reduction="none")
    torch.testing.assert_close(out, torch.tensor(expected, dtype=D), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(fn(*args, **kwargs), out.mean(), rtol=1e-13, atol=1e-13)


def test_robust_and_cdpo_reduce_to_dpo_without_smoothing():
    plain = LF.dpo_loss(PC, PR, RC, RR, reduction="none")
    torch.testing.assert_close(LF.dpo_loss(PC, PR, RC, RR, loss_type="robust", reduction="none"), plain)


def test_kto_kl_is_a_detached_reference_point():
    kl = torch.tensor(2.0, dtype=D, requires_grad=True)
    pc = PC.clone().requires_grad_()
    LF.kto_loss(pc, PR, RC, RR, kl).backward()
    assert kl.grad is None and pc.grad is not None
    clamped = LF.kto_loss(PC, PR, RC, RR, torch.tensor(-3.0, dtype=D))
    torch.testing.assert_close(clamped, LF.kto_loss(PC, PR, RC, RR, torch.tensor(0.0, dtype=D)))


# --------------------------------------------------------------------------------------------
# TRL 1.16's own loss code (methods that need only a few attributes of the trainer)
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trl_trainers():
    pytest.importorskip("trl", reason="TRL is not installed (a test-only comparison, not in the dev extra)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.cpo import CPOTrainer
        from trl.experimental.orpo import ORPOTrainer
    return CPOTrainer, ORPOTrainer


def _stub(**attrs):
    return types.SimpleNamespace(accelerator=types.SimpleNamespace(device="cpu"), alpha=0.0, **attrs)


AVG_C = torch.tensor([-0.45, -1.3, -2.2, -0.05, -0.9], dtype=D)
AVG_R = torch.tensor([-0.8, -1.1, -2.9, -0.69, -0.6], dtype=D)


@pytest.mark.parametrize(("beta", "gamma", "eps"), [(2.0, 1.0, 0.0), (0.1, 0.5, 0.0), (2.5, 1.4, 0.15)])
def test_simpo_equals_trl_cpo_trainer_simpo(trl_trainers, beta, gamma, eps):
    cpo, _ = trl_trainers
    losses, chosen, rejected = cpo.cpo_loss(
        _stub(beta=beta, loss_type="simpo", simpo_gamma=gamma, label_smoothing=eps), AVG_C, AVG_R
    )
    ours = LF.simpo_loss(AVG_C, AVG_R, beta=beta, gamma=gamma, label_smoothing=eps, reduction="none")
    torch.testing.assert_close(ours, losses, rtol=1e-12, atol=1e-12)
    rewards = preference_rewards(AVG_C, AVG_R, beta=beta)
    torch.testing.assert_close((rewards.chosen, rewards.rejected), (chosen, rejected))


@pytest.mark.parametrize(("beta", "eps"), [(0.1, 0.0), (0.5, 0.2)])
def test_cpo_preference_term_equals_trl(trl_trainers, beta, eps):
    cpo, _ = trl_trainers
    pc, pr = PC, PR
    losses, _, _ = cpo.cpo_loss(_stub(beta=beta, loss_type="sigmoid", simpo_gamma=0.5, label_smoothing=eps), pc, pr)
    ours = LF.cpo_loss(pc, pr, beta=beta, cpo_alpha=0.0, label_smoothing=eps, reduction="none")
    torch.testing.assert_close(ours, losses, rtol=1e-12, atol=1e-12)


def test_orpo_odds_ratio_term_equals_trl(trl_trainers):
    _, orpo = trl_trainers
    losses, chosen, _, _, _ = orpo.odds_ratio_loss(_stub(beta=0.25), AVG_C, AVG_R)  # TRL computes in float32
    ours = LF.orpo_loss(AVG_C, AVG_R, beta=0.25, reduction="none") + AVG_C  # minus the NLL term
    torch.testing.assert_close(ours, -losses.double(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(preference_rewards(AVG_C, AVG_R, beta=0.25).chosen, chosen.double())


def test_sequence_log_probs_equals_trl_get_batch_logps(trl_trainers):
    cpo, _ = trl_trainers
    torch.manual_seed(0)
    logits = torch.randn(3, 9, 11, dtype=D)
    labels = torch.randint(0, 11, (3, 9))
    labels[:, :3] = -100
    labels[1, 6:] = -100
    for average in (False, True):
        trl = cpo.get_batch_logps(logits, labels, average_log_prob=average)  # shifts inside
        ours = sequence_log_probs(logits[:, :-1], labels[:, 1:], average=average)
        torch.testing.assert_close(ours, trl, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# the fused linear path against the naive form, float64
# --------------------------------------------------------------------------------------------
def _fused_inputs(seed: int, paired: bool = True):
    g = torch.Generator().manual_seed(seed)
    b, t, h, v = 3, 7, 6, 17
    br, tr = (b, t + 2) if paired else (2, t + 1)
    hc, hr = torch.randn(b, t, h, generator=g, dtype=D), torch.randn(br, tr, h, generator=g, dtype=D)
    w, bias = torch.randn(v, h, generator=g, dtype=D), torch.randn(v, generator=g, dtype=D)
    lc, lr = torch.randint(0, v, (b, t), generator=g), torch.randint(0, v, (br, tr), generator=g)
    lc[:, :2] = -100
    lr[0, :-1] = -100  # one token left
    lr[1, 4] = -100
    refs = (torch.rand(b, generator=g, dtype=D) * -20 - 5, torch.rand(br, generator=g, dtype=D) * -20 - 5)
    return (hc, hr, w, bias), (lc, lr), refs


def _options(loss_type: str, refs) -> dict:
    kw: dict = {"loss_type": loss_type}
    if loss_type in ("dpo", "robust", "ipo", "kto"):
        kw.update(ref_logps_chosen=refs[0], ref_logps_rejected=refs[1])
    if loss_type == "robust":
        kw["label_smoothing"] = 0.2
    if loss_type == "simpo":
        kw["gamma"] = 0.4
    if loss_type == "kto":
        kw.update(kl=torch.tensor(0.3, dtype=D), desirable_weight=1.2)
    return kw


def _naive_options(kw: dict) -> dict:
    keep = {"dpo": ("beta",), "robust": ("label_smoothing",), "simpo": ("gamma",), "kto": ("desirable_weight",)}
    out = {k: kw[k] for k in ("loss_type", "ref_logps_chosen", "ref_logps_rejected", "kl") if k in kw}
    out.update({k: kw[k] for k in keep.get(kw["loss_type"], ()) if k in kw})
    return out


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss_type", PREFERENCE_LOSS_TYPES)
def test_fused_equals_naive_in_float64(loss_type: str, reduction: str):
    tensors, (lc, lr), refs = _fused_inputs(1, paired=loss_type != "kto")
    kw = _options(loss_type, refs)
    a = [t.clone().requires_grad_() for t in tensors]
    b = [t.clone().requires_grad_() for t in tensors]
    out = fused_linear_preference_loss(a[0], a[1], a[2], lc, lr, bias=a[3], chunk_size=5, reduction=reduction, **kw)
    ref = naive_linear_preference_loss(b[0], b[1], b[2], lc, lr, bias=b[3], reduction=reduction,
                                       **_naive_options(kw))
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    grad = torch.rand_like(out) + 0.5
    out.backward(grad)
    ref.backward(grad)
    for x, y, name in zip(a, b, ("hidden_chosen", "hidden_rejected", "weight", "bias")):
        torch.testing.assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_fused_default_chunk_no_grad_and_partial_grads():
    tensors, (lc, lr), refs = _fused_inputs(2)
    hc, hr, w, _ = tensors
    kw = _options("dpo", refs)
    ref = naive_linear_preference_loss(hc, hr, w, lc, lr, **_naive_options(kw))
    with torch.no_grad():
        torch.testing.assert_close(fused_linear_preference_loss(hc, hr, w, lc, lr, **kw), ref)
    wl = w.clone().requires_grad_()  # only the weight learns
    fused_linear_preference_loss(hc, hr, wl, lc, lr, **kw).backward()
    wn = w.clone().requires_grad_()
    naive_linear_preference_loss(hc, hr, wn, lc, lr, **_naive_options(kw)).backward()
    torch.testing.assert_close(wl.grad, wn.grad)


def test_fused_reference_free_dpo_and_float32():
    tensors, (lc, lr), _ = _fused_inputs(3)
    hc, hr, w, _ = (t.float() for t in tensors)
    out = fused_linear_preference_loss(hc, hr, w, lc, lr, beta=0.2)
    ref = LF.dpo_loss(sequence_log_probs(F.linear(hc, w), lc), sequence_log_probs(F.linear(hr, w), lr),
                      beta=0.2, reference_free=True)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"loss_type": "dpoo"}, lk.LossOptionError, "did you mean 'dpo'"),
        ({"loss_type": "ipo", "ref_logps_chosen": None, "ref_logps_rejected": None}, lk.LossOptionError,
         "'ipo' needs ref_logps_chosen"),
        ({"loss_type": "kto"}, lk.LossOptionError, "kl is the reference point"),
        ({"beta": -1.0}, lk.LossOptionError, "beta.*-1.0"),
        ({"labels_rejected": "3 columns"}, lk.LossShapeError, r"labels_rejected must have shape \(3, 9\)"),
        ({"dtype": torch.float16}, lk.LossOptionError, "float32 or float64.*naive form"),
    ],
)
def test_fused_errors(change, error, match):
    tensors, (lc, lr), refs = _fused_inputs(4)
    hc, hr, w, _ = tensors
    kw = _options("dpo", refs)
    change = dict(change)
    if change.pop("labels_rejected", None):
        lr = lr[:, :3]
    dtype = change.pop("dtype", None)
    if dtype is not None:
        hc, hr, w = hc.to(dtype), hr.to(dtype), w.to(dtype)
    kw.update(change)
    with pytest.raises(error, match=match):
        fused_linear_preference_loss(hc, hr, w, lc, lr, **kw)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def test_sequence_log_probs_mask_average_and_half():
    torch.manual_seed(1)
    logits = torch.randn(2, 5, 7, dtype=D)
    labels = torch.randint(0, 7, (2, 5))
    labels[0, 0] = -100
    mask = torch.tensor([[1, 1, 1, 0, 1], [0, 0, 0, 0, 0]])
    token = logits.log_softmax(-1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    keep = (labels != -100) & mask.bool()
    expected = (token * keep).sum(1)
    torch.testing.assert_close(sequence_log_probs(logits, labels, mask=mask), expected)
    avg = sequence_log_probs(logits, labels, mask=mask, average=True)
    torch.testing.assert_close(avg, torch.stack([expected[0] / 3, torch.zeros((), dtype=D)]))  # no token: 0
    half = sequence_log_probs(logits.half(), labels)
    assert half.dtype == torch.float32
    with pytest.raises(lk.LossShapeError, match=r"labels must have shape \(2, 5\).*\(2, 4\)"):
        sequence_log_probs(logits, labels[:, 1:])


def test_sft_term_is_cross_entropy_with_a_global_token_mean():
    """The SFT/NLL term of ORPO, CPO and TRL's "sft": mean over every non-ignored token of the batch."""
    torch.manual_seed(2)
    h, w = torch.randn(3, 6, 4, dtype=D), torch.randn(9, 4, dtype=D)
    labels = torch.randint(0, 9, (3, 6))
    labels[0, :4] = -100
    labels[2, 1:] = -100
    logits = F.linear(h, w)
    per_token = -logits.log_softmax(-1).gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    valid = labels != -100
    expected = per_token[valid].mean()
    torch.testing.assert_close(LF.cross_entropy(logits.flatten(0, 1), labels.flatten()), expected)
    torch.testing.assert_close(fused_linear_cross_entropy(h.flatten(0, 1), w, labels.flatten()), expected)
    totals = -sequence_log_probs(logits, labels)
    torch.testing.assert_close(totals.sum() / valid.sum(), expected)


def test_preference_rewards_as_trl_logs_them():
    r = preference_rewards(PC, PR, RC, RR, beta=0.1)
    torch.testing.assert_close(r.chosen, 0.1 * (PC - RC))
    torch.testing.assert_close(r.margins, 0.1 * torch.tensor([2.5, -3.75, -0.25], dtype=D))
    assert r.accuracies.tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(lk.LossOptionError, match="both"):
        preference_rewards(PC, PR, RC)
