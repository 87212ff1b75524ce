"""Test-database entry of the sequence family: ctc_loss, referenced by torch 2.13's F.ctc_loss.

The generic float64 gradcheck is off: torch's CTC gradient (which losskit keeps) is the right one only
through log_softmax (pytorch/pytorch#52241); tests/test_sequence.py gradchecks ``ctc_loss(x.log_softmax(-1))``.
The generic fullgraph compile test is off: torch's CTC op has a data-dependent output shape, so the graph
breaks there; tests/test_sequence.py checks compiled (with the break) against eager.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import losskit as lk
import losskit.functional as LF
from tests.loss_db import ErrorCase, LossEntry, Sample

T, N, C, S = 6, 3, 5, 4


def ref_ctc(log_probs, targets, input_lengths, target_lengths, *, blank=0, reduction="mean", zero_infinity=False):
    """torch's ctc_loss; an int length of an unbatched input (accepted by losskit) becomes a 0-dim tensor."""
    if isinstance(input_lengths, int):
        input_lengths = torch.tensor(input_lengths)
    if isinstance(target_lengths, int):
        target_lengths = torch.tensor(target_lengths)
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank, reduction=reduction,
                      zero_infinity=zero_infinity)


def ctc_samples(dtype):
    lp = torch.randn(T, N, C, dtype=dtype).log_softmax(-1)
    targets = torch.tensor([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 1]])
    il, tl = torch.tensor([6, 5, 6]), torch.tensor([4, 2, 3])
    concatenated = torch.cat([targets[i, : int(tl[i])] for i in range(N)])
    blank_last = torch.tensor([[0, 1, 1, 3], [2, 0, 4, 4], [3, 3, 3, 3]])
    batch_first = torch.randn(N, T, C, dtype=dtype).log_softmax(-1)
    return [
        Sample((lp, targets, il, tl), {}, "padded, tensor lengths"),
        Sample((lp, targets, (6, 5, 6), (4, 2, 3)), {}, "tuple lengths"),
        Sample((lp, concatenated, il, tl), {}, "concatenated targets"),
        Sample((lp, targets.int(), il.int(), tl.int()), {}, "int32 targets and lengths"),
        Sample((lp, blank_last, il, tl), {"blank": 4}, "blank = C - 1"),
        Sample((lp, targets, torch.tensor([6, 5, 3]), tl), {"zero_infinity": True}, "infeasible, zero_infinity"),
        Sample((lp, targets, il, torch.tensor([4, 0, 3])), {}, "an empty target"),
        Sample((batch_first.transpose(0, 1), targets, il, tl), {}, "non-contiguous log_probs"),
        Sample((lp[:, 0], targets[0], 6, 4), {}, "unbatched (T, C), int lengths"),
        Sample((lp[:, 1], targets[1, :2], torch.tensor(5), torch.tensor(2)), {"blank": 0}, "unbatched, 0-d lengths"),
    ]


def _lp() -> torch.Tensor:
    return torch.randn(T, N, C).log_softmax(-1)


_TARGETS = torch.tensor([[1, 2, 2, 4], [3, 1, 0, 0], [4, 4, 4, 1]])
_IL, _TL = torch.tensor([6, 5, 6]), torch.tensor([4, 2, 3])


def _nan_lp() -> torch.Tensor:
    t = _lp()
    t[2, 1, 3] = float("nan")
    return t


