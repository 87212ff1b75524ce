"""losskit's native elementwise kernels (``kernels.c``), compiled on first use and called through ctypes.

The torch-op kernels of :mod:`losskit.fused.pointwise` pay torch's per-op cost (a few microseconds of Python
and dispatch, held under the GIL, so two threads cannot overlap it) about twenty times per chunk, and every op
is one more pass over the chunk. A single C loop per chunk, vectorised by the compiler, does the work in one pass
and releases the GIL for the whole chunk. Measured on the 2-core machine (2^24 float32 elements, forward and
backward, buffer reused): see ``benchmarks/README.md``.

**Build.** The first call compiles ``kernels.c`` with the C compiler of the machine (``$CC``, else ``cc``, else
``gcc``) with :data:`FLAGS` into ``$XDG_CACHE_HOME/losskit`` (default ``~/.cache/losskit``), named by a hash of the
source, the flags, the compiler's version and the CPU's feature flags, so a binary built for one CPU is never
loaded on another. It takes about a second, once per machine. Without a compiler, on a platform other than Linux or
macOS, when the build fails, or with ``LOSSKIT_NATIVE=0``, :func:`library` returns ``None`` and the torch-op
kernels run instead (same numbers within float32 rounding); :func:`status` says why.

Only unweighted calls reducing to a sum or mean, on float32 chunks (float16 and bfloat16 inputs are converted chunk by
chunk), without ``pos_weight`` or a target gradient, use these kernels; every other call keeps the
torch-op kernels.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["FLAGS", "library", "status"]

FLAGS = (
    "-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math",
    "-fPIC", "-shared", "-std=c11",
)
"""Compiler flags: vectorised loops for this CPU (512-bit vectors where it has them: the sigmoid focal loop ran 18%
faster than with gcc's default 256 on the 2-core Xeon), IEEE semantics kept (no ``-ffast-math``)."""

_SOURCE = Path(__file__).with_name("kernels.c")
_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "tried": False, "why": "not built yet"}


def _off() -> bool:
    return os.environ.get("LOSSKIT_NATIVE", "1").strip().lower() in ("0", "false", "off", "no")


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name.split()[0]):
            return name
    return None


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor() + platform.machine()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "losskit"


def _build() -> ctypes.CDLL:
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler (set CC, or install cc/gcc)")
    version = subprocess.run([*cc.split(), "--version"], capture_output=True, text=True, timeout=60).stdout
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(source + repr((FLAGS, cc, version, _cpu_flags())).encode()).hexdigest()[:16]
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    target = _cache_dir() / f"kernels-{key}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".kernels-", suffix=suffix, dir=target.parent)
        os.close(fd)
        try:
            proc = subprocess.run(
                [*cc.split(), *FLAGS, str(_SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True, timeout=300
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[:500]}")
            os.replace(tmp, target)  # atomic: a concurrent build of the same key writes the same bytes
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(target))
    f, d, p, i64, i = ctypes.c_float, ctypes.c_double, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for name, extra in (
        ("lk_mse", ()),
        ("lk_l1", ()),
        ("lk_huber", (f, f)),
        ("lk_bce", (f,)),
        ("lk_sigmoid_focal", (f, f, i)),
    ):
        fn = getattr(lib, name)
        fn.restype = d
        fn.argtypes = [p, p, p, i64, f, *extra]
    lib.lk_dice_sums.restype = None
    lib.lk_dice_sums.argtypes = [p, p, p, i64, p]
    lib.lk_dice_grad.restype = None
    lib.lk_dice_grad.argtypes = [p, p, i64, f, f]
    lib.lk_ce_rows.restype = None
    lib.lk_ce_rows.argtypes = [p, p, i64, i64, p, p, p, p, p]
    lib.lk_focal_rows.restype = None
    lib.lk_focal_rows.argtypes = [p, p, i64, i64, p, p, f, p]
    return lib


def library() -> ctypes.CDLL | None:
    """The loaded kernels, built on the first call; ``None`` where they are unavailable (see :func:`status`)."""
    if _state["tried"]:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if not _state["tried"]:
            if _off():
                _state["why"] = "off: LOSSKIT_NATIVE=0"
            elif not sys.platform.startswith(("linux", "darwin")):
                _state["why"] = f"not built on {sys.platform}"
            else:
                try:
                    _state["lib"] = _build()
                    _state["why"] = "built"
                except (OSError, RuntimeError, subprocess.SubprocessError) as err:
                    _state["why"] = f"unavailable: {err}"
            _state["tried"] = True
    return _state["lib"]  # type: ignore[return-value]


def status() -> str:
    """Why :func:`library` returns what it does (``"built"``, ``"off: ..."``, ``"unavailable: ..."``)."""
    library()
    return str(_state["why"])
