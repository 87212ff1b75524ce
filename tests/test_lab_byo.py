"""The lab on your own model and data (issue 11): ``compare(data=..., model_fn=...)`` and ``losskit compare --data
MODULE:FUNC --model MODULE:FUNC`` on a small user-defined Dataset and CNN, a loss of your own competing, paired
starts, the multi-label task (metrics against scikit-learn), the bundled ``digits-images`` data, the example script,
and the bad inputs (one line, exit code 2)."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from losskit.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from losskit.lab import LabError, compare
from losskit.lab.data import digits_images
from losskit.lab.metrics import multilabel_metrics

ROOT = Path(__file__).resolve().parents[1]


class Blobs(Dataset):
    """1x6x6 images whose class (0, 1, 2) is the quadrant lit up, on noise: a map-style Dataset of pairs."""

    def __init__(self, size: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 3, (size,), generator=g)
        self.x = 0.5 * torch.randn(size, 1, 6, 6, generator=g)
        for i, c in enumerate(self.y.tolist()):
            r, k = divmod(c, 2)
            self.x[i, 0, 3 * r : 3 * r + 3, 3 * k : 3 * k + 3] += 1.0

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def tiny_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))


class Hinge(nn.Module):
    """A loss of the user's own."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.multi_margin_loss(logits, target)


