"""The lab on several processes: ``torchrun -m losskit compare`` (gloo on CPU) equals the one-process run.

Two torchrun sessions start with the module's first test and run while the single-process tests do:

* ``cli``: 2 processes of ``python -m torch.distributed.run --standalone -m losskit compare`` on iris with an
  imbalance (so the class weights of ``ce-weighted`` differ from 1), batch 27 of 55 training rows: shards
  (14, 13) and, for the last row, (1, 0): uneven and empty. Only rank 0 prints and writes the one output folder.
* ``python``: 3 processes running this file as a script: :func:`losskit.lab.compare` with dropout 0.2 and
  gradient accumulation (shards (6, 6, 5) and (2, 1, 1)), and a training run with a loss whose mean is not a
  sum over a count (the ``"gather"`` strategy) with shards (15, 15, 14) and (1, 0, 0). Every rank saves what
  it got.

The references are the same runs in this process, without a process group. Per-epoch losses and validation
metrics, best epochs and test metrics must agree within rtol 1e-4 (float32 sums in another order).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import losskit as lk
from losskit.advisor import LOSS_MENU
from losskit.lab import ddp
from losskit.lab.train import TrainConfig, train_run

ROOT = Path(__file__).resolve().parents[1]

RTOL = 1e-4
SESSION_TIMEOUT = 150.0
CLI_ARGS = ["--dataset", "iris", "--losses", "ce,ce-weighted", "--epochs", "3", "--seeds", "1", "--dropout", "0",
            "--batch-size", "27", "--imbalance", "0.3", "--lr", "0.02"]
CLI_KWARGS = {"losses": "ce,ce-weighted", "epochs": 3, "seeds": 1, "dropout": 0.0, "batch_size": 27,
              "imbalance": 0.3, "lr": 0.02}
PY_KWARGS = {"losses": "ce-weighted,focal-weighted", "epochs": 4, "seeds": 1, "dropout": 0.2, "batch_size": 17,
             "accumulate": 2, "imbalance": 0.3, "lr": 0.02, "patience": 2}
RMS_CONFIG = TrainConfig(epochs=3, batch_size=44, lr=0.01, hidden=(16,), dropout=0.1)


class RootMeanSquareLoss(nn.Module):
    """sqrt(mean((input - target)^2)): its mean is not a sum over a count, so the lab gathers the outputs."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        squares = (input - target) ** 2
        return squares.mean().sqrt() if self.reduction == "mean" else squares.sum()


def _run_record(run) -> dict:
    return {"loss": run.loss, "train_losses": run.train_losses, "val_losses": run.val_losses,
            "val_metrics": run.val_metrics, "best_epoch": run.best_epoch, "stopped_early": run.stopped_early,
            "metrics": run.metrics, "predictions": np.asarray(run.predictions, dtype=np.float64).tolist()}


def _python_runs() -> list[dict]:
    """What the ``python`` session computes (on every rank), and the reference computes in one process."""
    from losskit.lab import compare, load_builtin, prepare

    result = compare("iris", **PY_KWARGS, out=None, progress=False)
    runs = [_run_record(r) for s in result.summaries if s.kind == "loss" for r in s.runs]
    rms = train_run("rms", RootMeanSquareLoss(), "value", prepare(load_builtin("diabetes")), 0, RMS_CONFIG)
    return [*runs, _run_record(rms), {"processes": result.config["processes"]}]


def _worker(out_dir: str) -> int:
    torch.set_num_threads(1)
    with ddp.process_group() as parallel:
        assert parallel, "the python session must run under torchrun with several processes"
        runs = _python_runs()
        rank = torch.distributed.get_rank()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump(runs, fh)
    return 0


pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")


