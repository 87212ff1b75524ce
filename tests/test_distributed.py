"""losskit.distributed on real process groups: 2 and 3 gloo ranks on CPU, float64.

One session per world size (``tests/dist_worker.py``) runs every case in one process group; the tests here
compare what each rank computed with the single-process computation over the whole batch, done in this
process (no process group): loss values equal on every rank, DDP-averaged parameter gradients equal, and the
gradient of each rank's own inputs equal to ``W`` times the single-process slice (the documented convention).
Local batch sizes are uneven, and one configuration per world has a rank with an empty batch.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import losskit as lk
from losskit import distributed as lkd
from tests import dist_worker as W

ROOT = Path(__file__).resolve().parents[1]
WORLDS = (2, 3)
TOL = {"rtol": 1e-6, "atol": 1e-9}  # float64: the distributed sums differ from one process only in rounding
SESSION_TIMEOUT = 240.0


# --------------------------------------------------------------------------------------------
# the sessions (started once per world size, on first use)
# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Session:
    """The worker processes of one world size, started at once and waited for on first use."""

    def __init__(self, world: int, tmp: Path) -> None:
        self.world, self.tmp, self.attempt = world, tmp, 0
        self.results: list[dict] | None = None
        self._start()

    def _start(self) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "LOSSKIT_GUARD": "first"}
        # the workers import this checkout's losskit and tests, installed or not
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH")]))
        port, tag = _free_port(), f"w{self.world}-a{self.attempt}"
        self.outs = [self.tmp / f"{tag}-r{r}.pt" for r in range(self.world)]
        self.logs = [open(self.tmp / f"{tag}-r{r}.log", "w+") for r in range(self.world)]  # closed in _collect
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.dist_worker", "--rank", str(r), "--world", str(self.world),
                 "--port", str(port), "--out", str(self.outs[r])],
                cwd=ROOT, env=env, stdout=self.logs[r], stderr=subprocess.STDOUT,
            )
            for r in range(self.world)
        ]
        self.deadline = time.monotonic() + SESSION_TIMEOUT

    def _collect(self) -> tuple[bool, str]:
        timed_out = False
        for p in self.procs:
            try:
                p.wait(timeout=max(1.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
        for p in self.procs:  # only the processes started here, by their handle
            if p.poll() is None:
                p.kill()
                p.wait()
        text = []
        for r, log in enumerate(self.logs):
            log.seek(0)
            text.append(f"--- rank {r} (exit {self.procs[r].returncode}) ---\n{log.read()[-3000:]}")
            log.close()
        ok = not timed_out and all(p.returncode == 0 for p in self.procs)
        return ok, ("timed out\n" if timed_out else "") + "\n".join(text)

    def get(self) -> list[dict]:
        while self.results is None:
            ok, text = self._collect()
            if ok:
                self.results = [torch.load(o, weights_only=True) for o in self.outs]
            elif "address already in use" in text.lower() and self.attempt < 2:
                self.attempt += 1  # another process took the port between the probe and the bind
                self._start()
            else:
                pytest.fail(f"the {self.world}-rank session failed:\n{text}")
        return self.results


@pytest.fixture(scope="module", autouse=True)
def sessions(tmp_path_factory) -> dict[int, _Session]:
    """Both worlds start with the module's first test; the single-process tests run while they work."""
    return {w: _Session(w, tmp_path_factory.mktemp(f"dist{w}")) for w in WORLDS}


@pytest.fixture
def session(sessions):
    return lambda world: sessions[world].get()


def _ok(entry: dict, where: str) -> dict:
    if entry["status"] == "skip":
        pytest.skip(entry["reason"])
    assert entry["status"] == "ok", f"{where} raised {entry['type']}: {entry['message']}\n{entry.get('traceback', '')}"
    return entry["out"]


def _configs() -> list[tuple[int, int, tuple[int, ...]]]:
    return [(w, k, sizes) for w in WORLDS for k, sizes in enumerate(W.SIZES[w])]


def _cid(world: int, sizes: tuple[int, ...]) -> str:
    return f"w{world}-" + "+".join(map(str, sizes))


CONFIGS = _configs()