def _one_line(err: str, *words: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


# ------------------------------------------------------------------ metrics
def test_multilabel_metrics_match_sklearn():
    from sklearn import metrics as M

    rng = np.random.default_rng(0)
    y = (rng.uniform(size=(80, 5)) < [0.5, 0.3, 0.1, 0.6, 0.2]).astype(np.int64)
    p = np.clip(0.35 * y + rng.uniform(0, 0.65, size=y.shape), 0, 1)
    p[:10, 0] = 0.5  # ties and exact thresholds
    got = multilabel_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert got["micro_f1"] == pytest.approx(M.f1_score(y, pred, average="micro"))
    assert got["macro_f1"] == pytest.approx(M.f1_score(y, pred, average="macro", zero_division=0))
    assert got["map"] == pytest.approx(M.average_precision_score(y, p, average="macro"))
    assert got["per_label_auc"] == pytest.approx([M.roc_auc_score(y[:, k], p[:, k]) for k in range(5)])
    assert got["roc_auc"] == pytest.approx(M.roc_auc_score(y, p, average="macro"))
    assert got["log_loss"] == pytest.approx(np.mean([M.log_loss(y[:, k], p[:, k]) for k in range(5)]))


def test_digits_images_are_a_stratified_split_of_8x8_images():
    train, val, test = digits_images(3)
    x, y = train.tensors
    assert x.shape[1:] == (1, 8, 8) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert len(train) + len(val) + len(test) == 1797
    assert np.bincount(y.numpy()).min() >= 100  # every class in the 60% training part
    assert not torch.equal(digits_images(4)[0].tensors[1], y)  # another split seed, another split


# ------------------------------------------------------------------ the Python API
def test_python_api_paired_starts_and_a_custom_loss(tmp_path):
    starts: list[torch.Tensor] = []
    data = (Blobs(90, 1), Blobs(45, 2), Blobs(45, 3))
    result = compare(data=data, model_fn=tiny_cnn, losses=["ce", "focal", Hinge()], runs=2, epochs=3,
                     batch_size=32, out=tmp_path / "out", progress=False)
    assert [s.name for s in result.summaries] == ["ce", "focal", "hinge"]
    assert result.task == "multiclass" and result.metric == "balanced_accuracy"
    # model_fn is called after the run's seed: every loss of run r starts from the weights of seed r
    seen = []
    for r in range(2):
        torch.manual_seed(r)
        seen.append(tiny_cnn()[0].weight.detach().clone())
    assert not torch.equal(seen[0], seen[1])

    def recording() -> nn.Module:
        model = tiny_cnn()
        starts.append(model[0].weight.detach().clone())
        return model

    compare(data=data, model_fn=recording, losses=["ce", "focal", Hinge()], runs=2, epochs=1, out=None,
            progress=False)
    assert len(starts) == 6
    for r in range(2):
        run = starts[3 * r : 3 * r + 3]
        assert all(torch.equal(run[0], w) for w in run[1:])
        assert torch.equal(run[0], seen[r])
    hinge = result.summary("hinge")
    assert hinge.loss == "Hinge" and 0.0 <= hinge.mean["balanced_accuracy"] <= 1.0
    # one fixed split: the verdict and results.json say the runs vary the seed only, and the test is uncorrected
    assert "one fixed split" in result.verdict and "seed only" in result.verdict
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["comparison"]["test"].startswith("paired t-test over seeds")
    assert saved["config"]["split"] == "fixed"
    page = (tmp_path / "out" / "report.html").read_text()
    assert "hinge" in page and "the paired t-test over 2 seeds on one fixed split" in page
    assert "Nadeau" not in page
    # the diagnoses of the curve doctor are there for every run of every loss, the custom one included
    assert len(hinge.diagnoses) == 2 and all(d.verdict for d in hinge.diagnoses)


def test_binary_heads_regression_inference_and_repeated_splits():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(150, 4, generator=g)
    y = (x[:, 0] + 0.3 * torch.randn(150, generator=g) > 0).long()

    def splits(seed: int) -> tuple[TensorDataset, ...]:
        order = torch.randperm(150, generator=torch.Generator().manual_seed(seed))
        return tuple(TensorDataset(x[i], y[i]) for i in (order[:90], order[90:120], order[120:]))

    # a one-logit model serves a sigmoid loss (bce) and a softmax one (ce-weighted) alike
    result = compare(data=splits, model_fn=lambda: nn.Linear(4, 1), losses="bce,ce-weighted", runs=2, epochs=20,
                     out=None, progress=False, lr=0.05)
    assert result.task == "binary"
    assert [s.name for s in result.summaries] == ["bce", "ce-weighted", "bce+threshold"]
    assert result.summary("bce").mean["balanced_accuracy"] > 0.75
    assert "fixed split" not in result.verdict and result.comparison is not None
    assert result.comparison.n_train == 120.0 and [r.split for r in result.summary("bce").runs] == [0, 1]
    # float scalar targets: regression; a plain callable competes under its mapping name
    yr = x[:, 0] * 2.0 + 0.1 * torch.randn(150, generator=g)
    data = tuple(TensorDataset(x[a:b], yr[a:b]) for a, b in ((0, 90), (90, 120), (120, 150)))
    mine = {"mse": "mse", "robust": "huber", "abs": lambda o, t: (o - t).abs().mean(),
            "abs-too": lambda o, t: (o - t).abs().mean()}
    reg = compare(data=data, model_fn=lambda: nn.Linear(4, 1), losses=mine, runs=2, epochs=30, out=None,
                  progress=False, lr=0.05, optimizer="adam")
    assert reg.task == "regression" and [s.name for s in reg.summaries] == ["mse", "robust", "abs", "abs-too"]
    assert reg.summary("robust").options["delta"] > 0  # a menu loss under a key of yours keeps its options
    assert reg.summary("abs").mean["mae"] < 0.5  # the target's spread is 2: the linear model fits it


def test_multilabel_end_to_end(tmp_path):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))

    def part(n: int) -> TensorDataset:
        x = torch.randn(n, 6, generator=g)
        return TensorDataset(x, ((x @ w + 0.3 * torch.randn(n, 4, generator=g)) > 1.0).float())

    result = compare(data=(part(240), part(80), part(80)), losses="bce,bce-posweight,sigmoid-focal,asl",
                     model_fn=lambda: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)), runs=2,
                     epochs=8, lr=0.01, out=tmp_path / "ml", progress=False)
    assert result.task == "multilabel" and result.metric == "map"
    assert [s.name for s in result.summaries] == ["bce", "bce-posweight", "sigmoid-focal", "asl"]
    bce = result.summary("bce")
    assert bce.mean["map"] > 0.6 and bce.mean["roc_auc"] > 0.8
    run = bce.runs[0]
    assert len(run.metrics["per_label_auc"]) == 4 and run.probabilities.shape == (80, 4)
    saved = json.loads((tmp_path / "ml" / "results.json").read_text())
    assert saved["task"] == "multilabel" and "map" in saved["losses"][0]["mean"]
    page = (tmp_path / "ml" / "report.html").read_text()
    assert "<h2>Per label</h2>" in page and "Test ROC AUC of each label" in page