# --------------------------------------------------------------------------------------------
# the sessions
# --------------------------------------------------------------------------------------------
class _Torchrun:
    """One ``torchrun --standalone`` started now (it picks a free port itself) and waited for on first use."""

    def __init__(self, world: int, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "LOSSKIT_GUARD": "first"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH")]))
        self.cwd = cwd
        self.stdout = open(cwd.parent / f"{cwd.name}.out", "w+")  # closed in wait()
        self.stderr = open(cwd.parent / f"{cwd.name}.err", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}", *args],
            cwd=cwd, env=env, stdout=self.stdout, stderr=self.stderr,
        )
        self.deadline = time.monotonic() + SESSION_TIMEOUT
        self.result: tuple[str, str] | None = None

    def wait(self) -> tuple[str, str]:
        """``(stdout, stderr)`` of a session that exited with 0; fails the test otherwise."""
        if self.result is None:
            try:
                self.proc.wait(timeout=max(1.0, self.deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.proc.kill()  # the torchrun started here, by its handle; its agent ends its workers
                self.proc.wait()
            texts = []
            for fh in (self.stdout, self.stderr):
                fh.seek(0)
                texts.append(fh.read())
                fh.close()
            self.result = (texts[0], texts[1])
            self.code = self.proc.returncode
        if self.code != 0:
            pytest.fail(f"torchrun exited with {self.code}:\n{self.result[0][-3000:]}\n{self.result[1][-5000:]}")
        return self.result


@pytest.fixture(scope="module", autouse=True)
def sessions(tmp_path_factory) -> dict[str, _Torchrun]:
    cli_dir, py_dir = tmp_path_factory.mktemp("lab_cli"), tmp_path_factory.mktemp("lab_py")
    return {
        "cli": _Torchrun(2, ["-m", "losskit", "compare", *CLI_ARGS, "--out", "out"], cli_dir),
        "python": _Torchrun(3, [str(Path(__file__).resolve()), str(py_dir)], py_dir),
    }


def _close(got, expected, where: str) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=RTOL, atol=1e-7, err_msg=where)


def _same_metrics(got: dict, expected: dict, where: str) -> None:
    assert set(got) == set(expected), where
    for key, value in expected.items():
        if value is None or (isinstance(value, list) and None in value):
            assert got[key] == value, f"{where}: {key}"
        else:
            _close(got[key], value, f"{where}: {key}")


# --------------------------------------------------------------------------------------------
# one process: the pieces
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rows", "world"), [(10, 3), (7, 2), (2, 3), (0, 2), (5, 5), (1, 4)])
def test_shards_follow_tensor_split_in_rank_order(rows, world):
    expected = [len(part) for part in torch.tensor_split(torch.arange(rows), world)]
    bounds = [ddp.shard_bounds(rows, world, r) for r in range(world)]
    assert [stop - start for start, stop in bounds] == expected
    assert bounds[0][0] == 0 and bounds[-1][1] == rows
    assert all(bounds[r][1] == bounds[r + 1][0] for r in range(world - 1))  # contiguous, in rank order


def _menu_case(name: str, n: int = 40) -> tuple[nn.Module, str, Tensor, Tensor]:
    from losskit import advisor

    entry = LOSS_MENU[name]
    g = torch.Generator().manual_seed(1)
    if entry.head == "logits":
        y = torch.tensor([0] * 25 + [1] * 10 + [2] * 5)[torch.randperm(n, generator=g)]
        out, task = torch.randn(n, 3, generator=g), None
    elif entry.head == "sigmoid":
        y = (torch.rand(n, 1, generator=g) < 0.2).float()
        out, task = torch.randn(n, 1, generator=g), None
    elif entry.head == "ordinal":  # 3 ordered classes: one logit per threshold
        y = torch.tensor([0] * 25 + [1] * 10 + [2] * 5)[torch.randperm(n, generator=g)]
        out, task = torch.randn(n, 2, generator=g), None
    elif entry.head == "quantiles":  # one output per quantile
        y, out, task = torch.randn(n, generator=g), torch.randn(n, 3, generator=g), "regression"
    else:
        y, out, task = torch.randn(n, generator=g), torch.randn(n, generator=g), "regression"
    stats = advisor.recommend(y.numpy(), task=task).stats
    return entry.build(stats, y.numpy()), entry.head, out, y


@pytest.mark.parametrize("name", sorted(LOSS_MENU))
def test_every_menu_loss_is_a_sum_over_its_denominator(name):
    if not LOSS_MENU[name].available:
        pytest.skip(f"losskit.{LOSS_MENU[name].loss} has not landed")
    loss_fn, head, out, y = _menu_case(name)
    probe = ddp.GlobalBatchLoss(loss_fn, head, out, y)
    assert probe.strategy == "sum"
    # the split the lab makes: the shards' sums over the sum of the shards' denominators is the batch's mean
    parts = [slice(0, 17), slice(17, 17), slice(17, 40)]  # uneven, one empty
    summing = ddp._summing_copy(loss_fn)
    total = sum(summing(out[p], y[p]).double() for p in parts)
    count = sum(ddp.mean_denominator(loss_fn, head, y[p]) for p in parts)
    _close(total / count, loss_fn(out, y), name)


def test_class_weights_count_in_the_denominator():
    loss_fn = lk.CrossEntropyLoss(torch.tensor([1.0, 2.0, 4.0]))
    y = torch.tensor([0, 2, 2, 1, -100])
    # by hand: weight[y] over the non-ignored targets = 1 + 4 + 4 + 2
    assert float(ddp.mean_denominator(loss_fn, "logits", y)) == 11.0
    assert float(ddp.mean_denominator(lk.MSELoss(), "value", torch.zeros(7))) == 7.0


def test_a_loss_that_is_not_a_mean_of_terms_is_gathered():
    g = torch.Generator().manual_seed(2)
    out, y = torch.randn(30, generator=g), torch.randn(30, generator=g)
    assert ddp.GlobalBatchLoss(RootMeanSquareLoss(), "value", out, y).strategy == "gather"
    assert ddp.GlobalBatchLoss(lk.MSELoss(reduction="sum"), "value", out, y).strategy == "gather"
    assert ddp.GlobalBatchLoss(lk.MSELoss(), "value", out, y).strategy == "sum"


def test_dropout_masks_do_not_depend_on_the_sharding():
    """The shards' outputs, put together, are nn.Dropout's output on the whole batch from the same seed."""
    x = torch.randn(11, 6)
    torch.manual_seed(7)
    whole = nn.Dropout(0.3).train()(x)
    parts = []
    for world in (1, 3):
        for r in range(world):
            shard = ddp._Shard()
            shard.rows, (shard.start, shard.stop) = len(x), ddp.shard_bounds(len(x), world, r)
            torch.manual_seed(7)  # every rank starts from the same generator state
            parts.append(ddp.GlobalBatchDropout(0.3, shard).train()(x[shard.start : shard.stop]))
    torch.testing.assert_close(parts[0], whole, rtol=0, atol=0)
    torch.testing.assert_close(torch.cat(parts[1:]), whole, rtol=0, atol=0)
    assert not torch.equal(whole, x)  # by hand: P(no element of 66 dropped) = 0.7 ** 66, negligible


def test_dropout_is_replaced_in_place():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.5)), nn.Dropout2d(0.1))
    assert ddp._replace_dropout(model, ddp._Shard()) == 2
    assert [type(m).__name__ for m in model.modules()].count("GlobalBatchDropout") == 2
    assert isinstance(model[3], nn.Dropout2d)


