"""Worker processes of ``tests/test_distributed.py`` and the cases they run.

``python -m tests.dist_worker --rank R --world W --port P --out FILE`` joins a gloo process group on
127.0.0.1:P, runs every case for every local-batch configuration of ``SIZES[W]`` in one session, and saves
what it computed (loss values and gradients, a skip reason, or the error raised) with :func:`torch.save`.
No assertion happens here: ``test_distributed.py`` computes the single-process references itself, without a
process group, from the same data builders, and compares.

Every model case runs a float64 ``nn.Linear`` wrapped in DistributedDataParallel on this rank's slice of a
seeded global batch; the reference runs the same Linear (same initial weights) on the whole batch in one
process. After ``backward`` the DDP-averaged parameter gradients must equal the reference's, and the gradient
of the rank's own inputs must be ``W`` times the reference's slice (the convention of losskit.distributed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

import losskit as lk
from losskit import distributed as lkd

F64 = torch.float64
ROOT = Path(__file__).resolve().parents[1]
SIZES: dict[int, tuple[tuple[int, ...], ...]] = {
    2: ((3, 5), (6, 0)),  # uneven; then rank 1 with an empty batch
    3: ((2, 0, 5), (3, 1, 2)),  # an empty middle rank; then uneven, all non-empty
}
MICRO_BATCHES = 2
IGNORE = -100


# --------------------------------------------------------------------------------------------
# data and model (seeded: identical in every process)
# --------------------------------------------------------------------------------------------
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def data_embeddings(n: int) -> dict[str, Tensor]:
    g = _gen(11)
    return {"x": torch.randn(n, 4, generator=g, dtype=F64), "labels": torch.randint(0, 3, (n,), generator=g)}


def data_views(n: int) -> dict[str, Tensor]:
    g = _gen(12)
    return {"x": torch.randn(n, 2, 4, generator=g, dtype=F64), "labels": torch.randint(0, 3, (n,), generator=g)}


def data_masks(n: int) -> dict[str, Tensor]:
    g = _gen(13)
    return {"x": torch.randn(n, 3, 2, 4, generator=g, dtype=F64), "target": torch.randint(0, 3, (n, 3, 2), generator=g)}


def data_multilabel(n: int) -> dict[str, Tensor]:
    g = _gen(15)
    return {
        "x": torch.randn(n, 3, 2, 4, generator=g, dtype=F64),
        "target": (torch.rand(n, 3, 3, 2, generator=g) < 0.4).to(F64),
    }


def data_tokens(n: int) -> dict[str, Tensor]:
    g = _gen(14)
    labels = torch.randint(0, 5, (n, 3), generator=g)
    labels[torch.rand(n, 3, generator=g) < 0.3] = IGNORE
    if n > 1:
        labels[1] = IGNORE  # a sequence with nothing to count
    return {"x": torch.randn(n, 3, 4, generator=g, dtype=F64), "labels": labels}


def make_model(fin: int, fout: int) -> nn.Linear:
    g = _gen(7)
    model = nn.Linear(fin, fout, dtype=F64)
    with torch.no_grad():
        model.weight.copy_(torch.randn(fout, fin, generator=g, dtype=F64) * 0.7)
        model.bias.copy_(torch.randn(fout, generator=g, dtype=F64) * 0.1)
    return model


def local_slice(sizes: tuple[int, ...], me: int) -> slice:
    start = sum(sizes[:me])
    return slice(start, start + sizes[me])


# --------------------------------------------------------------------------------------------
# model cases: a loss on the outputs of a DDP Linear, against the single-process full batch
# --------------------------------------------------------------------------------------------
LossFn = Callable[[nn.Module, dict[str, Tensor], bool, str], Tensor]


@dataclass(frozen=True)
class ModelCase:
    name: str
    data: Callable[[int], dict[str, Tensor]]
    width: tuple[int, int]
    loss: LossFn
    """``(model, batch, global_batch, reduction) -> loss``; run distributed with ``global_batch=True``."""
    reference: LossFn | None = None
    """The single-process full-batch loss; default ``loss`` with ``global_batch=False``."""
    requires: str | None = None
    """A losskit attribute the case needs; skipped while it is missing."""
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    none_rows: bool = True
    """``reduction="none"`` returns one term per local row (else the same terms on every rank)."""
    micro_batches: bool = False
    """The loss runs its own backward passes (micro-batches); it returns the detached logged value."""
    options: dict = field(default_factory=dict)


def missing(case: ModelCase) -> str | None:
    """Why the case cannot run yet, or None."""
    if case.requires and not hasattr(lk, case.requires):
        return (
            f"losskit.{case.requires} is not there yet (issue 3 is writing it): its global_batch=True cannot be "
            "tested until it lands"
        )
    return None


# ---- losses built on losskit.distributed alone (independent references) ----------------------
def _gathered_infonce(model, batch, global_batch, reduction):
    z = model(batch["x"])
    q, k = z[:, 0], z[:, 1]
    keys, offset = lkd.all_gather_with_offset(k) if global_batch else (k, 0)
    logits = q @ keys.T / 0.5
    rows = torch.arange(q.shape[0])
    terms = torch.logsumexp(logits, 1) - logits[rows, rows + offset]
    return lkd.global_reduce_loss(terms, reduction)


def _ref_infonce(model, batch, global_batch, reduction):
    # torch's cross_entropy over the full batch: positives on the diagonal
    z = model(batch["x"])
    q, k = z[:, 0], z[:, 1]
    return F.cross_entropy(q @ k.T / 0.5, torch.arange(q.shape[0]), reduction=reduction)


def _pair_term(d2: Tensor, same: Tensor) -> Tensor:
    return torch.where(same, d2, torch.relu(1.0 - d2) ** 2)


def _gathered_pairs(model, batch, global_batch, reduction):
    """Per anchor: mean over every other sample of the batch of d^2 (same label) or relu(1 - d^2)^2."""
    z, labels = model(batch["x"]), batch["labels"]
    if global_batch:
        cand, offset = lkd.all_gather_with_offset(z)
        cand_labels = lkd.all_gather(labels)
    else:
        cand, offset, cand_labels = z, 0, labels
    d2 = ((z[:, None, :] - cand[None, :, :]) ** 2).sum(-1)
    rows = torch.arange(z.shape[0])
    other = torch.ones_like(d2, dtype=torch.bool)
    other[rows, rows + offset] = False
    terms = torch.where(other, _pair_term(d2, labels[:, None] == cand_labels[None, :]), 0.0).sum(1)
    others = lkd.global_count(z.shape[0]) - 1
    return lkd.global_reduce_loss(terms / others.clamp_min(1), reduction)


def _ref_pairs(model, batch, global_batch, reduction):
    # by hand: plain loops over every ordered pair of the full batch
    z, labels = model(batch["x"]), batch["labels"]
    n = z.shape[0]
    terms = []
    for i in range(n):
        total = z.new_zeros(())
        for j in range(n):
            if j != i:
                d2 = ((z[i] - z[j]) ** 2).sum()
                total = total + (d2 if labels[i] == labels[j] else torch.relu(1.0 - d2) ** 2)
        terms.append(total / max(n - 1, 1))
    terms_t = torch.stack(terms) if terms else z.new_zeros(0)
    return {"none": terms_t, "sum": terms_t.sum(), "mean": terms_t.mean()}[reduction]


def _token_logits(model, batch) -> tuple[Tensor, Tensor]:
    logits = model(batch["x"])
    return logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1)


def _token_mean_step(model, batch, global_batch, reduction):
    logits, labels = _token_logits(model, batch)
    total = F.cross_entropy(logits, labels, ignore_index=IGNORE, reduction="sum")
    return lkd.global_mean(total, (labels != IGNORE).sum())


def _token_mean_micro(model, batch, global_batch, reduction):
    """The docs/distributed.md recipe: M micro-batches per step, no_sync on all but the last."""
    x, labels = batch["x"], batch["labels"]
    mean = lkd.GlobalMean((labels != IGNORE).sum())
    bounds = [0, (2 * x.shape[0]) // 3, x.shape[0]]  # uneven micro-batches (the first is empty if n == 1)
    for m in range(MICRO_BATCHES):
        sync = m == MICRO_BATCHES - 1 or not isinstance(model, nn.parallel.DistributedDataParallel)
        with contextlib.nullcontext() if sync else model.no_sync():
            part = {"x": x[bounds[m] : bounds[m + 1]], "labels": labels[bounds[m] : bounds[m + 1]]}
            logits, flat = _token_logits(model, part)
            mean(F.cross_entropy(logits, flat, ignore_index=IGNORE, reduction="sum")).backward()
    return mean.value


def _ref_token_mean(model, batch, global_batch, reduction):
    # torch's own mean over the non-ignored tokens of the full batch
    logits, labels = _token_logits(model, batch)
    return F.cross_entropy(logits, labels, ignore_index=IGNORE)


# ---- the losses of issue 3 with global_batch=True ----------------------------------------------
def _views(model, batch):
    z = model(batch["x"])
    return z[:, 0], z[:, 1]


def _on_labels(module, model, batch):
    return module(model(batch["x"]), batch["labels"])


def _metric_case(
    name: str, cls: str, data, width, call, *, reductions: tuple[str, ...] = ("mean", "sum", "none"), **options
) -> ModelCase:
    def loss(model, batch, global_batch, reduction):
        module = getattr(lk, cls)(global_batch=global_batch, reduction=reduction, **options)
        return call(module, model, batch)

    return ModelCase(name, data, width, loss, requires=cls, reductions=reductions, options=options)


def _seg_case(name: str, cls: str, mode: str = "multiclass", **options) -> ModelCase:
    def loss(model, batch, global_batch, reduction):
        module = getattr(lk, cls)(mode=mode, global_batch=global_batch, reduction=reduction, **options)
        return module(model(batch["x"]).permute(0, 3, 1, 2), batch["target"])

    data = data_masks if mode == "multiclass" else data_multilabel
    return ModelCase(name, data, (4, 3), loss, requires=cls, none_rows=False, options=options)


def _proxy_case(name: str, cls: str, **options) -> ModelCase:
    """A proxy loss on the model's 3-wide embeddings with fixed proxies (replicated: the same on every rank)."""
    proxies = torch.randn(3, 3, generator=_gen(13), dtype=F64)

    def loss(model, batch, global_batch, reduction):
        module = getattr(lk, cls)(3, 3, proxies=proxies, global_batch=global_batch, reduction=reduction, **options)
        return module(model(batch["x"]), batch["labels"])

    # Proxy-Anchor's "none" is the (2, C) per-proxy terms of the global batch, the same on every rank
    return ModelCase(name, data_embeddings, (4, 3), loss, requires=cls, none_rows=cls == "ProxyNCALoss",
                     reductions=("mean", "sum", "none", "mean_nonzero"), options=options)


