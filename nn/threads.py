"""Control of the BLAS thread pool NumPy's matrix products run on.

Training is dominated by matrix products, which OpenBLAS spreads over threads. A worker
running several trainings at once pins each to a share of the cores so that
processes x threads does not exceed them. Setting the ``OPENBLAS_NUM_THREADS``
environment variable before NumPy is imported works too; this module changes the
count at run time, through OpenBLAS's own C functions (found with ctypes among the
libraries the process has loaded), and needs nothing beyond the standard library.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
from contextlib import contextmanager
from functools import cache

import numpy as np

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _candidate_paths() -> list[str]:
    # NumPy's own bundled OpenBLAS first: SciPy loads a copy of its own, and pinning that
    # one would leave NumPy's matrix products on all cores
    base = os.path.dirname(os.path.dirname(np.__file__))
    paths = glob.glob(os.path.join(base, "numpy.libs", "*blas*"))
    paths += glob.glob(os.path.join(base, "numpy", ".dylibs", "*blas*"))
    try:
        with open("/proc/self/maps") as maps:
            paths += [line.split()[-1] for line in maps if "blas" in line.lower()]
    except OSError:
        pass
    return list(dict.fromkeys(p for p in paths if os.path.isfile(p)))


@cache
def _openblas():
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _GETTERS if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            return setter, getter
    return None


#: where a container's CPU quota is (cgroup v2: "quota period" or "max period"; v1: two
#: files, -1 for none)
CPU_MAX = "/sys/fs/cgroup/cpu.max"
CFS_QUOTA = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _words(path: str) -> list[str]:
    with open(path) as f:
        return f.read().split()


def _cpu_quota() -> float | None:
    """The cores' worth of CPU time a container's quota allows (``docker --cpus``, a
    Kubernetes CPU limit), or None without one."""
    try:
        quota, period = _words(CPU_MAX)[:2]
    except (OSError, ValueError):
        try:
            (quota,), (period,) = (_words(path) for path in CFS_QUOTA)
        except (OSError, ValueError):
            return None
    try:
        quota_us, period_us = float(quota), float(period)
    except ValueError:  # "max": no quota
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def usable_cores() -> int:
    """The cores this process may use: its CPU affinity (``taskset``, a container's
    cpuset), which ``os.cpu_count()`` ignores, and at most its container's CPU quota
    (rounded up), else every core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cpu_quota()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """BLAS threads for each of ``processes`` processes training at once so that
    processes x threads does not exceed ``cores`` (default: :func:`usable_cores`).

    OpenBLAS's threads wait for work by spinning, so threads beyond a process's share of
    the cores spend the CPU the other processes train with (on two shared cores, a job of
    two hidden layers of 64 used three times the CPU with two threads that it did with
    one).
    """
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, processes))


def blas_threads() -> int | None:
    """Threads the BLAS library uses now, or None if it cannot be controlled here."""
    lib = _openblas()
    return None if lib is None else int(lib[1]())


def set_blas_threads(n: int) -> bool:
    """Use ``n`` (>= 1) BLAS threads from now on; False if the BLAS cannot be controlled."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("the number of BLAS threads must be an integer >= 1")
    lib = _openblas()
    if lib is None:
        return False
    lib[0](n)
    return True


#: Training runs on one BLAS thread when its largest matrix product has fewer
#: multiply-adds than this. A (256 x 256) by (256 x 256) float32 product (2^24) ran at
#: 92 GFLOP/s on one thread of this project's 2-core test machine and at 23 (best of
#: five) on two, with the second core shared; even idle, two threads reached only
#: 45-60 GFLOP/s at that size: handing a product that small to a second thread costs
#: more in waking and waiting for it than it saves.
SINGLE_THREAD_PRODUCT = 2**26

#: With training on one BLAS thread and a core to spare, backpropagation computes a
#: layer's weight gradient and the gradient of the layer below at once on two threads
#: when their products have at least this many multiply-adds: two (256 x 256) by
#: (256 x 256) float32 products (2^24 each) took 0.88 ms side by side against 1.32 ms one
#: after the other on the 2-core test machine; a hand-over to the other thread costs some
#: tens of microseconds, which products much smaller than 2^22 would not repay.
PAIRED_PRODUCT = 2**22


@contextmanager
def blas_threads_at_most(n: int | None):
    """Run the ``with`` block on at most ``n`` BLAS threads (None: no limit), then
    restore the count.

    The count is process-wide: another thread of the process training at the same time
    may see the lower count, or restore the higher one early (a matter of speed only).
    """
    before = None if n is None else blas_threads()
    if before is None or before <= n:
        yield
        return
    set_blas_threads(n)
    try:
        yield
    finally:
        set_blas_threads(before)