# --------------------------------------------------------------------------------------------
# without a process group: everything is the plain single-process computation (these run first,
# while the worker processes start)
# --------------------------------------------------------------------------------------------
def test_no_process_group_is_a_no_op():
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert not lkd.is_distributed() and lkd.world_size() == 1 and lkd.rank() == 0
    assert lkd.all_gather(x) is x and lkd.all_reduce_sum(x) is x
    out, offset = lkd.all_gather_with_offset(x)
    assert out is x and offset == 0
    assert int(lkd.global_count(torch.tensor([True, False, True]).sum())) == 2
    assert lkd.global_count(2.5).dtype == torch.float64


def test_global_mean_single_process_matches_torch_mean():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    got = lkd.global_mean((x.sum(1) * mask).sum(), mask.sum())
    want = x.sum(1)[mask.bool()].mean()  # torch's mean over the kept rows
    torch.testing.assert_close(got, want)
    (g1,) = torch.autograd.grad(got, x)
    (g2,) = torch.autograd.grad(want, x)
    torch.testing.assert_close(g1, g2)
    per_entry = lkd.global_mean(torch.tensor([3.0, 8.0]), torch.tensor([3, 4]))
    torch.testing.assert_close(per_entry, torch.tensor([1.0, 2.0]))


def test_mean_over_nothing_is_zero_with_zero_gradient():
    x = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    for loss in (lkd.global_mean(x.sum(), 0), lkd.GlobalMean(0)(x.sum()), lkd.global_reduce_loss(x, "mean")):
        assert float(loss.detach()) == 0.0
        (g,) = torch.autograd.grad(loss, x)
        assert g.shape == x.shape and torch.isfinite(g).all()


def test_global_mean_micro_batches_single_process():
    """GlobalMean over uneven micro-batches (one empty) gives torch's mean over all tokens, value and gradient."""
    logits = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 3, -100, 1, -100, 2, 2])
    mean = lkd.GlobalMean((labels != -100).sum())
    for lo, hi in ((0, 0), (0, 3), (3, 7)):
        part = mean(torch.nn.functional.cross_entropy(logits[lo:hi], labels[lo:hi], reduction="sum"))
        part.backward()
    grad = logits.grad.clone()
    logits.grad = None
    want = torch.nn.functional.cross_entropy(logits, labels)  # torch's mean over the 5 kept tokens
    want.backward()
    torch.testing.assert_close(mean.value, want.detach())
    torch.testing.assert_close(grad, logits.grad)
    assert int(mean.count) == 5


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_global_reduce_loss_single_process_is_reduce_loss(reduction):
    from losskit._reduction import reduce_loss

    terms = torch.rand(4, 3, dtype=torch.float64)
    weight = torch.rand(4, 3, dtype=torch.float64)
    for kwargs in ({}, {"weight": weight}, {"denominator": 5}):
        torch.testing.assert_close(
            lkd.global_reduce_loss(terms, reduction, **kwargs), reduce_loss(terms, reduction, **kwargs)
        )


def test_compiles_without_process_group():
    def loss(x):
        gathered, _ = lkd.all_gather_with_offset(x)
        return lkd.global_reduce_loss(lkd.all_reduce_sum(gathered @ x.T), "mean")

    x = torch.randn(3, 2, dtype=torch.float64)
    torch.testing.assert_close(torch.compile(loss, fullgraph=True, backend="eager")(x), loss(x))


ARG_ERRORS = [
    (lambda: lkd.all_gather([1.0, 2.0]), lk.LossTypeError, r"^all_gather: x must be a torch.Tensor, but got list; "),
    (lambda: lkd.global_count("3"), lk.LossTypeError, r"^global_count: count must be a number .* got str; "),
    (lambda: lkd.global_mean(torch.tensor(3), 2), lk.LossTypeError, r"^global_mean: local_sum .* dtype torch.int64; "),
    (lambda: lkd.global_mean(torch.ones(3), torch.ones(2)), lk.LossShapeError,
     r"^global_mean: local_count must be a scalar or have local_sum's shape \(3,\), but got \(2,\); "),
    (lambda: lkd.GlobalMean(torch.ones(2)), lk.LossShapeError,
     r"^GlobalMean: local_count must be a scalar .* \(2,\); "),
    (lambda: lkd.global_reduce_loss(torch.ones(2), "avg"), lk.LossOptionError,
     r"^global_reduce_loss: reduction .*'avg'"),
]