CASES: list[ModelCase] = [
    ModelCase("gathered_infonce", data_views, (4, 3), _gathered_infonce, _ref_infonce),
    ModelCase("gathered_pairs", data_embeddings, (4, 3), _gathered_pairs, _ref_pairs),
    ModelCase("global_mean_step", data_tokens, (4, 5), _token_mean_step, _ref_token_mean, reductions=("mean",)),
    ModelCase(
        "global_mean_micro_batches", data_tokens, (4, 5), _token_mean_micro, _ref_token_mean,
        reductions=("mean",), micro_batches=True,
    ),
    _metric_case("info_nce", "InfoNCELoss", data_views, (4, 3), lambda m, f, b: m(*_views(f, b)), temperature=0.5),
    _metric_case(
        "info_nce_one_way", "InfoNCELoss", data_views, (4, 3), lambda m, f, b: m(*_views(f, b)),
        temperature=0.5, symmetric=False,
    ),
    _metric_case("supcon", "SupConLoss", data_views, (4, 3), _on_labels, temperature=0.5),
    _metric_case("contrastive", "ContrastiveLoss", data_embeddings, (4, 3), _on_labels),
    _metric_case(
        "contrastive_cosine", "ContrastiveLoss", data_embeddings, (4, 3), _on_labels,
        distance="cosine",
    ),
    _metric_case(
        "batch_hard_triplet", "BatchHardTripletLoss", data_embeddings, (4, 3), _on_labels,
        margin=0.5,
    ),
    _metric_case(
        "batch_hard_triplet_soft", "BatchHardTripletLoss", data_embeddings, (4, 3),
        _on_labels, soft_margin=True,
    ),
    # lifted: "none" is the local rows of the (N, M) pair terms; n_pair: its pairs span the ranks (rank order)
    _metric_case(
        "lifted_structure", "LiftedStructureLoss", data_embeddings, (4, 3), _on_labels,
        reductions=("mean", "sum", "none", "mean_nonzero"), pos_margin=0.1, neg_margin=0.8,
    ),
    _metric_case(
        "n_pair", "NPairLoss", data_embeddings, (4, 3), _on_labels,
        reductions=("mean", "sum", "none", "mean_nonzero"), l2_reg=0.05,
    ),
    _proxy_case("proxy_anchor", "ProxyAnchorLoss", alpha=4.0),
    _proxy_case("proxy_nca", "ProxyNCALoss", softmax_scale=3.0),
    _seg_case("dice", "DiceLoss"),
    _seg_case("jaccard", "JaccardLoss"),
    _seg_case("tversky", "TverskyLoss", alpha=0.3, beta=0.7, gamma=1.5),
    _seg_case(
        "dice_ignore_weighted", "DiceLoss", ignore_index=2, class_weights=torch.tensor([0.5, 2.0, 1.0], dtype=F64)
    ),
    _seg_case("jaccard_multilabel_log", "JaccardLoss", mode="multilabel", log_loss=True, smooth=0.5),
]


