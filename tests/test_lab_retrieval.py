"""The lab's retrieval task (issue 11): Recall@1, Recall@5 and MAP@R against pytorch-metric-learning's
AccuracyCalculator and a brute-force loop (ties included), the Python API and the CLI end to end on tiny data
(verdict, results.json, the projection plot), ArcFace's centres training with the model, and the bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import losskit
from losskit.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from losskit.lab import LabError, compare
from losskit.lab.task_retrieval import INFONCE_SKIPPED, RETRIEVAL, nearest, projection, retrieval_metrics
from losskit.lab.train_torch import TorchConfig, fit, load_splits


def brute_force(x: np.ndarray, y: np.ndarray, distance: str, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """One query at a time: references sorted by (distance, index), lone queries left out."""
    if distance == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    aps: list[float] = []
    hits: dict[int, list[bool]] = {k: [] for k in ks}
    for i in range(len(y)):
        others = [j for j in range(len(y)) if j != i]
        r = sum(y[j] == y[i] for j in others)
        if r == 0:
            continue
        if distance == "cosine":
            d = {j: 1.0 - float(x[i] @ x[j]) for j in others}
        else:
            d = {j: float(np.sqrt(((x[i] - x[j]) ** 2).sum())) for j in others}
        ranked = sorted(others, key=lambda j: (d[j], j))
        rel = [y[j] == y[i] for j in ranked]
        aps.append(sum(rel[p] * sum(rel[: p + 1]) / (p + 1) for p in range(r)) / r)
        for k in ks:
            hits[k].append(any(rel[:k]))
    return {"map_at_r": float(np.mean(aps)), **{f"recall_at_{k}": float(np.mean(hits[k])) for k in ks}}


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_metrics_match_pml_accuracy_calculator(distance):
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    from pytorch_metric_learning.utils.inference import CustomKNN

    assert pml.__version__
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 6, (80,), generator=g)
    x = torch.randn(80, 5, generator=g) + 1.5 * nn.functional.one_hot(y % 5, 5).float()
    y[0] = 9  # a lone query: left out by PML and by losskit
    knn = CustomKNN(CosineSimilarity() if distance == "cosine" else LpDistance(normalize_embeddings=False))
    calc = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r"), k="max_bin_count",
                              knn_func=knn, device=torch.device("cpu"))
    want = calc.get_accuracy(x, y, ref_includes_query=True)  # the test split queried against itself
    got = retrieval_metrics(x, y, distance=distance)
    assert got["recall_at_1"] == pytest.approx(want["precision_at_1"], abs=1e-9)
    assert got["map_at_r"] == pytest.approx(want["mean_average_precision_at_r"], abs=1e-6)
    assert got == pytest.approx(brute_force(x.double().numpy(), y.numpy(), distance), abs=1e-12)


def test_metrics_match_brute_force_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(40, 2)).astype(np.float64)  # many exact ties in distance
    y = rng.integers(0, 4, size=40)
    got = retrieval_metrics(x, y, distance="euclidean", ks=(1, 5))
    assert got == pytest.approx(brute_force(x, y, "euclidean"), abs=1e-12)
    # ties go to the earlier item: three copies of one point, the query's nearest is the first other copy
    same = np.zeros((3, 2))
    assert nearest(same, distance="euclidean").tolist() == [[1, 2], [0, 2], [0, 1]]


def test_metrics_hand_values_and_edges():
    x = np.array([[0.0], [1.0], [2.5], [3.2], [10.0]])
    y = np.array([0, 1, 0, 1, 2])  # class 2 is a lone query (left out)
    got = retrieval_metrics(x, y, distance="euclidean", ks=(1, 3))
    # by hand: every R = 1 and every nearest neighbour is of the other class (0 -> 1, 1 -> 0, 2 -> 3, 3 -> 2),
    # while each query's same-class item is within its 3 nearest
    assert got == {"map_at_r": 0.0, "recall_at_1": 0.0, "recall_at_3": 1.0}
    nan = retrieval_metrics(np.eye(3), np.array([0, 1, 2]))
    assert all(np.isnan(v) for v in nan.values())
    with pytest.raises(LabError, match=r"retrieval_metrics: embeddings must be \(N, D\)"):
        retrieval_metrics(np.zeros((4, 2)), np.zeros(3, dtype=int))
    p = projection(np.random.default_rng(1).normal(size=(20, 6)))
    assert p.shape == (20, 2) and p.dtype == np.float32


def blobs(n: int, seed: int, dim: int = 6, classes: int = 4) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(0)) * 2.0
    return TensorDataset(centres[y] + torch.randn(n, dim, generator=g), y)


def embed() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8))


def test_api_end_to_end(tmp_path):
    out = tmp_path / "out"
    result = compare(data=(blobs(96, 1), blobs(48, 2), blobs(48, 3)), model_fn=embed, task="retrieval",
                     losses="contrastive,supcon,arcface,infonce", runs=2, epochs=2, out=str(out), progress=False)
    assert result.task == "retrieval" and result.metric == "map_at_r"
    assert [s.name for s in result.summaries] == ["contrastive", "supcon", "arcface"]
    assert result.summary("contrastive").baseline
    assert result.verdict and result.comparison is not None
    assert INFONCE_SKIPPED in result.advice
    assert "map_at_r" in result.table() and "recall_at_5" in result.table()
    data = json.loads((out / "results.json").read_text())
    assert data["task"] == "retrieval" and data["metric"] == "map_at_r" and data["verdict"] == result.verdict
    for loss in data["losses"]:
        for run in loss["runs"]:
            m = run["metrics"]
            assert 0.0 <= m["map_at_r"] <= 1.0 and 0.0 <= m["recall_at_1"] <= m["recall_at_5"] <= 1.0
            assert m["distance"] == "cosine"
    assert (out / "projection.png").stat().st_size > 1000
    assert "projection.png" in (out / "report.html").read_text()
    assert "projection.png" in data["files"]


def test_own_loss_gets_embeddings_and_labels_euclidean():
    seen: list[tuple[tuple[int, ...], torch.dtype]] = []

    def centre_pull(emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        seen.append((tuple(emb.shape), labels.dtype))
        return losskit.functional.contrastive_loss(emb, labels)

    result = compare(data=(blobs(64, 1), blobs(32, 2), blobs(32, 3)), model_fn=embed, task="retrieval",
                     losses={"mine": centre_pull, "supcon": "supcon"}, runs=1, epochs=1, progress=False)
    assert seen[0] == ((64, 8), torch.int64)
    assert result.summary("mine").runs[0].metrics["distance"] == "euclidean"


def test_arcface_centres_train():
    splits = load_splits((blobs(64, 1), blobs(32, 2), blobs(32, 3)))
    torch.manual_seed(0)
    loss = losskit.ArcFaceLoss(4, 8, scale=30.0)
    before = loss.centres.detach().clone()
    run = fit("arcface", loss, "cosine", RETRIEVAL.for_head("cosine"), splits, 0, TorchConfig(epochs=2, patience=0),
              embed)
    assert not torch.allclose(loss.centres.detach(), before)
    assert run.metrics["distance"] == "cosine" and np.asarray(run.predictions).shape == (32, 2)


def test_cli_table_retrieval_and_bad_inputs(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["compare", "--dataset", "iris", "--task", "retrieval", "--losses", "contrastive,cosface",
                 "--runs", "2", "--epochs", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "iris: retrieval" in printed and "map_at_r" in printed
    assert (out / "projection.png").exists()
    assert main(["compare", "--dataset", "diabetes", "--task", "retrieval", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task='retrieval' needs a class target" in err[0]
    with pytest.raises(LabError, match="retrieval losses must be among"):
        compare(data=(blobs(32, 1), blobs(16, 2), blobs(16, 3)), model_fn=embed, task="retrieval", losses="focal",
                runs=1, epochs=1, progress=False)
    with pytest.raises(LabError, match=r"must be \(\d+, D\) embeddings"):
        compare(data=(blobs(32, 1), blobs(16, 2), blobs(16, 3)),
                model_fn=lambda: nn.Sequential(nn.Linear(6, 8), nn.Unflatten(1, (2, 4))), task="retrieval",
                losses="supcon", runs=1, epochs=1, progress=False)
