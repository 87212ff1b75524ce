"""report.html and results.json of tiny ``compare`` runs: the provenance equals the installed versions, every
section and figure is there with real content, the per-class tables add up, the confusion matrices are
row-normalised, metric axes fit the data; and the page renders in a headless browser when one is installed."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import losskit
from losskit.lab import compare, load_builtin, prepare
from losskit.lab.report import write_outputs
from losskit.lab.report_data import (
    axis_limits,
    epoch_bands,
    mean_confusion,
    paired,
    per_class,
    pr_curve,
    reliability,
    roc_curve,
)
from losskit.lab.report_figures import plot_confusion, plot_curves, plot_metrics, plot_residuals

PNG = b"\x89PNG\r\n\x1a\n"
TINY = {"epochs": 3, "runs": 2, "hidden": (16,), "progress": False}


class Page(HTMLParser):
    """The parts of report.html the tests read: sections, the contents' links, images, tables and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.links: list[str] = []
        self.images: list[dict[str, str]] = []
        self.scripts = 0
        self.tables: dict[str, list[list[list[str]]]] = {}  # section id -> tables -> rows -> cells
        self._section = ""
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id", "")
            self.sections.append(self._section)
        elif tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append(a["href"][1:])
        elif tag == "img":
            self.images.append(a)
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self.tables.setdefault(self._section, []).append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._section][-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _run(tmp_path_factory, name, **kw):
    out = tmp_path_factory.mktemp(name) / "out"
    result = compare(name, out=str(out), **{**TINY, **kw})
    data = load_builtin(name)
    splits = [prepare(data, seed=r) for r in range(result.config["runs"])]
    page = Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    return result, splits, out, page, json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return _run(tmp_path_factory, "breast_cancer", losses="bce,bce-posweight", epochs=12)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return _run(tmp_path_factory, "diabetes", losses="mse,huber")


# ------------------------------------------------------------------ provenance
def test_provenance_is_the_installed_versions_the_call_and_the_data(binary):
    result, splits, _, page, data = binary
    p = data["provenance"]
    for pkg in ("torch", "numpy", "scikit-learn", "matplotlib"):
        assert p["versions"][pkg] == importlib.metadata.version(pkg)
    assert p["versions"]["losskit"] in (losskit.__version__, importlib.metadata.version("losskit"))
    started = dt.datetime.fromisoformat(p["started_utc"])
    assert started.utcoffset() == dt.timedelta(0)
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - started < dt.timedelta(minutes=10)
    assert p["call"].startswith("compare('breast_cancer', ") and "losses='bce,bce-posweight'" in p["call"]
    assert "runs=2" in p["call"] and "progress" not in p["call"]  # progress changes the output, not the result
    assert p["machine"]["cpu_count"] == os.cpu_count() and p["machine"]["training_threads"] == 1
    assert p["data"]["rows"] == 569 and p["data"]["test_rows"] == np.mean([len(s.y_test) for s in splits])
    assert p["runs"] == 2 and p["splits"] == [0, 1] and p["seeds"] == [0, 1]
    assert p == result.provenance
    header = {row[0]: row[1] for row in page.tables["provenance"][0]}
    assert f"torch {importlib.metadata.version('torch')}" in header["versions"]
    assert header["Python call"] == p["call"] and header["started (UTC)"] == p["started_utc"]
    assert "breast_cancer: binary, 569 rows, 30 features, 2 classes" in header["data set"]


def test_command_line_names_the_cli():
    from losskit.lab.provenance import command_line

    assert command_line(["/x/site-packages/losskit/__main__.py", "compare", "--dataset", "a b"]) == \
        "python -m losskit compare --dataset 'a b'"
    assert command_line(["/usr/bin/losskit", "compare"]) == "losskit compare"


# ------------------------------------------------------------------ layout and figures
def test_every_section_and_figure_is_there_and_self_contained(binary, regression):
    for (_, _, out, page, data), sections, figures in (
        (binary, ["per-class", "confusion", "calibration", "roc-pr"],
         {"metrics", "gains", "curves", "validation", "confusion", "calibration", "roc_pr"}),
        (regression, ["predictions"], {"metrics", "gains", "curves", "validation", "predicted", "residuals"}),
    ):
        common = ["provenance", "verdict", "results", "curves", "data", "configuration"]
        assert set(common + sections) == set(page.sections) and page.links == page.sections  # contents = sections
        assert page.scripts == 0
        files = sorted(f for f in os.listdir(out) if f.endswith(".png"))
        assert files == sorted(f"{f}.png" for f in figures) and sorted(data["files"]) == sorted(os.listdir(out))
        assert len(page.images) == len(files)
        for img in page.images:
            png = base64.b64decode(img["src"].removeprefix("data:image/png;base64,"))
            assert png[:8] == PNG and png == (out / img["alt"]).read_bytes()


def test_the_verdict_table_holds_the_stats_modules_numbers(binary):
    result, _, _, page, data = binary
    c = result.comparison
    rows = page.tables["verdict"][0]
    assert rows[0][:5] == ["loss", "gain over bce", "95% CI", "p", "p (Holm over 2)"]
    assert [r[0] for r in rows[1:]] == [p.a for p in c.versus_baseline] == ["bce-posweight", "bce+threshold"]
    for row, p in zip(rows[1:], c.versus_baseline):
        assert row[1] == f"{p.test.mean:+.3g}" and row[2] == f"[{p.test.ci[0]:.3g}, {p.test.ci[1]:.3g}]"
        assert row[3] == f"{p.test.p_value:.3g}" and row[4] == f"{p.p_holm:.3g}"
    assert len(page.tables["verdict"][1]) == 1 + len(c.pairs)  # every pair, in a <details>
    assert data["comparison"]["versus_baseline"][0]["p_holm"] == c.versus_baseline[0].p_holm


def test_per_class_tables_add_up(binary):
    result, splits, _, page, _ = binary
    test_rows = np.mean([len(s.y_test) for s in splits])
    tables = page.tables["per-class"]
    assert len(tables) == len(result.summaries)  # one per row of the results table
    for s, table in zip(result.summaries, tables):
        pc = per_class(paired(s, splits), 2)
        assert pc.support.sum() == test_rows and pc.runs == 2
        if s.per_class_recall_mean is not None:  # the same recall the metrics module computed
            assert pc.recall == pytest.approx(s.per_class_recall_mean)
        assert [r[0] for r in table[1:]] == ["malignant", "benign", "macro mean"]
        assert float(table[-1][-1]) == test_rows
    from sklearn.metrics import precision_recall_fscore_support

    run, y = paired(result.summaries[0], splits)[1]
    want = precision_recall_fscore_support(y, run.predictions, zero_division=0)
    one = per_class([(run, y)], 2)
    for got, ref in zip((one.precision, one.recall, one.f1, one.support), want):
        assert got == pytest.approx(ref)


def test_confusion_matrices_are_row_normalised_means_of_the_baseline_and_best(binary):
    result, splits, _, _, _ = binary
    fig = plot_confusion(result, splits)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("bce\nbaseline") and all("row-normalised, mean over 2 run(s)" in t for t in titles)
    for ax in fig.axes:
        m = np.asarray(ax.images[0].get_array())
        assert m.sum(1) == pytest.approx(np.ones(2))
    m = mean_confusion(paired(result.summaries[0], splits), 2)
    assert m.sum(1) == pytest.approx([1.0, 1.0])
    # by hand: run A gets class 0 right 1 of 2, run B 2 of 2 -> 0.75 (not the pooled 3/4 by luck: 1 of 2, 4 of 4)
    from losskit.lab.train import RunResult

    def run(pred):
        return RunResult("x", 0, [], [], [], 1, False, {}, 0.0, np.asarray(pred))

    m = mean_confusion([(run([0, 1, 1]), np.array([0, 0, 1])), (run([0, 0, 0, 0, 1]), np.array([0, 0, 0, 0, 1]))], 2)
    assert m == pytest.approx(np.array([[0.75, 0.25], [0.0, 1.0]]))


def test_metric_axes_fit_the_data_not_zero(binary):
    result, _, _, _, _ = binary
    fig = plot_metrics(result)
    ax = next(a for a in fig.axes if a.get_title().startswith("balanced accuracy"))
    values = [r.metrics["balanced_accuracy"] for s in result.summaries for r in s.runs]
    assert 0.8 < min(values)  # the metric is around 0.9 ...
    lo, hi = ax.get_xlim()
    assert 0.5 < lo <= min(values) and max(values) <= hi <= 1.05  # ... and the axis does not start at 0
    dots = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections])
    assert sorted(dots) == pytest.approx(sorted(values))  # every run is a dot
    assert axis_limits([0.86, 0.90])[0] == pytest.approx(0.86 - 0.12 * 0.04)
    assert axis_limits([0.99, 1.0], bounds=(0.0, 1.0))[1] == pytest.approx(1.0012)