def test_one_process_stays_one_process(monkeypatch):
    for name in ddp.TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ddp.process_group() as parallel:
        assert parallel is False and not torch.distributed.is_initialized()
    assert ddp.is_main()


# --------------------------------------------------------------------------------------------
# several processes
# --------------------------------------------------------------------------------------------
def test_cli_on_two_processes_equals_one_process(sessions):
    from losskit.lab import compare

    reference = compare("iris", **CLI_KWARGS, out=None, progress=False)
    stdout, stderr = sessions["cli"].wait()
    folder = sessions["cli"].cwd
    assert os.listdir(folder) == ["out"]  # one folder, no temporary left, nothing from rank 1
    assert stdout.count("balanced_accuracy ↑") == 1 and stdout.count("wrote ") == 1  # rank 0 prints
    assert stderr.count("losskit compare: iris") == 1  # rank 0 logs
    with open(folder / "out" / "curves.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    data = json.loads((folder / "out" / "results.json").read_text())
    assert data["config"]["processes"] == 2 and reference.config["processes"] == 1
    assert [e["name"] for e in data["losses"]] == [s.name for s in reference.summaries]
    trained = [(s, e) for s, e in zip(reference.summaries, data["losses"], strict=True) if s.kind == "loss"]
    assert len(trained) == 2  # and the logistic-regression reference row, fitted alike on every rank
    for summary, entry in trained:
        run = summary.runs[0]
        mine = [r for r in rows if r["loss"] == summary.name]
        assert len(mine) == len(run.train_losses) == 3
        for key, expected in (("train_loss", run.train_losses), ("val_loss", run.val_losses),
                              ("val_balanced_accuracy", run.val_metrics)):
            _close([float(r[key]) for r in mine], expected, f"{summary.name} {key}")
        assert entry["runs"][0]["best_epoch"] == run.best_epoch
        _same_metrics(entry["runs"][0]["metrics"], json.loads(json.dumps(run.metrics)), summary.name)
    assert data["verdict"] == reference.verdict


def test_python_entry_on_three_processes_with_dropout_and_a_gathered_loss(sessions):
    _, stderr = sessions["python"].wait()
    assert "losskit compare" not in stderr  # progress=False: nothing logged on any rank
    expected = json.loads(json.dumps(_python_runs()))
    assert expected[-1] == {"processes": 1}
    for rank in range(3):
        got = json.loads((sessions["python"].cwd / f"rank{rank}.json").read_text())
        assert got[-1] == {"processes": 3}
        assert len(got) == len(expected) == 3 + 1
        for g, e in zip(got[:-1], expected[:-1], strict=True):
            where = f"rank {rank} {e['loss']}"
            assert (g["best_epoch"], g["stopped_early"], len(g["train_losses"])) == (
                e["best_epoch"], e["stopped_early"], len(e["train_losses"])), where
            for key in ("train_losses", "val_losses", "val_metrics", "predictions"):
                _close(g[key], e[key], f"{where} {key}")
            _same_metrics(g["metrics"], e["metrics"], where)


if __name__ == "__main__":  # a worker of the python session (torchrun puts this checkout on PYTHONPATH)
    sys.exit(_worker(sys.argv[1]))