@pytest.mark.parametrize(
    ("call", "cls", "pattern"), ARG_ERRORS, ids=[f"{i}-{p[1 : p.index(':')]}" for i, (_, _, p) in enumerate(ARG_ERRORS)]
)
def test_argument_errors(call, cls, pattern):
    with pytest.raises(cls, match=pattern):
        call()


# --------------------------------------------------------------------------------------------
# the primitives
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("world", "k", "sizes"), CONFIGS, ids=[_cid(w, s) for w, _, s in CONFIGS])
def test_all_gather_values_offsets_counts(session, world, k, sizes):
    n = sum(sizes)
    full, views = W.data_embeddings(n), W.data_views(n)["x"]
    for r, res in enumerate(session(world)):
        out = _ok(res[(k, "gather_values")], f"rank {r}")
        torch.testing.assert_close(out["x"], full["x"], rtol=0, atol=0)
        torch.testing.assert_close(out["views"], views, rtol=0, atol=0)
        assert out["labels"].equal(full["labels"]) and out["mask"].equal(full["labels"] == 1)
        assert int(out["offset"]) == sum(sizes[:r])
        assert int(out["count"]) == n
        torch.testing.assert_close(out["mean"], full["x"].mean(0), **TOL)


@pytest.mark.parametrize(("world", "k", "sizes"), CONFIGS, ids=[_cid(w, s) for w, _, s in CONFIGS])
def test_all_gather_backward_sums_over_ranks(session, world, k, sizes):
    n = sum(sizes)
    # by hand: rank r's loss is sum(w_r * gathered), so rank s's rows get sum_r w_r[rows of s]
    expected = sum(W.rank_weights(r, n) for r in range(world))
    for r, res in enumerate(session(world)):
        grad = _ok(res[(k, "gather_backward")], f"rank {r}")["grad"]
        torch.testing.assert_close(grad, expected[W.local_slice(sizes, r)], **TOL)


@pytest.mark.parametrize(("world", "k", "sizes"), CONFIGS, ids=[_cid(w, s) for w, _, s in CONFIGS])
def test_all_reduce_sum_value_and_backward(session, world, k, sizes):
    # by hand: y = sum_r x_r on every rank; rank r's loss sum(v_r * y) sends sum_r v_r to every x_s
    value = sum(W.rank_vector(r, 200) for r in range(world))
    grad = sum(W.rank_vector(r, 300) for r in range(world))
    for r, res in enumerate(session(world)):
        out = _ok(res[(k, "reduce_backward")], f"rank {r}")
        torch.testing.assert_close(out["value"], value, **TOL)
        torch.testing.assert_close(out["grad"], grad, **TOL)


@pytest.mark.parametrize(("world", "k", "sizes"), CONFIGS, ids=[_cid(w, s) for w, _, s in CONFIGS])
def test_empty_everywhere_and_integer_sums(session, world, k, sizes):
    # by hand: nothing on any rank gathers to (0, 2) and averages to 0; sums of bool masks count
    counts = sum((torch.arange(3) < r + 1).long() for r in range(world))
    ints = torch.arange(3) * sum(range(1, world + 1))
    for r, res in enumerate(session(world)):
        empty = _ok(res[(k, "all_empty")], f"rank {r}")
        assert empty["shape"].tolist() == [0, 2] and float(empty["loss"]) == 0.0
        assert empty["grad"].shape == (0, 2)
        sums = _ok(res[(k, "bool_and_int_sums")], f"rank {r}")
        assert sums["mask"].dtype == torch.int64 and sums["mask"].equal(counts)
        assert sums["ints"].equal(ints)