def run_model_case(case: ModelCase, sizes: tuple[int, ...], me: int, reduction: str, *, reference: bool) -> dict:
    """Loss value and gradients on this rank's slice (DDP), or on the whole batch (``reference=True``)."""
    full = case.data(sum(sizes))
    batch = {k: v[local_slice(sizes, me)] for k, v in full.items()}
    batch["x"] = batch["x"].clone().requires_grad_(True)
    model = make_model(*case.width)
    # the DDP wrapper must outlive backward: its reducer holds the hooks that average the gradients
    net = model if reference else nn.parallel.DistributedDataParallel(model)
    loss = (case.reference or case.loss)(net, batch, False, reduction) if reference else case.loss(
        net, batch, True, reduction
    )
    out = {"loss": loss.detach().clone()}
    if reduction != "none":
        if reference or not case.micro_batches:  # the micro-batch loop ran its own backward passes
            loss.backward()
        out |= {"grad.x": batch["x"].grad, "grad.weight": model.weight.grad, "grad.bias": model.bias.grad}
    del net
    return out


# --------------------------------------------------------------------------------------------
# cases on the primitives (expected values computed by the test from the same builders)
# --------------------------------------------------------------------------------------------
def rank_weights(r: int, n: int) -> Tensor:
    """The upstream gradient rank ``r`` sends into the gathered batch of ``n`` rows."""
    return torch.randn(n, 2, generator=_gen(100 + r), dtype=F64)


