"""A gunicorn worker gives back the memory of a large upload once it has answered.

Without ``service.memory``, each 30 MiB CSV upload left about four times the file in the
worker (172 -> 297 MiB over five), and without the parser on malloc 7-19 MiB stayed after
three; here three such uploads must leave less than a tenth of the file (they leave
nothing: the worker was 0.7-0.9 MiB smaller after them in twelve runs)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
from live_service import LiveService, descendants

from service.memory import libc_function

pytestmark = [
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(), reason="reads the worker's resident set in /proc"
    ),
    pytest.mark.skipif(
        libc_function("malloc_trim", []) is None or libc_function("mallopt", []) is None,
        reason="the C library has no malloc_trim or mallopt",
    ),
]

UPLOADS = 3


def numeric_csv(rows: int, columns: int = 40) -> bytes:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((rows, columns)) * 10
    header = ",".join([*(f"x{j}" for j in range(columns)), "y"])
    lines = [",".join(f"{v:.6f}" for v in row) + f",{i % 3}" for i, row in enumerate(X)]
    return ("\n".join([header, *lines]) + "\n").encode()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def upload(url: str, body: bytes) -> None:
    r = requests.post(
        f"{url}/datasets?name=memory", data=body, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 201, r.text[:300]
    requests.delete(f"{url}/datasets/{r.json()['id']}").raise_for_status()


def test_large_uploads_leave_no_memory_behind_in_the_worker(redis_url):
    big = numeric_csv(80_000)  # about 30 MiB
    with LiveService(redis_url, f"nnjobs-test-{uuid.uuid4().hex[:10]}", workers=1) as live:
        (worker,) = descendants(live.api.pid)
        # the parser's imports and first pages, paid once by any upload
        upload(live.url, numeric_csv(1000))
        before = rss_mib(worker)
        for _ in range(UPLOADS):
            upload(live.url, big)
        after = rss_mib(worker)
    size = len(big) / 2**20
    assert after - before < size / 10, (
        f"the worker grew by {after - before:.1f} MiB over {UPLOADS} uploads of "
        f"{size:.1f} MiB ({before:.1f} -> {after:.1f})"
    )
