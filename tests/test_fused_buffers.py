"""The fused paths' gradient buffers (losskit.fused._buffers): huge-page mappings recycled between steps."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import losskit.fused as fused
from losskit.fused import _buffers as B

pytestmark = pytest.mark.skipif(not B.ENABLED, reason="the buffer cache is off on this platform or by environment")

BIG = B.MIN_BYTES // 4  # float32 elements of the smallest recycled buffer


@pytest.fixture(autouse=True)
def _clean_cache():
    fused.empty_cache()
    yield
    fused.empty_cache()


def _is_mapped(t: torch.Tensor) -> bool:
    # torch.frombuffer storages are not resizable; torch.empty's are
    return not t.untyped_storage().resizable()


def test_small_buffers_come_from_torch():
    t = B.empty((BIG - 1,), torch.float32)
    assert not _is_mapped(t)
    assert t.shape == (BIG - 1,) and t.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_large_buffer_is_an_aligned_writable_tensor(dtype):
    itemsize = torch.empty((), dtype=dtype).element_size()
    shape = (B.MIN_BYTES // itemsize // 64, 64)
    t = B.empty(shape, dtype)
    assert _is_mapped(t)
    assert t.shape == shape and t.dtype == dtype and t.is_contiguous() and t.device.type == "cpu"
    assert t.data_ptr() % (2 << 20) == 0
    t.fill_(3)
    assert float(t.sum(dtype=torch.float64)) == 3 * t.numel()


def test_freed_buffer_is_reused_and_views_keep_it_alive():
    t = B.empty((BIG,), torch.float32)
    ptr = t.data_ptr()
    view = t[10:20]
    del t
    gc.collect()
    assert B.cache_info()["idle_buffers"] == 0  # the view still uses it
    del view
    info = B.cache_info()
    assert info["idle_buffers"] == 1 and info["idle_bytes"] >= B.MIN_BYTES
    before = info["reused"]
    again = B.empty((BIG,), torch.float32)
    assert again.data_ptr() == ptr
    assert B.cache_info()["reused"] == before + 1
    assert B.cache_info()["idle_buffers"] == 0


def test_a_buffer_in_use_is_never_handed_out_twice():
    a = B.empty((BIG,), torch.float32)
    b = B.empty((BIG,), torch.float32)
    assert a.data_ptr() != b.data_ptr()
    a.fill_(1)
    b.fill_(2)
    assert float(a[0]) == 1 and float(b[-1]) == 2


def test_empty_cache_releases_idle_buffers():
    t = B.empty((BIG,), torch.float32)
    del t
    assert B.cache_info()["idle_buffers"] == 1
    fused.empty_cache()
    assert B.cache_info() | {"mapped": 0, "reused": 0} == {
        "enabled": True, "idle_buffers": 0, "idle_bytes": 0, "limit_bytes": B.CACHE_BYTES, "mapped": 0, "reused": 0
    }


def test_the_cache_limit_drops_the_oldest(monkeypatch):
    one = B.MIN_BYTES + (4 << 20)  # a block's size: the buffer rounded up, plus the alignment slack
    monkeypatch.setattr(B, "CACHE_BYTES", one)
    a, b = B.empty((BIG,), torch.float32), B.empty((BIG + 1024,), torch.float32)
    del a, b
    B.empty((BIG * 2,), torch.float32)  # no idle block of that size: the cache is trimmed to its limit
    assert B.cache_info()["idle_bytes"] <= one


def test_cache_off_releases_at_once(monkeypatch):
    monkeypatch.setattr(B, "CACHE_BYTES", 0)
    t = B.empty((BIG,), torch.float32)
    del t
    assert B.cache_info()["idle_buffers"] == 0


def test_gradient_of_a_fused_loss_uses_the_cache_across_steps():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BIG, generator=gen).requires_grad_()
    y = torch.randn(BIG, generator=gen)
    expected = 2 * (x.detach() - y) / x.numel()
    ptrs = []
    for _ in range(3):
        x.grad = None
        fused.fused_mse_loss(x, y).backward()
        torch.testing.assert_close(x.grad, expected)
        ptrs.append(x.grad.data_ptr())
    assert _is_mapped(x.grad)
    assert ptrs[1] == ptrs[2]  # steady state: the previous step's .grad was recycled
    ref = x.detach().clone().requires_grad_()
    F.mse_loss(ref, y).backward()
    torch.testing.assert_close(x.grad, ref.grad)


def test_accumulated_gradients_stay_correct():
    """.grad kept between steps (zero_grad(set_to_none=False)): autograd adds the new buffer into it, and the
    freed buffer is recycled without touching the accumulated one."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BIG, generator=gen).requires_grad_()
    y = torch.randn(BIG, generator=gen)
    for _ in range(3):
        fused.fused_mse_loss(x, y).backward()
    torch.testing.assert_close(x.grad, 3 * 2 * (x.detach() - y) / x.numel())


@pytest.mark.parametrize("env", [{"LOSSKIT_HUGEPAGES": "0"}, {"MALLOC_MMAP_THRESHOLD_": "68719476736"}])
def test_switched_off_by_environment(env):
    code = "from losskit.fused import _buffers as B; print(B.ENABLED)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_cache_size_from_environment():
    code = "from losskit.fused import _buffers as B; print(B.CACHE_BYTES)"
    env = {**os.environ, "LOSSKIT_GRAD_CACHE_MB": "64"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == 64 << 20


@pytest.mark.parametrize("value", ["lots", "-5", "nan", "inf"])
def test_a_bad_cache_size_is_named_and_the_default_kept(value):
    code = (
        "import os; from losskit.fused import _buffers as B; "
        "print(B.CACHE_BYTES == os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') // 4)"
    )
    env = {**os.environ, "LOSSKIT_GRAD_CACHE_MB": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert "LOSSKIT_GRAD_CACHE_MB must be a number of MiB >= 0" in out.stderr and repr(value) in out.stderr