def rank_vector(r: int, seed: int) -> Tensor:
    return torch.randn(3, generator=_gen(seed + r), dtype=F64)


def gather_values(sizes, me) -> dict:
    full = data_embeddings(sum(sizes))
    sl = local_slice(sizes, me)
    x, labels = full["x"][sl], full["labels"][sl]
    gathered, offset = lkd.all_gather_with_offset(x)
    return {
        "x": gathered,
        "offset": torch.tensor(offset),
        "labels": lkd.all_gather(labels),
        "mask": lkd.all_gather(labels == 1),
        "views": lkd.all_gather(data_views(sum(sizes))["x"][sl]),
        "count": lkd.global_count(x.shape[0]),
        "mean": lkd.global_mean(x.sum(0), x.shape[0]),
    }


def gather_backward(sizes, me) -> dict:
    x = data_embeddings(sum(sizes))["x"][local_slice(sizes, me), :2].clone().requires_grad_(True)
    (lkd.all_gather(x) * rank_weights(me, sum(sizes))).sum().backward()
    return {"grad": x.grad}


def reduce_backward(sizes, me) -> dict:
    x = rank_vector(me, 200).requires_grad_(True)
    y = lkd.all_reduce_sum(x)
    (y * rank_vector(me, 300)).sum().backward()
    return {"value": y.detach(), "grad": x.grad}