def test_calibration_roc_and_pr_by_hand():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from losskit.lab.train import RunResult

    rng = np.random.default_rng(0)
    p1 = np.round(rng.uniform(size=200), 2)
    y = (rng.uniform(size=200) < p1).astype(np.int64)
    fpr, tpr = roc_curve(y == 1, p1)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, p1))
    recall, precision = pr_curve(y == 1, p1)
    assert np.sum(np.diff(recall) * precision[1:]) == pytest.approx(average_precision_score(y, p1))
    probs = np.stack([1 - p1, p1], 1)
    runs = [(RunResult("x", 0, [], [], [], 1, False, {}, 0.0, probs[:100].argmax(1), probs[:100]), y[:100]),
            (RunResult("x", 1, [], [], [], 1, False, {}, 0.0, probs[100:].argmax(1), probs[100:]), y[100:])]
    rel = reliability(runs)
    from losskit.lab.metrics import expected_calibration_error

    assert rel.ece == pytest.approx(expected_calibration_error(y, probs)) and rel.count.sum() == 200
    assert np.all(rel.confidence >= 0.5)


def test_curves_are_the_mean_over_runs_with_a_band(binary):
    ep, mean, std, count = epoch_bands([[1.0, 2.0, 3.0], [3.0, 4.0]])
    assert ep.tolist() == [1, 2, 3] and mean.tolist() == [2.0, 3.0, 3.0] and count.tolist() == [2, 2, 1]
    assert std == pytest.approx([2**0.5, 2**0.5, 0.0])
    result, _, _, _, _ = binary
    fig = plot_curves(result)
    s = result.summaries[0]
    train = fig.axes[0].lines[0]
    assert train.get_ydata() == pytest.approx(np.mean([r.train_losses for r in s.runs], 0))  # 3 epochs each