CTC_ERRORS = [
    ErrorCase("targets contain the blank", lambda: ((_lp(), torch.tensor([[1, 0, 2, 4], [0, 1, 0, 0], [4, 4, 4, 1]]),
                                                     _IL, _TL), {}), lk.LossValueError,
              match=r"blank index 0, but got it 2 time\(s\).*targets \+ 1"),
    ErrorCase("label = C", lambda: ((_lp(), torch.tensor([[1, 2, 5, 4], [3, 1, 0, 0], [4, 4, 4, 1]]), _IL, _TL), {}),
              lk.LossValueError, match=r"\[0, 5\).*got 5 \(range \[1, 5\]\)"),
    ErrorCase("negative label", lambda: ((_lp(), torch.tensor([[1, -1, 2, 4], [3, 1, 0, 0], [4, 4, 4, 1]]), _IL, _TL),
                                         {}), lk.LossValueError, match=r"got -1 \(range \[-1, 4\]\)"),
    ErrorCase("target longer than input", lambda: ((_lp(), _TARGETS, torch.tensor([6, 1, 6]), _TL), {}),
              warns=lk.SuspiciousInputWarning, match=r"sequence 1 has input length 1 for 2 labels needing 2 steps"),
    ErrorCase("repeats make it infeasible", lambda: ((_lp(), _TARGETS, torch.tensor([4, 5, 6]), _TL), {}),
              warns=lk.SuspiciousInputWarning, match=r"sequence 0 has input length 4 for 4 labels needing 5 steps"),
    ErrorCase("input_lengths > T", lambda: ((_lp(), _TARGETS, torch.tensor([6, 7, 6]), _TL), {}), lk.LossValueError,
              match=r"<= T = 6 .*\(6, 3, 5\).*got 7"),
    ErrorCase("target_lengths > S", lambda: ((_lp(), _TARGETS, _IL, torch.tensor([4, 5, 3])), {}), lk.LossValueError,
              match=r"<= S = 4 .*got 5"),
    ErrorCase("concatenated length mismatch", lambda: ((_lp(), torch.tensor([1, 2, 2, 4, 3, 1]), _IL, _TL), {}),
              lk.LossValueError, match=r"sum\(target_lengths\) = 9 labels, but got 6"),
    ErrorCase("padded unbatched targets", lambda: ((_lp()[:, 0], _TARGETS[1], 5, 2), {}), lk.LossValueError,
              match=r"= 2 labels, but got 4; pass targets\[:target_length\]"),
    ErrorCase("probabilities, not log", lambda: ((_lp().exp(), _TARGETS, _IL, _TL), {}),
              warns=lk.SuspiciousInputWarning, match=r"log_probs must hold log-probabilities.*log_softmax"),
    ErrorCase("blank = C", lambda: ((_lp(), _TARGETS, _IL, _TL), {"blank": 5}), lk.LossOptionError,
              match=r"\[0, 5\), but got 5"),
    ErrorCase("negative blank", lambda: ((_lp(), _TARGETS, _IL, _TL), {"blank": -1}), lk.LossOptionError,
              match="got -1"),
    ErrorCase("float targets", lambda: ((_lp(), _TARGETS.float(), _IL, _TL), {}), lk.LossTypeError,
              match="torch.float32"),
    ErrorCase("float lengths", lambda: ((_lp(), _TARGETS, _IL.float(), _TL), {}), lk.LossTypeError,
              match="input_lengths.*torch.float32"),
    ErrorCase("lengths count", lambda: ((_lp(), _TARGETS, _IL[:2], _TL), {}), lk.LossShapeError,
              match=r"input_lengths.*\(3,\), but got shape \(2,\)"),
    ErrorCase("batch-first log_probs", lambda: ((_lp().transpose(0, 1), _TARGETS[:, :3].repeat(2, 1)[:3], _IL, _TL),
                                                {}), lk.LossShapeError, match=r"\(6, S\).*\(3, 3\)"),
    ErrorCase("integer log_probs", lambda: ((torch.zeros(T, N, C, dtype=torch.int64), _TARGETS, _IL, _TL), {}),
              lk.LossTypeError, match="torch.int64"),
    ErrorCase("nan log_probs", lambda: ((_nan_lp(), _TARGETS, _IL, _TL), {}), lk.NonFiniteError,
              match="log_probs.*1 NaN"),
]


def _empty():
    return (torch.zeros(T, 0, C), torch.zeros(0, S, dtype=torch.long), torch.zeros(0, dtype=torch.long),
            torch.zeros(0, dtype=torch.long)), {}


ENTRIES = [
    LossEntry(LF.ctc_loss, lk.CTCLoss, ctc_samples, ref_ctc, errors=CTC_ERRORS, empty=_empty,
              gradcheck=False, compile=False),
]