def all_empty(sizes, me) -> dict:
    """Every rank with an empty batch: a gathered (0, 2), a mean over nothing of 0, a zero-size gradient."""
    x = torch.zeros(0, 2, dtype=F64, requires_grad=True)
    gathered = lkd.all_gather(x)
    loss = lkd.global_reduce_loss((gathered**2).sum(1), "mean")
    loss.backward()
    return {"shape": torch.tensor(gathered.shape), "loss": loss.detach(), "grad": x.grad}


def bool_and_int_sums(sizes, me) -> dict:
    mask = torch.arange(3) < me + 1
    return {"mask": lkd.all_reduce_sum(mask), "ints": lkd.all_reduce_sum(torch.arange(3) * (me + 1))}


PRIMITIVES: dict[str, Callable[[tuple[int, ...], int], dict]] = {
    "gather_values": gather_values,
    "gather_backward": gather_backward,
    "reduce_backward": reduce_backward,
    "all_empty": all_empty,
    "bool_and_int_sums": bool_and_int_sums,
}


def _error_case(fn: Callable[[], object]) -> dict:
    try:
        fn()
    except Exception as exc:  # recorded for the test to judge
        return {"status": "error", "type": type(exc).__name__, "message": str(exc)}
    return {"status": "ok", "out": {}}


def error_cases(me: int, world: int) -> dict[str, dict]:
    """Mistakes on one rank only: every rank must raise the same clear error, and nobody may hang."""
    results = {
        "gather_width": _error_case(lambda: lkd.all_gather(torch.zeros(3, 5 if me == world - 1 else 4, dtype=F64))),
        "gather_dtype": _error_case(
            lambda: lkd.all_gather(torch.zeros(2, 4, dtype=torch.float32 if me == 1 else F64))
        ),
        "gather_scalar": _error_case(lambda: lkd.all_gather(torch.zeros((), dtype=F64) if me == 0 else torch.zeros(1))),
    }
    with lk.guard("always"):
        results["reduce_shape"] = _error_case(lambda: lkd.all_reduce_sum(torch.ones(3 if me == 0 else 4)))
    # still in step after the errors: one more collective must add up
    results["in_step"] = {"status": "ok", "out": {"value": lkd.all_reduce_sum(torch.ones(2, dtype=F64))}}
    return results


# --------------------------------------------------------------------------------------------
# the runnable example of docs/distributed.md
# --------------------------------------------------------------------------------------------
def run_example() -> dict[str, Tensor]:
    """``examples/ddp_train.py``'s two trainings in the current process group (or in one process)."""
    spec = importlib.util.spec_from_file_location("ddp_train_example", ROOT / "examples" / "ddp_train.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out: dict[str, Tensor] = {}
    for name in ("tagger", "embedder"):
        losses, model = getattr(example, f"train_{name}")()
        out[f"{name}.losses"] = torch.tensor(losses, dtype=F64)
        out |= {f"{name}.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    return out


# --------------------------------------------------------------------------------------------
# the session
# --------------------------------------------------------------------------------------------
def _record(fn: Callable[[], dict]) -> dict:
    try:
        return {"status": "ok", "out": fn()}
    except Exception as exc:
        return {"status": "error", "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}


def run_session(me: int, world: int) -> dict:
    results: dict = {"errors": error_cases(me, world)}
    for k, sizes in enumerate(SIZES[world]):
        for name, fn in PRIMITIVES.items():
            results[(k, name)] = _record(lambda fn=fn, sizes=sizes: fn(sizes, me))
        for case in CASES:
            reason = missing(case)
            for reduction in case.reductions:
                key = (k, case.name, reduction)
                if reason:
                    results[key] = {"status": "skip", "reason": reason}
                else:
                    results[key] = _record(
                        lambda c=case, s=sizes, r=reduction: run_model_case(c, s, me, r, reference=False)
                    )
    results["example"] = _record(run_example)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank, world_size=args.world,
        timeout=datetime.timedelta(seconds=30),
    )
    try:
        results = run_session(args.rank, args.world)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    torch.save(results, args.out + ".tmp")
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
