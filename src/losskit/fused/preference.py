r"""Fused linear preference losses: the LM head and a preference loss without the ``(B, T, V)`` logits in memory.

A preference loss depends on each sequence's log-probability :math:`\log\pi(y_b) = \sum_t \ell_{bt}`, a sum over
all of its tokens, so the gradient of one token's logits needs the loss of the whole sequence first. Two sweeps
over the tokens, a chunk of rows at a time through one reused ``(rows, V)`` logits buffer:

1. **log-probabilities** (no graph): :math:`z = h W^\top + b` per chunk, in-place softmax, and the token
   log-probability :math:`\ell_{bt} = z_{y} - \mathrm{lse}(z)` added to its sequence's sum. Then the loss is
   computed from the :math:`(B,)` sums by the public functional (:mod:`losskit.functional.preference`) under
   autograd, which gives :math:`g_b = \partial L / \partial \log\pi(y_b)` for every sequence.
2. **gradients**: each chunk's logits again, turned in place into
   :math:`G = \partial L / \partial z = g_b\,(\mathbb{1}_{y} - \mathrm{softmax}(z))` (0 on ignored tokens), and
   multiplied straight away into :math:`\partial L / \partial h = G W`, :math:`\partial L / \partial W \mathrel{+}=
   G^\top h` and :math:`\partial L / \partial b \mathrel{+}= \sum G`.

For ``"mean"``/``"sum"`` both sweeps run in the forward pass and the backward pass only scales the saved gradients
by ``grad_output`` (as :mod:`losskit.fused.linear_cross_entropy`); for ``"none"`` the second sweep runs in the
backward pass, with :math:`g_b` from the incoming per-sequence gradients. Cost: four ``(N, H) x (H, V)`` products
instead of the naive form's three; memory beyond the gradients themselves: one ``(rows, V)`` buffer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _validation as V
from ..functional import preference as PF
from ..preference import sequence_log_probs
from . import _common as C
from .linear_cross_entropy import LOGITS_CHUNK_BYTES, MIN_CHUNK_ROWS

__all__ = ["PREFERENCE_LOSS_TYPES", "fused_linear_preference_loss"]

_NAME = "fused_linear_preference_loss"

PREFERENCE_LOSS_TYPES = ("dpo", "robust", "ipo", "orpo", "simpo", "cpo", "kto")
"""``loss_type`` values, each one of the functionals of :mod:`losskit.functional.preference`."""

_AVERAGED = frozenset({"ipo", "orpo", "simpo"})
"""Losses on per-token average log-probabilities (TRL's conventions); the others take sums."""


# --------------------------------------------------------------------------------------------
# the two sweeps
# --------------------------------------------------------------------------------------------
class _Side:
    """The chosen or the rejected responses, flattened to rows."""

    def __init__(self, hidden: Tensor, labels: Tensor, ignore_index: int) -> None:
        self.batch, self.steps = labels.shape
        self.h = hidden.reshape(-1, hidden.shape[-1]).contiguous()
        flat = labels.reshape(-1)
        self.valid = flat != ignore_index
        self.target = torch.where(self.valid, flat, torch.zeros_like(flat)).long()
        self.seq = torch.arange(self.batch).repeat_interleave(self.steps)
        self.lengths = self.valid.view(self.batch, self.steps).sum(1)


def _logits(hc: Tensor, W: Tensor, b: Tensor | None, out: Tensor) -> Tensor:
    if b is None:
        return torch.mm(hc, W.t(), out=out)
    return torch.addmm(b, hc, W.t(), out=out)


def _log_probs(side: _Side, W: Tensor, b: Tensor | None, chunk: int, buf: Tensor) -> Tensor:
    """Sweep 1: the summed token log-probabilities of each sequence."""
    sums = torch.zeros(side.batch, dtype=W.dtype)
    n = side.h.shape[0]
    for r0 in range(0, n, chunk):
        r1 = min(r0 + chunk, n)
        z = _logits(side.h[r0:r1], W, b, buf[: r1 - r0])
        z_y = z.gather(1, side.target[r0:r1].unsqueeze(1)).squeeze(1)
        z_max = z.amax(1)
        torch._softmax(z, 1, False, out=z)
        # the largest probability is exp(z_max - lse): lse = z_max - log(max p), without another pass over z
        token = (z_y - z_max) + torch.log(z.amax(1))
        token = torch.where(side.valid[r0:r1], token, torch.zeros_like(token))
        sums.index_add_(0, side.seq[r0:r1], token)
    return sums


def _gradients(side: _Side, W: Tensor, b: Tensor | None, g_seq: Tensor, chunk: int, buf: Tensor,
               gh: Tensor | None, gw: Tensor | None, gb: Tensor | None) -> None:
    """Sweep 2: ``G = g_b (onehot - softmax)`` per chunk, into ``gh`` (rows), ``gw`` and ``gb`` (accumulated)."""
    g_row = torch.where(side.valid, g_seq[side.seq], torch.zeros((), dtype=W.dtype))
    n = side.h.shape[0]
    for r0 in range(0, n, chunk):
        r1 = min(r0 + chunk, n)
        hc, g = side.h[r0:r1], g_row[r0:r1]
        z = _logits(hc, W, b, buf[: r1 - r0])
        torch._softmax(z, 1, False, out=z)
        z.mul_(g.neg().unsqueeze(1))
        z.scatter_add_(1, side.target[r0:r1].unsqueeze(1), g.unsqueeze(1))
        if gh is not None:
            torch.mm(z, W, out=gh[r0:r1])
        if gw is not None:
            gw.addmm_(z.t(), hc)
        if gb is not None:
            gb.add_(z.sum(0))


def _grad_logps(loss_fn: Callable[[Tensor, Tensor], Tensor], sc: Tensor, sr: Tensor,
                grad_output: Tensor | None) -> tuple[Tensor, Tensor]:
    """:math:`\\partial L / \\partial \\log\\pi` of each chosen and rejected sequence (small autograd graph)."""
    with torch.enable_grad():
        a, r = sc.detach().requires_grad_(), sr.detach().requires_grad_()
        loss = loss_fn(a, r)
        ga, gr = torch.autograd.grad(loss, (a, r), grad_output, allow_unused=True)
    return (torch.zeros_like(a) if ga is None else ga), (torch.zeros_like(r) if gr is None else gr)


def _backward_sweeps(sides: tuple[_Side, _Side], W: Tensor, b: Tensor | None, grads: tuple[Tensor, Tensor],
                     chunk: int, wants: tuple[bool, bool, bool, bool]):
    want_c, want_r, want_w, want_b = wants
    buf = torch.empty(min(chunk, max(s.h.shape[0] for s in sides)), W.shape[0], dtype=W.dtype)
    gw = torch.zeros_like(W) if want_w else None
    gb = torch.zeros_like(b) if want_b and b is not None else None
    out = []
    for side, g, want in zip(sides, grads, (want_c, want_r)):
        gh = torch.empty_like(side.h) if want else None
        if want or want_w or want_b:
            _gradients(side, W, b, g, chunk, buf, gh, gw, gb)
        out.append(gh)
    return out[0], out[1], gw, gb


class _FusedLinearPreference(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hc, hr, W, b, sides, loss_fn, chunk, reduction, wants):
        buf = torch.empty(min(chunk, max(1, max(s.h.shape[0] for s in sides))), W.shape[0], dtype=W.dtype)
        sc, sr = (_log_probs(s, W, b, chunk, buf) for s in sides)
        del buf
        with torch.no_grad():
            loss = loss_fn(sc, sr)
        ctx.shapes = (hc.shape, hr.shape)
        if reduction == "none":
            ctx.save_for_backward(W, b, sc, sr)
            ctx.saved = (sides, loss_fn, chunk, wants)
        else:
            grads = _grad_logps(loss_fn, sc, sr, None)
            gh_c, gh_r, gw, gb = _backward_sweeps(sides, W, b, grads, chunk, wants)
            ctx.save_for_backward(gh_c, gh_r, gw, gb)
        ctx.reduction = reduction
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        C.refuse_double_backward(_NAME)
        if ctx.reduction == "none":
            W, b, sc, sr = ctx.saved_tensors
            sides, loss_fn, chunk, wants = ctx.saved
            grads = _grad_logps(loss_fn, sc, sr, grad_output)
            gh_c, gh_r, gw, gb = _backward_sweeps(sides, W, b, grads, chunk, wants)
        else:
            gh_c, gh_r, gw, gb = (None if t is None else C.scale_saved(t, grad_output) for t in ctx.saved_tensors)
        gh_c = None if gh_c is None else gh_c.view(ctx.shapes[0])
        gh_r = None if gh_r is None else gh_r.view(ctx.shapes[1])
        return gh_c, gh_r, gw, gb, None, None, None, None, None


# --------------------------------------------------------------------------------------------
# the public function
# --------------------------------------------------------------------------------------------
def _loss_function(loss_type: str, lengths: tuple[Tensor, Tensor], ref_c: Tensor | None, ref_r: Tensor | None,
                   kl: Tensor | None, options: dict, reduction: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss as a function of the summed policy log-probabilities ``(sc, sr)``."""
    n_c, n_r = (n.clamp_min(1) for n in lengths)

    def fn(sc: Tensor, sr: Tensor) -> Tensor:
        if loss_type in ("dpo", "robust"):
            return PF.dpo_loss(sc, sr, ref_c, ref_r, loss_type="sigmoid" if loss_type == "dpo" else "robust",
                               reference_free=ref_c is None, reduction=reduction, **options)
        if loss_type == "ipo":
            assert ref_c is not None and ref_r is not None
            return PF.ipo_loss(sc / n_c, sr / n_r, ref_c / n_c, ref_r / n_r, reduction=reduction, **options)
        if loss_type == "orpo":
            return PF.orpo_loss(sc / n_c, sr / n_r, reduction=reduction, **options)
        if loss_type == "simpo":
            return PF.simpo_loss(sc / n_c, sr / n_r, reduction=reduction, **options)
        if loss_type == "cpo":
            return PF.cpo_loss(sc, sr, lengths[0], reduction=reduction, **options)
        assert ref_c is not None and ref_r is not None and kl is not None
        return PF.kto_loss(sc, sr, ref_c, ref_r, kl, reduction=reduction, **options)

    return fn


_OPTIONS = {
    "dpo": ("beta", "label_smoothing"),
    "robust": ("beta", "label_smoothing"),
    "ipo": ("beta",),
    "orpo": ("beta",),
    "simpo": ("beta", "gamma", "label_smoothing"),
    "cpo": ("beta", "cpo_alpha", "label_smoothing"),
    "kto": ("beta", "desirable_weight", "undesirable_weight"),
}


def _check(hc, hr, weight, lc, lr, bias, loss_type, ref_c, ref_r, kl, chunk_size) -> None:
    for arg, t in (("hidden_chosen", hc), ("hidden_rejected", hr), ("weight", weight), ("labels_chosen", lc),
                   ("labels_rejected", lr)):
        V.check_tensor(_NAME, arg, t)
    if hc.dtype not in (torch.float32, torch.float64):
        raise C.unsupported(_NAME, f"hidden_chosen must be float32 or float64, but got {hc.dtype}",
                            "the naive form (F.linear, sequence_log_probs, the loss)")
    for arg, t in (("hidden_rejected", hr), ("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != hc.dtype:
            raise V.LossTypeError(f"{_NAME}: {arg} must have the dtype of hidden_chosen ({hc.dtype}), but got "
                                  f"{t.dtype}; convert it with {arg}.to(hidden_chosen.dtype)")
    if weight.dim() != 2 or hc.dim() != 3 or hr.dim() != 3 or hc.shape[-1] != weight.shape[1] \
            or hr.shape[-1] != weight.shape[1]:
        raise V.LossShapeError(
            f"{_NAME}: hidden_chosen and hidden_rejected must be (B, T, H) and weight (V, H) with one H, but got "
            f"{V.shape_str(hc)}, {V.shape_str(hr)} and {V.shape_str(weight)}; pass the last hidden states and the "
            "LM head's weight as nn.Linear stores it"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise V.LossShapeError(f"{_NAME}: bias must have shape ({weight.shape[0]},), but got {V.shape_str(bias)}")
    for arg, labels, hidden in (("labels_chosen", lc, hc), ("labels_rejected", lr, hr)):
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise V.LossTypeError(f"{_NAME}: {arg} must hold token ids (an integer dtype), but got {labels.dtype}")
        if tuple(labels.shape) != tuple(hidden.shape[:2]):
            raise V.LossShapeError(
                f"{_NAME}: {arg} must have shape {V.shape_str(hidden.shape[:2])} (its hidden states without H), "
                f"but got {V.shape_str(labels)}; for a causal LM pass hidden[:, :-1] with labels[:, 1:]"
            )
    if loss_type != "kto" and hc.shape[0] != hr.shape[0]:
        raise V.LossShapeError(f"{_NAME}: loss_type={loss_type!r} takes pairs, but got {hc.shape[0]} chosen and "
                               f"{hr.shape[0]} rejected sequences; only loss_type='kto' is unpaired")
    needs_ref = loss_type in ("ipo", "kto")
    given = (ref_c is not None) + (ref_r is not None)
    if given == 1 or (needs_ref and given == 0) or (loss_type in ("orpo", "simpo", "cpo") and given):
        what = "needs" if needs_ref or given == 1 else "takes no"
        raise V.LossOptionError(f"{_NAME}: loss_type={loss_type!r} {what} ref_logps_chosen and ref_logps_rejected, "
                                f"but got {given} of 2")
    if (kl is None) == (loss_type == "kto"):
        raise V.LossOptionError(f"{_NAME}: kl is the reference point of loss_type='kto' only, but got kl="
                                f"{'None' if kl is None else 'a tensor'} with loss_type={loss_type!r}")
    if chunk_size is not None and (not V.is_number(chunk_size) or int(chunk_size) < 1):
        raise V.LossOptionError(f"{_NAME}: chunk_size must be None or a positive int, but got {chunk_size!r}")
    for arg, t, hidden in (("ref_logps_chosen", ref_c, hc), ("ref_logps_rejected", ref_r, hr)):
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != (hidden.shape[0],)):
            got = V.shape_str(t) if isinstance(t, Tensor) else type(t).__name__
            raise V.LossShapeError(f"{_NAME}: {arg} must have shape ({hidden.shape[0]},), one summed "
                                   f"log-probability per sequence, but got {got}")
    if kl is not None and (not isinstance(kl, Tensor) or kl.numel() != 1):
        raise V.LossShapeError(f"{_NAME}: kl must be a tensor holding one value, but got {kl!r}")
    tensors = [t for t in (hc, hr, weight, lc, lr, bias, ref_c, ref_r, kl) if t is not None]
    if any(t.device.type != "cpu" for t in tensors):
        raise C.unsupported(_NAME, "every tensor must be on the CPU",
                            "the naive form (F.linear, sequence_log_probs, the loss)")


def _traced() -> bool:
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return C.compiling() or bool(active is not None and active())


def _chunk_rows(vocab: int, dtype: torch.dtype, chunk_size: int | None) -> int:
    if chunk_size:
        return int(chunk_size)
    rows = LOGITS_CHUNK_BYTES // max(1, vocab * torch.empty((), dtype=dtype).element_size())
    return max(MIN_CHUNK_ROWS, rows // 16 * 16)


def fused_linear_preference_loss(
    hidden_chosen: Tensor,
    hidden_rejected: Tensor,
    weight: Tensor,
    labels_chosen: Tensor,
    labels_rejected: Tensor,
    *,
    loss_type: str = "dpo",
    ref_logps_chosen: Tensor | None = None,
    ref_logps_rejected: Tensor | None = None,
    kl: Tensor | None = None,
    beta: float | None = None,
    label_smoothing: float = 0.0,
    gamma: float = 1.0,
    cpo_alpha: float = 1.0,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    bias: Tensor | None = None,
    ignore_index: int = -100,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""A preference loss of the logits ``hidden @ weight.T + bias``, computed chunk by chunk with its gradients.

    The numbers of the naive form, ``F.linear`` then :func:`losskit.preference.sequence_log_probs` then the loss
    of :mod:`losskit.functional.preference`, never materialising the ``(B, T, V)`` logits (algorithm in
    :mod:`losskit.fused.preference`). Gradients reach ``hidden_chosen``, ``hidden_rejected``, ``weight`` and
    ``bias``; the reference log-probabilities and ``kl`` are constants. No shift is applied: for a causal LM pass
    ``hidden[:, :-1]`` and ``labels[:, 1:]``.

    ``loss_type`` and the log-probabilities each loss receives (sums over the response tokens, or per-token
    averages, following TRL):

    ==========  ==================================================================================
    ``"dpo"``   :func:`~losskit.functional.dpo_loss`, sums; reference-free without ``ref_logps_*``
    ``"robust"`` ``dpo_loss(loss_type="robust")``, sums
    ``"ipo"``   :func:`~losskit.functional.ipo_loss`, averages (the ``ref_logps_*``, given as sums, are
                divided by the same token counts)
    ``"orpo"``  :func:`~losskit.functional.orpo_loss`, averages
    ``"simpo"`` :func:`~losskit.functional.simpo_loss`, averages
    ``"cpo"``   :func:`~losskit.functional.cpo_loss`, sums, with the token counts as ``chosen_lengths``
    ``"kto"``   :func:`~losskit.functional.kto_loss`, sums, ``kl`` required; chosen and rejected unpaired
    ==========  ==================================================================================

    Args:
        hidden_chosen: :math:`(B, T, H)` last hidden states of the chosen sequences, float32 or float64, CPU.
        hidden_rejected: :math:`(B, T', H)` of the rejected ones (:math:`B'` sequences for ``"kto"``).
        weight: :math:`(V, H)`, the LM head's weight as ``nn.Linear`` stores it.
        labels_chosen, labels_rejected: :math:`(B, T)` and :math:`(B, T')` token ids, ``ignore_index`` where a
            position does not count (prompt, padding).
        loss_type: one of the above (default ``"dpo"``).
        ref_logps_chosen, ref_logps_rejected: the reference model's summed log-probabilities, :math:`(B,)`.
        kl: KTO's reference point (see :func:`~losskit.functional.kto_loss`).
        beta: the loss's :math:`\beta` (default ``None``: the functional's default, 2.0 for SimPO, else 0.1).
        label_smoothing, gamma, cpo_alpha, desirable_weight, undesirable_weight: passed to the losses that take
            them (defaults: the functionals').
        bias: optional :math:`(V,)` (default ``None``).
        ignore_index: label of positions that do not count (default -100).
        chunk_size: rows (tokens) per chunk (default ``None``: a 64 MiB logits buffer, at least 512 rows).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per pair; per response for KTO).

    Raises:
        LossShapeError, LossTypeError, LossOptionError: shapes, dtypes or options that do not fit; a half or
            non-CPU tensor (the naive form takes those).

    Example:
        >>> import torch
        >>> from losskit.fused import fused_linear_preference_loss
        >>> torch.manual_seed(0) and None
        >>> hc, hr, w = torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(11, 8)
        >>> lc, lr = torch.randint(0, 11, (2, 5)), torch.randint(0, 11, (2, 5))
        >>> loss = fused_linear_preference_loss(hc, hr, w, lc, lr, loss_type="simpo")
        >>> import torch.nn.functional as F, losskit.functional as LF
        >>> from losskit.preference import sequence_log_probs as slp
        >>> naive = LF.simpo_loss(slp(F.linear(hc, w), lc, average=True), slp(F.linear(hr, w), lr, average=True))
        >>> bool(torch.allclose(loss, naive))
        True
    """
    V.check_reduction(_NAME, reduction)
    loss_type = V.check_choice(_NAME, "loss_type", loss_type, PREFERENCE_LOSS_TYPES)
    V.check_ignore_index(_NAME, ignore_index)
    _check(hidden_chosen, hidden_rejected, weight, labels_chosen, labels_rejected, bias, loss_type,
           ref_logps_chosen, ref_logps_rejected, kl, chunk_size)
    given = {"beta": beta, "label_smoothing": label_smoothing, "gamma": gamma, "cpo_alpha": cpo_alpha,
             "desirable_weight": desirable_weight, "undesirable_weight": undesirable_weight}
    options = {k: given[k] for k in _OPTIONS[loss_type] if given[k] is not None}
    ref_c = None if ref_logps_chosen is None else ref_logps_chosen.detach()
    ref_r = None if ref_logps_rejected is None else ref_logps_rejected.detach()
    kl_c = None if kl is None else kl.detach()

    if _traced():
        # torch.compile and torch.func transforms: the naive form (the autograd Function supports neither)
        lp_c = sequence_log_probs(F.linear(hidden_chosen, weight, bias), labels_chosen, ignore_index=ignore_index)
        lp_r = sequence_log_probs(F.linear(hidden_rejected, weight, bias), labels_rejected,
                                  ignore_index=ignore_index)
        lengths = ((labels_chosen != ignore_index).sum(1), (labels_rejected != ignore_index).sum(1))
        return _loss_function(loss_type, lengths, ref_c, ref_r, kl_c, options, reduction)(lp_c, lp_r)

    sides = (_Side(hidden_chosen, labels_chosen, ignore_index), _Side(hidden_rejected, labels_rejected, ignore_index))
    loss_fn = _loss_function(loss_type, (sides[0].lengths, sides[1].lengths), ref_c, ref_r, kl_c, options,
                             reduction)
    # the loss's option checks before the sweeps, on stand-in log-probabilities (guard off: no value check is
    # spent on them; the real ones are checked when the loss runs on them)
    with V.guard("off"):
        loss_fn(torch.full((hidden_chosen.shape[0],), -1.0, dtype=weight.dtype),
                torch.full((hidden_rejected.shape[0],), -1.0, dtype=weight.dtype))

    chunk = _chunk_rows(weight.shape[0], weight.dtype, chunk_size)
    grad = torch.is_grad_enabled()
    wants = (grad and hidden_chosen.requires_grad, grad and hidden_rejected.requires_grad,
             grad and weight.requires_grad, grad and bias is not None and bias.requires_grad)
    if any(wants):
        return _FusedLinearPreference.apply(hidden_chosen, hidden_rejected, weight, bias, sides, loss_fn, chunk,
                                            reduction, wants)
    buf = torch.empty(min(chunk, max(1, max(s.h.shape[0] for s in sides))), weight.shape[0], dtype=weight.dtype)
    sc, sr = (_log_probs(s, weight, bias, chunk, buf) for s in sides)
    return loss_fn(sc, sr)