def test_multilabel_csv_target_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    labels = (x @ rng.normal(size=(3, 3)) > 0.3).astype(int)
    path = tmp_path / "tags.csv"
    with open(path, "w") as fh:
        fh.write("f1,f2,colour,f3,a,b,c\n")
        for row, lab in zip(x, labels):
            colour = "red" if row[0] > 0 else "blue"
            fh.write(f"{row[0]:.4f},{row[1]:.4f},{colour},{row[2]:.4f},{lab[0]},{lab[1]},{lab[2]}\n")
    from losskit.lab import load_data

    data = load_data(csv_path=str(path), target="a,b,c")
    assert data.task == "multilabel" and data.y.shape == (150, 3) and data.class_names == ["a", "b", "c"]
    assert data.feature_names == ["f1", "f2", "colour=blue", "colour=red", "f3"] and data.onehot == [(2, 4)]
    assert np.array_equal(data.y, labels)
    out = tmp_path / "csv-out"
    assert main(["compare", "--csv", str(path), "--target", "a,b,c", "--losses", "bce,asl", "--epochs", "3",
                 "--runs", "2", "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "map ↑" in text and "asl" in text
    assert json.loads((out / "results.json").read_text())["task"] == "multilabel"
    path.write_text("f1,a,b\n1,0,1\n2,1,2\n")
    assert main(["compare", "--csv", str(path), "--target", "a,b", "--no-progress"]) == 2
    _one_line(capsys.readouterr().err, "column 'b' must hold 0 or 1", "'2' on line 3")


def test_example_script_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("byo_model_example", ROOT / "examples" / "byo_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(runs=2, epochs=2, size=60, out=str(tmp_path / "ex"))
    assert [s.name for s in result.summaries] == ["ce", "focal", "marginloss"]
    assert (tmp_path / "ex" / "report.html").is_file()


# ------------------------------------------------------------------ the command line
USER_FILE = '''
import torch
from torch import nn
from torch.utils.data import TensorDataset

def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 1, 4, 4, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()
    return TensorDataset(x[:60], y[:60]), TensorDataset(x[60:90], y[60:90]), TensorDataset(x[90:], y[90:])

def model():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 2))

def two():
    return data()[:2]

class Single(torch.utils.data.Dataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return torch.zeros(3)

def singles():
    return Single(), Single(), Single()

def not_a_model():
    return "resnet"

VALUE = 3
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent(USER_FILE))
    return path


def test_cli_data_and_model_from_a_file(user_file, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["compare", "--data", f"{user_file}:data", "--model", f"{user_file}:model", "--losses", "bce,ce",
                 "--epochs", "2", "--runs", "2", "--optimizer", "sgd", "--amp", "--accumulate", "2", "--no-progress",
                 "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "bce (baseline)" in text and "one fixed split" in text
    saved = json.loads((out / "results.json").read_text())
    assert saved["task"] == "binary" and saved["config"]["model"] == f"{user_file}:model"
    assert (saved["config"]["optimizer"], saved["config"]["amp"], saved["config"]["accumulate"]) == ("sgd", True, 2)


@pytest.mark.parametrize(
    ("data", "model", "words"),
    [
        ("no_such_module_xyz:data", "{f}:model", ["--data", "no_such_module_xyz"]),
        ("{f}:nothing", "{f}:model", ["function 'nothing'", "data, model"]),
        ("{f}:VALUE", "{f}:model", ["must name a function", "int"]),
        ("{f}:two", "{f}:model", ["must return (train, val, test)", "tuple of length 2"]),
        ("{f}:singles", "{f}:model", ["(input, target) pair", "Tensor", "index 0"]),
        ("{f}:data", "{f}:not_a_model", ["must return a torch.nn.Module", "str"]),
        ("{f}", "{f}:model", ["MODULE:FUNC"]),
        ("{d}/missing.py:data", "{f}:model", ["no such file"]),
    ],
)
def test_cli_bad_data_or_model_one_line_exit_2(user_file, tmp_path, capsys, data, model, words):
    fill = {"f": str(user_file), "d": str(tmp_path)}
    out = tmp_path / "never"
    try:
        code = main(["compare", "--data", data.format(**fill), "--model", model.format(**fill), "--epochs", "1",
                     "--runs", "1", "--no-progress", "--out", str(out)])
    except SystemExit as stop:
        code = int(stop.code)
    assert code == 2
    _one_line(capsys.readouterr().err, *words)
    assert not out.exists()


def test_cli_model_and_data_go_together(user_file, capsys):
    assert main(["compare", "--data", f"{user_file}:data", "--no-progress"]) == 2
    _one_line(capsys.readouterr().err, "--data needs --model")


def test_python_api_bad_inputs():
    data = (Blobs(30, 1), Blobs(15, 2), Blobs(15, 3))
    with pytest.raises(LabError, match=r"output must be \(30, 3\) logits for 3 classes, but got \(30, 5\)"):
        compare(data=data, model_fn=lambda: nn.Sequential(nn.Flatten(), nn.Linear(36, 5)), losses="ce", runs=1,
                epochs=1, batch_size=32, out=None, progress=False)
    with pytest.raises(LabError, match="data must be \\(train, val, test\\)"):
        compare(data=data[:2], model_fn=tiny_cnn, out=None, progress=False)
    with pytest.raises(LabError, match="imbalance applies to single-target tables"):
        compare(data=data, model_fn=tiny_cnn, imbalance=0.1, out=None, progress=False)
    with pytest.raises(LabError, match="data needs model_fn"):
        compare(data=data, out=None, progress=False)