ERRORS = {
    # case: (class, regex of the message every rank must raise)
    "gather_width": (lk.LossShapeError, r"^all_gather: x must have the same shape after dim 0 .* but got \(3, 4\) "
                     r"float64 on rank 0 and \(3, 5\) float64 on rank {last}; "),
    "gather_dtype": (lk.LossTypeError, r"^all_gather: .* but got \(2, 4\) float64 on rank 0 and \(2, 4\) float32 "
                     r"on rank 1; "),
    "gather_scalar": (lk.LossShapeError, r"^all_gather: x must have at least 1 dimension .* 0-dim tensor on rank 0; "),
    "reduce_shape": (lk.LossShapeError, r"^all_reduce_sum: x must have the same shape and dtype on every rank, but "
                     r"got \(3,\) float32 on rank 0 and \(4,\) float32 on rank 1; "),
}


@pytest.mark.parametrize("world", WORLDS, ids=[f"w{w}" for w in WORLDS])
@pytest.mark.parametrize("case", sorted(ERRORS))
def test_mismatch_raises_on_every_rank(session, world, case):
    cls, pattern = ERRORS[case]
    for r, res in enumerate(session(world)):
        entry = res["errors"][case]
        assert entry["status"] == "error", f"rank {r}: {case} did not raise"
        assert entry["type"] == cls.__name__, f"rank {r}: {entry['type']}: {entry['message']}"
        assert re.search(pattern.format(last=world - 1), entry["message"]), entry["message"]


@pytest.mark.parametrize("world", WORLDS, ids=[f"w{w}" for w in WORLDS])
def test_ranks_stay_in_step_after_errors(session, world):
    for r, res in enumerate(session(world)):
        out = _ok(res["errors"]["in_step"], f"rank {r}")
        torch.testing.assert_close(out["value"], torch.full((2,), float(world), dtype=torch.float64))


# --------------------------------------------------------------------------------------------
# losses on a DDP model == the single-process full batch
# --------------------------------------------------------------------------------------------
def _model_params() -> list:
    params = []
    for world, k, sizes in CONFIGS:
        for case in W.CASES:
            reason = W.missing(case)
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            for reduction in case.reductions:
                params.append(
                    pytest.param(world, k, sizes, case, reduction, marks=marks,
                                 id=f"{case.name}-{reduction}-{_cid(world, sizes)}")
                )
    return params


@pytest.mark.parametrize(("world", "k", "sizes", "case", "reduction"), _model_params())
def test_global_batch_equals_single_process(session, world, k, sizes, case, reduction):
    ref = W.run_model_case(case, (sum(sizes),), 0, reduction, reference=True)
    for r, res in enumerate(session(world)):
        out = _ok(res[(k, case.name, reduction)], f"{case.name} on rank {r}")
        rows = W.local_slice(sizes, r)
        where = f"{case.name} reduction={reduction} on rank {r} of {sizes}"
        expected = ref["loss"][rows] if reduction == "none" and case.none_rows else ref["loss"]
        torch.testing.assert_close(out["loss"], expected, **TOL, msg=lambda m, w=where: f"loss of {w}: {m}")
        if reduction == "none":
            continue
        for name in ("grad.weight", "grad.bias"):  # what DDP leaves on every rank: the full-batch gradient
            torch.testing.assert_close(out[name], ref[name], **TOL, msg=lambda m, w=where, n=name: f"{n} of {w}: {m}")
        # the convention: the rank's own inputs get W times their single-process gradient (DDP divides by W)
        torch.testing.assert_close(
            out["grad.x"], world * ref["grad.x"][rows], **TOL, msg=lambda m, w=where: f"grad.x of {w}: {m}"
        )


@pytest.mark.parametrize("world", WORLDS, ids=[f"w{w}" for w in WORLDS])
def test_example_script_gives_the_one_process_numbers(session, world):
    """examples/ddp_train.py (GlobalMean over micro-batches, InfoNCELoss(global_batch=True)) trained on W ranks
    ends with the losses and weights of the one-process run."""
    if not hasattr(lk, "InfoNCELoss") or not hasattr(lk, "CrossEntropyLoss"):
        pytest.skip("the example needs losskit.InfoNCELoss and losskit.CrossEntropyLoss")
    ref = W.run_example()  # no process group in this process: the one-process training
    for r, res in enumerate(session(world)):
        out = _ok(res["example"], f"the example on rank {r}")
        assert sorted(out) == sorted(ref)
        for key, value in ref.items():
            torch.testing.assert_close(out[key], value, **TOL, msg=lambda m, k=key, r=r: f"{k} on rank {r}: {m}")
