"""Data-parallel training with losskit: the same numbers on 1, 2 or 3 processes.

    python examples/ddp_train.py                                    # one process
    torchrun --standalone --nproc_per_node=2 examples/ddp_train.py  # two processes (gloo on CPU)
    torchrun --standalone --nproc_per_node=3 examples/ddp_train.py  # uneven local batches (4, 3, 3)

Two small float64 models train for a few SGD steps on a seeded global batch of 10 samples, which the processes
split into contiguous slices (uneven when the number of processes does not divide 10):

* a token tagger on padded sequences, trained on the mean over the real tokens of the whole step: every
  process runs ``MICRO_BATCHES`` micro-batches (gradient accumulation, DDP's ``no_sync`` on all but the last)
  and :class:`losskit.distributed.GlobalMean` divides by the token count of every process and micro-batch;
* an embedding model trained with ``InfoNCELoss(global_batch=True)``: the negatives come from every process.

Rank 0 prints each step's loss and a checksum of the final weights: they equal the one-process run's to float64
rounding, whatever the number of processes. The recipe is explained in docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn

import losskit as lk
from losskit import distributed as lkd

STEPS = 3
MICRO_BATCHES = 2
IGNORE = -100


def global_batch(step: int, n: int = 10) -> dict[str, Tensor]:
    """The same global batch on every process: ``n`` sequences of 6 tokens (8 features), padded."""
    g = torch.Generator().manual_seed(step)
    tags = torch.randint(0, 4, (n, 6), generator=g)
    lengths = torch.randint(1, 7, (n,), generator=g)
    tags[torch.arange(6)[None, :] >= lengths[:, None]] = IGNORE  # padding: no loss there
    views = torch.randn(n, 8, generator=g, dtype=torch.float64)
    return {
        "tokens": torch.randn(n, 6, 8, generator=g, dtype=torch.float64),
        "tags": tags,
        "view1": views + 0.1 * torch.randn(n, 8, generator=g, dtype=torch.float64),
        "view2": views + 0.1 * torch.randn(n, 8, generator=g, dtype=torch.float64),
    }


def split(batch: dict[str, Tensor], parts: int, index: int) -> dict[str, Tensor]:
    """Part ``index`` of ``parts`` contiguous, nearly equal slices of the batch (some may be empty)."""
    rows = torch.arange(len(batch["tags"])).tensor_split(parts)[index]
    return {k: v[rows] for k, v in batch.items()}


def wrap(model: nn.Module) -> nn.Module:
    return nn.parallel.DistributedDataParallel(model) if lkd.is_distributed() else model


def train_tagger(steps: int = STEPS) -> tuple[list[float], nn.Module]:
    """Token classification; the loss of a step is the mean over the real tokens of every process."""
    torch.manual_seed(0)
    model = nn.Linear(8, 4, dtype=torch.float64)
    ddp = wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    token_loss = lk.CrossEntropyLoss(ignore_index=IGNORE, reduction="sum")  # a sum: GlobalMean divides
    losses = []
    for step in range(steps):
        local = split(global_batch(step), lkd.world_size(), lkd.rank())
        mean = lkd.GlobalMean((local["tags"] != IGNORE).sum())  # one count for the whole step
        for m in range(MICRO_BATCHES):
            micro = split(local, MICRO_BATCHES, m)
            last = m == MICRO_BATCHES - 1
            with contextlib.nullcontext() if last or ddp is model else ddp.no_sync():
                logits = ddp(micro["tokens"])
                mean(token_loss(logits.flatten(0, 1), micro["tags"].flatten())).backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(mean.value))
    return losses, model


def train_embedder(steps: int = STEPS) -> tuple[list[float], nn.Module]:
    """Two views per sample; every process's rows are candidates (negatives) for every anchor."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4)).double()
    ddp = wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    info_nce = lk.InfoNCELoss(temperature=0.5, global_batch=True)
    losses = []
    for step in range(steps):
        local = split(global_batch(step), lkd.world_size(), lkd.rank())
        n = len(local["view1"])
        z = ddp(torch.cat([local["view1"], local["view2"]]))  # one forward for both views
        loss = info_nce(z[:n], z[n:])  # the global-batch loss, the same value on every process
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses, model


def checksum(model: nn.Module) -> float:
    return float(sum(p.detach().sum() for p in model.parameters()))


def main() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("gloo")  # torchrun sets MASTER_ADDR/PORT, RANK and WORLD_SIZE
    try:
        for name, train in (("tagger", train_tagger), ("embedder", train_embedder)):
            losses, model = train()
            if lkd.rank() == 0:
                shown = "  ".join(f"{v:.10f}" for v in losses)
                print(f"{name:8s} processes={lkd.world_size()}  losses {shown}  checksum {checksum(model):.10f}")
    finally:
        if dist.is_initialized():
            dist.barrier()  # nobody tears the group down while a peer still talks to it
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
