"""Lazy imports of the lab's optional dependencies (``pip install 'losskit[lab]'``)."""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from .._validation import LossValueError

__all__ = [
    "LabError",
    "MissingExtraError",
    "check_network",
    "figure",
    "make_dir",
    "output_file",
    "require",
    "save_figure",
    "umask",
]


class LabError(LossValueError):
    """Bad input to the lab (data, options, output folder): the CLI prints it and exits with code 2."""

    user_facing = True


class MissingExtraError(LabError, ImportError):
    """An optional dependency of the lab is not installed."""


_PACKAGES = {"matplotlib": "matplotlib", "sklearn": "scikit-learn", "tqdm": "tqdm"}


def require(module: str, *, what: str = "the lab") -> ModuleType:
    """Import ``module`` (one of the ``losskit[lab]`` extras) or raise :class:`MissingExtraError`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingExtraError(
            f"{what}: the package {_PACKAGES.get(top, top)} must be installed, but got an environment without it; "
            "pip install 'losskit[lab]'"
        ) from None


_LITERAL_RC = {"text.parse_math": False, "text.usetex": False}


def _literal_figure_class() -> type:
    """A Figure whose every text is drawn literally: ``$5_to_$10`` is a label, not mathtext, and no text goes
    through LaTeX, whatever the user's matplotlibrc says. Text objects read ``text.parse_math`` when they are
    created, so the layout and drawing run with it off (ticks made then inherit it) after a pass that turns it off
    on every text made before; the global rcParams are left as they were."""
    mpl = require("matplotlib", what="plots")
    mfig = require("matplotlib.figure", what="plots")
    mtext = require("matplotlib.text", what="plots")

    class LiteralFigure(mfig.Figure):  # type: ignore[name-defined]
        @contextlib.contextmanager
        def _literal(self) -> Iterator[None]:
            with mpl.rc_context(_LITERAL_RC):
                for t in self.findobj(mtext.Text):
                    t.set_parse_math(False)
                    t.set_usetex(False)
                yield

        def draw(self, renderer: Any) -> Any:
            with self._literal():
                return super().draw(renderer)

        def tight_layout(self, *args: Any, **kwargs: Any) -> Any:
            with self._literal():
                return super().tight_layout(*args, **kwargs)

        def savefig(self, *args: Any, **kwargs: Any) -> Any:
            with self._literal():
                return super().savefig(*args, **kwargs)

    return LiteralFigure


def figure(**kwargs: Any) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no display and no global pyplot state are touched, and every
    text (titles, tick labels such as class names, legends) is shown literally: ``$`` is not mathtext."""
    return _literal_figure_class()(**kwargs)


# --------------------------------------------------------------------------------------------
# options and outputs of the lab's commands
# --------------------------------------------------------------------------------------------
def check_network(hidden: Sequence[int], dropout: float, where: str) -> None:
    """The MLP's options: widths >= 1 (none: a linear model) and dropout in ``[0, 1)``.

    Raises:
        LabError: a width below 1 or not an integer, or dropout outside ``[0, 1)`` (or not a number).
    """
    widths = None if isinstance(hidden, (str, bytes)) else list(hidden)
    if widths is None or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in widths):
        raise LabError(f"{where}: hidden must be layer widths >= 1, but got {hidden!r}; pass e.g. --hidden 128,64 "
                       "(hidden=(128, 64))")
    if (isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not math.isfinite(dropout)
            or not 0.0 <= dropout < 1.0):
        raise LabError(f"{where}: dropout must be in [0, 1), but got {dropout!r}; pass e.g. --dropout 0.1")


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_dir(parent: str, prefix: str) -> str:
    """A new uniquely named folder in ``parent`` with the permissions the umask gives (``tempfile.mkdtemp``
    makes it 0700, which a folder moved into place as the output would keep)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(path, 0o777 & ~umask())
    return path


def output_file(path: str | os.PathLike, default_name: str, where: str, option: str) -> str:
    """Where a command writes one file: ``path`` itself, or ``path/default_name`` when ``path`` is an existing
    folder (also when it ends with a separator). The folder that will hold the file must exist and be writable.

    Raises:
        LabError: a missing or read-only folder, or an empty path (one line, nothing written).
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise LabError(f"{where}: {option} must be a file path, but got an empty string; pass e.g. {default_name}")
    if os.path.isdir(text) or str(text).endswith((os.sep, "/")):
        text = os.path.join(text, default_name)
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise LabError(f"{where}: {option} must be a writable file path, but got {str(path)!r} (the folder {folder!r} "
                       "does not exist); create the folder or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise LabError(f"{where}: {option} must be a writable file path, but got {str(path)!r} (the folder "
                       f"{folder!r} is not writable); choose another path")
    return str(text)


def save_figure(fig: Any, path: str, where: str, option: str, **kwargs: Any) -> str:
    """Save ``fig`` as a PNG at ``path`` atomically: a temporary file in the same folder, renamed into place (no
    half-written file on failure), with the permissions the umask gives.

    Raises:
        LabError: the file cannot be written (one line).
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".losskit-", suffix=".png", dir=folder)
    except OSError as err:
        raise LabError(f"{where}: {option} must be a writable file path, but got {path!r} ({err.strerror or err}); "
                       "choose another path") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", **kwargs)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise LabError(f"{where}: {option} must be a writable file path, but got {path!r} ({err.strerror or err}); "
                       "choose another path") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
