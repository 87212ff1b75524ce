"""The lab: ``losskit compare`` trains a model with each candidate loss and compares them.

:func:`compare` (also ``losskit compare``) recommends losses for a data set's target with :mod:`losskit.advisor`,
trains the same MLP with each over several seeds, evaluates them on a clean test split and writes
``results.json``, ``curves.csv``, PNG plots and ``report.html``. The lab's extras (matplotlib, scikit-learn, tqdm)
are imported lazily: ``pip install 'losskit[lab]'``.
"""

from ._extras import LabError, MissingExtraError
from .data import BUILTIN, Dataset, Prepared, load_builtin, load_csv, load_data, prepare
from .metrics import classification_metrics, expected_calibration_error, regression_metrics
from .runner import CompareResult, LossSummary, compare, primary_metric
from .shapes import plot_shapes
from .train import RunResult, TrainConfig, make_mlp

__all__ = [
    "BUILTIN",
    "CompareResult",
    "Dataset",
    "LabError",
    "LossSummary",
    "MissingExtraError",
    "Prepared",
    "RunResult",
    "TrainConfig",
    "classification_metrics",
    "compare",
    "expected_calibration_error",
    "load_builtin",
    "load_csv",
    "load_data",
    "make_mlp",
    "plot_shapes",
    "prepare",
    "primary_metric",
    "regression_metrics",
]