def test_regression_figures_pool_every_runs_test_rows(regression):
    result, splits, _, _, _ = regression
    fig = plot_residuals(result, splits)
    ax = fig.axes[0]
    assert len(ax.patches) == len(result.config["losses"]) or len(ax.patches) == 1  # baseline and best (or one)
    rows = sum(len(s.y_test) for s in splits)
    for patch in ax.patches:  # a step histogram: its height sums to the pooled test rows
        heights = patch.get_xy()[1:-1:2, 1]
        assert heights.sum() == pytest.approx(rows)


def test_a_single_prepared_still_writes_a_report(binary, tmp_path):
    result, splits, _, _, _ = binary
    paths = write_outputs(result, splits[0], str(tmp_path))
    page = Page()
    page.feed(open(paths["report.html"], encoding="utf-8").read())
    assert float(page.tables["per-class"][0][-1][-1]) == len(splits[0].y_test)


BROWSER = next((shutil.which(b) for b in ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed")
def test_the_report_renders_in_a_headless_browser(binary, tmp_path):
    _, _, out, page, _ = binary
    shot = tmp_path / "r.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'u'}"]
    subprocess.run([BROWSER, *flags, f"--screenshot={shot}", "--window-size=1200,3000",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([BROWSER, *flags, "--dump-dom", (out / "report.html").as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert all(f'id="{s}"' in dom for s in page.sections)
    from matplotlib.image import imread

    img = imread(str(shot))
    assert img.shape[:2] == (3000, 1200) and img[..., :3].std() > 0.05  # drawn, not a blank page
