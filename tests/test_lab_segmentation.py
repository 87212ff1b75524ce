"""The lab's segmentation task (issue 11): the ``shapes`` generator, the metrics against hand-computed values
(mean IoU, Dice per class, the boundary band), task inference, the ranking from mask statistics, the Python API end
to end on tiny shapes data (multi-class and binary masks, a loss of your own), the CLI demo and the bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from losskit.cli import main
from losskit.lab import LabError, compare
from losskit.lab.data_shapes import CLASSES, make_fcn, paint, shapes_data, shapes_images
from losskit.lab.task_segmentation import boundary_band, mask_stats, plan, segmentation_metrics
from losskit.lab.tasks import infer_task


# ---- the generator
def test_shapes_are_deterministic_from_the_seed():
    x, y = shapes_images(30, 7)
    x2, y2 = shapes_images(30, 7)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x3, _ = shapes_images(30, 8)
    assert not np.array_equal(x, x3)
    assert x.shape == (30, 1, 32, 32) and x.dtype == np.float32 and y.shape == (30, 32, 32) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1, 2, 3}
    assert x[:, 0][y > 0].mean() > x[:, 0][y == 0].mean() + 0.5  # the shapes are painted where the masks say


def test_shapes_data_splits_and_class_names():
    train, val, test = shapes_data(3, 50)
    assert [len(p) for p in (train, val, test)] == [30, 10, 10]
    assert train.classes == list(CLASSES) == ["background", "circle", "square", "triangle"]
    assert torch.equal(shapes_data(3, 50)[2].tensors[1], test.tensors[1])
    assert set(np.unique(shapes_images(400, 0)[1])) == {0, 1, 2, 3}


@pytest.mark.parametrize("kind, rows, area", [
    (1, {3: 1, 4: 3, 5: 5, 6: 3, 7: 1}, 13),   # circle r=2 at (5, 5): 1 + 3 + 5 + 3 + 1 pixels (by hand)
    (2, {3: 5, 4: 5, 5: 5, 6: 5, 7: 5}, 25),   # square half-side 2: 5x5
    (3, {3: 1, 4: 1, 5: 3, 6: 3, 7: 5}, 13),   # triangle: half-width (y - 3) / 2 -> 0, 0.5, 1, 1.5, 2
])
def test_paint_masks_match_the_shapes(kind, rows, area):
    image, mask = np.zeros((12, 12)), np.zeros((12, 12), dtype=np.int64)
    paint(image, mask, kind, 5.0, 5.0, 2.0, 1.5)
    assert int((mask == kind).sum()) == area and set(np.unique(mask)) == {0, kind}
    assert {int(r): int(n) for r, n in enumerate((mask == kind).sum(1)) if n} == rows
    assert np.array_equal(image == 1.5, mask == kind)
    assert (mask[:, 5] == kind).sum() == 5  # symmetric about the centre column


# ---- metrics
TRUTH = np.array([[[0, 0, 1, 1],
                   [0, 0, 1, 1],
                   [0, 0, 0, 0]]])
PRED = np.array([[[0, 1, 1, 1],
                  [0, 0, 1, 1],
                  [0, 0, 0, 1]]])


def test_boundary_band_by_hand():
    # a pixel is in the band when its 3x3 neighbourhood holds another class; the image border is no boundary
    assert np.array_equal(boundary_band(TRUTH)[0], np.array([[0, 1, 1, 0],
                                                            [0, 1, 1, 1],
                                                            [0, 1, 1, 1]], dtype=bool))
    assert not boundary_band(np.zeros((2, 5, 5), dtype=np.int64)).any()


def test_segmentation_metrics_by_hand():
    m = segmentation_metrics(TRUTH, PRED, 3)
    # by hand: class 0 TP 6 FP 0 FN 2; class 1 TP 4 FP 2 FN 0; class 2 absent from truth and prediction
    assert m["per_class_iou"][:2] == pytest.approx([6 / 8, 4 / 6])
    assert m["per_class_dice"][:2] == pytest.approx([12 / 14, 8 / 10])
    assert np.isnan(m["per_class_iou"][2]) and np.isnan(m["per_class_dice"][2])
    assert m["mean_iou"] == pytest.approx((6 / 8 + 4 / 6) / 2)
    assert m["mean_dice"] == pytest.approx((12 / 14 + 8 / 10) / 2)
    assert m["pixel_accuracy"] == pytest.approx(10 / 12)
    assert m["interior_pixel_accuracy"] == 1.0  # both errors lie in the boundary band; 4 interior pixels right
    wrong = segmentation_metrics(TRUTH, np.full_like(TRUTH, 2), 3)  # class 2 predicted everywhere: IoU 0
    assert wrong["per_class_iou"] == [0.0, 0.0, 0.0] and wrong["pixel_accuracy"] == 0.0


def test_task_inference_and_the_ranking_from_mask_statistics():
    masks = np.zeros((10, 8, 8), dtype=np.int64)
    masks[:2, 2:4, 2:4] = 3
    assert infer_task(masks)[0] == "segmentation"
    assert infer_task(masks[:, None].clip(0, 1))[0] == "segmentation"  # (1, H, W) 0/1 masks: binary
    assert infer_task(masks[:, 0, 0])[0] in ("binary", "multiclass")
    assert infer_task(masks.astype(np.float32))[0] != "segmentation"
    s = mask_stats(masks)
    assert s.num_classes == 4 and s.empty_share == pytest.approx(0.8)
    assert s.foreground_fraction == pytest.approx(8 / 640)
    order, reasons = plan(s)
    assert [n for n, _ in order][:3] == ["ce", "dice-ce", "focal"]  # many empty masks: focal before the overlaps
    assert any("80% of the masks are empty" in r for r in reasons)


# ---- end to end
def test_python_api_end_to_end_on_tiny_shapes(tmp_path):
    out = tmp_path / "seg"
    result = compare(data=shapes_data(0, 40), model_fn=make_fcn, losses="ce,dice-ce", runs=2, epochs=2,
                     batch_size=8, progress=False, out=str(out))
    assert result.task == "segmentation" and result.metric == "mean_iou"
    assert result.verdict and "mean iou" in result.verdict
    assert result.class_names == ["background", "circle", "square", "triangle"]
    data = json.loads((out / "results.json").read_text())
    run = data["losses"][0]["runs"][0]["metrics"]
    assert {"mean_iou", "mean_dice", "pixel_accuracy", "interior_pixel_accuracy"} <= set(run)
    assert len(run["per_class_dice"]) == 4 and data["losses"][0]["baseline"] and data["verdict"] == result.verdict
    assert "segmentation.png" in data["files"] and (out / "segmentation.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "Predicted masks and Dice per class" in page and "alt='segmentation.png'" in page
    assert "triangle" in page and "interior pixel accuracy" in page


def test_binary_masks_and_a_loss_of_your_own(tmp_path):
    x, y = shapes_images(30, 1, size=16)
    binary = torch.from_numpy((y > 0).astype(np.int64))[:, None]  # (N, 1, H, W) 0/1
    images = torch.from_numpy(x)
    parts = tuple(TensorDataset(images[s], binary[s]) for s in (slice(0, 18), slice(18, 24), slice(24, 30)))
    seen = {}

    def soft_dice(logits, target):
        seen["shapes"] = (tuple(logits.shape), target.dtype)
        p = torch.sigmoid(logits)
        return 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)

    result = compare(data=parts, model_fn=lambda: make_fcn(classes=1), losses=["ce", soft_dice],
                     runs=2, epochs=1, batch_size=6, progress=False)
    assert result.task == "segmentation" and result.class_names == ["background", "foreground"]
    assert seen["shapes"] == ((6, 1, 16, 16), torch.float32)
    assert result.summary("ce").code == "loss_fn = losskit.BCEWithLogitsLoss()" and result.summary("ce").baseline
    assert len(result.summary("soft_dice").runs[0].metrics["per_class_dice"]) == 2


def test_cli_shapes_demo(tmp_path, capsys):
    code = main(["compare", "--dataset", "shapes", "--runs", "2", "--epochs", "1", "--losses", "ce,lovasz",
                 "--no-progress", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0 and "mean_iou" in out and "lovasz" in out
    config = json.loads((tmp_path / "o" / "results.json").read_text())["config"]
    assert config["batch_size"] == 16 and config["task"] == "segmentation" and config["split"] == "repeated"


def test_bad_inputs_one_line():
    parts = shapes_data(0, 20)
    with pytest.raises(LabError, match=r"output must be \(\d+, 4, 32, 32\) logits, one channel per class"):
        compare(data=parts, model_fn=lambda: make_fcn(classes=3), losses="ce", runs=1, epochs=1, progress=False)
    with pytest.raises(LabError, match="segmentation losses are ce, dice, dice-ce"):
        compare(data=parts, model_fn=make_fcn, losses="ce,hinge", runs=1, epochs=1, progress=False)
    with pytest.raises(LabError, match="must be one of"):
        compare(data=parts, model_fn=lambda: nn.Conv2d(1, 4, 1), task="segmentaton", runs=1, epochs=1,
                progress=False)
