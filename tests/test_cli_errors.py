"""Every bad input to the command line gets one line on stderr and exit code 2, and nothing half-written
(issue 10 part 8); Ctrl-C is one line and exit code 130; a lost peer under torchrun one line on every rank."""

from __future__ import annotations

import io
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from losskit.cli import main

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
TINY = ["--epochs", "1", "--runs", "1", "--no-progress"]


def _one_line(err: str, *words: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


def _exit_code(argv: list[str]) -> int:
    """``main(argv)``'s exit code, whether it returns it or argparse raises SystemExit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


# ------------------------------------------------------------------ numeric options out of range
@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--dropout", "1.5", "expected a number in [0, 1), got 1.5"),
        ("--dropout", "-0.1", "expected a number in [0, 1), got -0.1"),
        ("--dropout", "nan", "expected a number in [0, 1), got nan"),
        ("--hidden", "-3", "expected layer widths >= 1"),
        ("--hidden", "0", "expected layer widths >= 1"),
        ("--hidden", "64,x", "expected comma-separated integers"),
        ("--epochs", "0", "expected an integer >= 1, got 0"),
        ("--runs", "0", "expected an integer >= 1, got 0"),
        ("--seeds", "-2", "expected an integer >= 1, got -2"),
        ("--patience", "-1", "expected an integer >= 0, got -1"),
        ("--batch-size", "0", "expected an integer >= 1, got 0"),
        ("--accumulate", "0", "expected an integer >= 1, got 0"),
        ("--candidates", "0", "expected an integer >= 1, got 0"),
        ("--lr", "0", "expected a number in (0, inf), got 0"),
        ("--lr", "inf", "expected a number in (0, inf), got inf"),
        ("--weight-decay", "-1", "expected a number in [0, inf), got -1"),
        ("--imbalance", "0", "expected a number in (0, 1], got 0"),
        ("--label-noise", "1", "expected a number in [0, 1), got 1"),
        ("--outliers", "2", "expected a number in [0, 1), got 2"),
        ("--timeout", "0", "expected a number in (0, inf), got 0"),
        ("--target-transform", "sqrt", "invalid choice: 'sqrt'"),
    ],
)
def test_compare_option_out_of_range(option, value, expected, tmp_path, capsys):
    out = tmp_path / "o"
    assert _exit_code(["compare", "--dataset", "iris", option, value, "--out", str(out)]) == 2
    _one_line(capsys.readouterr().err, "losskit compare: error: argument", option, expected)
    assert not out.exists()


def test_python_compare_refuses_zero_width_layers_and_bad_dropout():
    from losskit.lab import LabError, compare

    with pytest.raises(LabError, match=r"compare: hidden must be layer widths >= 1, but got \(64, 0\)"):
        compare("iris", hidden=(64, 0), out=None, progress=False)
    with pytest.raises(LabError, match=r"compare: dropout must be in \[0, 1\), but got 1.0"):
        compare("iris", dropout=1.0, out=None, progress=False)


def test_unknown_family(capsys):
    assert main(["losses", "--family", "bogus"]) == 2
    err = _one_line(capsys.readouterr().err, "losskit losses: error:", "'bogus'", "classification", "regression")
    assert "segmentation" in err
    assert main(["losses", "--family", "regresion"]) == 2
    _one_line(capsys.readouterr().err, "did you mean 'regression'?")
    assert main(["losses", "--family", "regression"]) == 0
    assert "HuberLoss" in capsys.readouterr().out


# ------------------------------------------------------------------ output paths
def test_plot_shapes_into_a_folder_writes_the_default_name(tmp_path, capsys):
    assert main(["plot-shapes", "--losses", "mse,l1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "loss-shapes.png").read_bytes()[:8] == PNG
    assert not (tmp_path.parent / (tmp_path.name + ".png")).exists()  # not DIR.png beside the folder
    assert capsys.readouterr().out == f"wrote {tmp_path / 'loss-shapes.png'}\n"


@pytest.mark.parametrize("where", ["missing", "file", "proc"])
def test_plot_shapes_unwritable_output(where, tmp_path, capsys):
    target = {
        "missing": tmp_path / "no" / "such" / "x.png",
        "file": tmp_path / "a-file" / "x.png",  # a regular file where the folder should be
        "proc": Path("/proc/losskit-test.png"),  # not writable even by root
    }[where]
    (tmp_path / "a-file").write_text("x")
    before = sorted(os.listdir(tmp_path))
    assert main(["plot-shapes", "--losses", "mse", "--out", str(target)]) == 2
    _one_line(capsys.readouterr().err, "losskit plot-shapes: error: plot-shapes: out must be a writable file path")
    assert sorted(os.listdir(tmp_path)) == before and not target.exists()


def test_a_failed_save_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    """Disk full (or any OSError) while the PNG is written: one line, and neither the PNG nor its temp file."""
    from matplotlib.figure import Figure

    def full(self, *args, **kwargs):
        args[0].write(b"\x89PNG partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    assert main(["plot-shapes", "--losses", "mse", "--out", str(tmp_path / "s.png")]) == 2
    _one_line(capsys.readouterr().err, "No space left on device")
    assert os.listdir(tmp_path) == []


def test_doctor_plot_into_a_folder(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("epoch,train_loss\n" + "".join(f"{e},{1.0 / e}\n" for e in range(1, 8)))
    folder = tmp_path / "plots"
    folder.mkdir()
    assert main(["doctor", str(log), "--plot", str(folder)]) == 0
    assert (folder / "doctor.png").read_bytes()[:8] == PNG
    assert main(["doctor", str(log), "--plot", "/proc/losskit-doctor.png"]) == 2
    _one_line(capsys.readouterr().err, "--plot must be a writable file path")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_output_folder_and_files_honour_the_umask(mask, tmp_path, capsys):
    old = os.umask(mask)
    try:
        out = tmp_path / "o"
        assert main(["compare", "--dataset", "iris", "--losses", "ce", *TINY, "--out", str(out)]) == 0
        png = tmp_path / "s.png"
        assert main(["plot-shapes", "--losses", "mse", "--out", str(png)]) == 0
    finally:
        os.umask(old)
    assert _mode(out) == 0o777 & ~mask  # not mkdtemp's 0700
    assert _mode(out / "results.json") == 0o666 & ~mask
    assert _mode(png) == 0o666 & ~mask  # not mkstemp's 0600
    assert [n for n in os.listdir(tmp_path) if n.startswith(".losskit")] == []


# ------------------------------------------------------------------ data
def test_class_labels_with_dollars_are_shown_literally(tmp_path, capsys):
    """``$5_to_$10`` used to reach matplotlib's mathtext and crash compare after all the training."""
    rng = np.random.default_rng(0)
    labels = ["$5_to_$10", "$10_to_$20", "under_$5"]
    rows = [f"{rng.normal() + i % 3:.3f},{rng.normal():.3f},{labels[i % 3]}" for i in range(60)]
    path = tmp_path / "prices.csv"
    path.write_text("a,b,band\n" + "\n".join(rows) + "\n")
    out = tmp_path / "o"
    assert main(["compare", "--csv", str(path), "--losses", "ce", *TINY, "--out", str(out)]) == 0
    assert (out / "confusion.png").read_bytes()[:8] == PNG  # the class names are its tick labels
    assert "$5_to_$10" in (out / "report.html").read_text()


def test_lab_figures_draw_text_literally():
    from matplotlib.text import Text

    from losskit.lab._extras import figure

    fig = figure(figsize=(3, 2))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xticks([0, 1], ["$5_to_$10", r"\alpha_$"])
    ax.set_title("$x^")  # unbalanced mathtext: an error if parsed
    fig.tight_layout()
    fig.savefig(io.BytesIO(), format="png")
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert {"$5_to_$10", "$x^"} <= {t.get_text() for t in texts}
    assert not any(t.get_parse_math() for t in texts)
    import matplotlib

    assert matplotlib.rcParams["text.parse_math"]  # the global setting is left alone


def test_value_beyond_float32_is_named_by_column(tmp_path, capsys):
    rows = [f"{i},{i * 2.5},{i % 2}" for i in range(30)]
    rows[11] = "11,3e39,1"
    path = tmp_path / "big.csv"
    path.write_text("id_num,amount,y\n" + "\n".join(rows) + "\n")
    assert main(["compare", "--csv", str(path), "--target", "y", "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys.readouterr().err, "column 'amount' must fit in float32", "3e39 on line 13")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_in_process(tmp_path, monkeypatch, capsys):
    import losskit.lab.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "train_run", interrupted)
    out = tmp_path / "o"
    assert main(["compare", "--dataset", "iris", *TINY, "--out", str(out)]) == 130
    assert capsys.readouterr().err == "losskit compare: interrupted\n"
    assert os.listdir(tmp_path) == []


_WAIT_FOR_SIGINT = """
import sys, time
import losskit.lab.runner as runner
from losskit.cli import main

def waiting(*args, **kwargs):
    print("training", flush=True)
    time.sleep(120)

runner.train_run = waiting
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_signal(tmp_path):
    """A real SIGINT while training: one line, exit code 130, no output folder."""
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-c", _WAIT_FOR_SIGINT, "compare", "--dataset", "iris", *TINY,
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, cwd=tmp_path)
    try:
        assert proc.stdout.readline() == "training\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "losskit compare: interrupted\n"
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ torchrun: a stopped peer
_RANK = """
import sys, time
import losskit.lab.runner as runner
from losskit.cli import main

delay = float(sys.argv[1])
real = runner.train_run

def late(*args, **kwargs):  # rank 1 stops for a while before its first run, as a suspended worker would
    time.sleep(delay)
    return real(*args, **kwargs)

runner.train_run = late
sys.exit(main(sys.argv[2:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stopped_peer_ends_the_run_within_the_timeout(tmp_path):
    """Two gloo processes; rank 1 stalls 8 s before training. Rank 0 gives up after --timeout 3 s with one line
    and exit code 1; rank 1, resuming, finds rank 0 gone and ends with one line too (not torch's 30 minutes)."""
    env = {**ENV, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    args = ["compare", "--dataset", "iris", "--losses", "ce", *TINY, "--timeout", "3", "--out", str(tmp_path / "o")]
    procs = [subprocess.Popen([sys.executable, "-c", _RANK, delay, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                              env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)})
             for rank, delay in ((0, "0"), (1, "8"))]
    started = time.monotonic()
    try:
        results = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert time.monotonic() - started < 150
    for rank, (p, (_, err)) in enumerate(zip(procs, results)):
        assert p.returncode == 1, err
        _one_line(err, "losskit compare: error:", f"rank {rank} of 2 lost contact", "--timeout 3 s")
    assert "Timed out" in results[0][1]
    assert not (tmp_path / "o").exists()
