"""Hosts as Linux network namespaces, for tests that need real network paths between
processes: each host is a namespace with one interface, ``eth0``, on a private subnet,
wired to a bridge that lives in a namespace of its own (the switch). Nothing is added to
the namespace the tests run in: no interface, no address, no route; the test reaches
the hosts from a client namespace, on a thread that has entered it (:class:`Client`).

Needs root (``ip netns``, veth pairs, ``tc netem``); :func:`unavailable` says why not when
they cannot be made here.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from live_service import ROOT, Process

#: the test's own subnet, which exists only inside its namespaces
SUBNET = "10.77.19"
CLONE_NEWNET = 0x40000000
#: the hosts a test may add, by name
HOSTS = ("redis", "api", "w1", "w2", "client")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns, veth, tc netem)"
    missing = [tool for tool in ("ip", "tc", "unshare") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} missing: install iproute2 and util-linux"
    probe = f"nnjprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except OSError as e:
        return f"this machine refuses network namespaces: {e}"
    _ip("netns", "del", probe)
    return None


class Network:
    """A switch and hosts on :data:`SUBNET`; every namespace, and every process started
    in one, is removed by :meth:`cleanup`."""

    def __init__(self):
        self.tag = f"nnj{os.getpid() % 100000}"
        self.switch = f"{self.tag}-sw"
        self.hosts: dict[str, str] = {}
        self.processes: list[Process] = []
        # left by a run of this process id that was killed before cleaning up
        for stale in [self.switch, *(f"{self.tag}-{h}" for h in HOSTS)]:
            with contextlib.suppress(OSError):
                _ip("netns", "del", stale)
        _ip("netns", "add", self.switch)
        self.exec_in(self.switch, "ip", "link", "add", "br0", "type", "bridge")
        self.exec_in(self.switch, "ip", "link", "set", "br0", "up")

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def exec_in(self, ns: str, *args: str) -> None:
        _ip("netns", "exec", ns, *args)

    def add_host(self, host: str) -> str:
        """A host with an address of its own on the subnet; returns that address."""
        if host not in HOSTS:
            raise ValueError(f"{host!r} is none of {HOSTS}")
        ns = self.ns(host)
        address = f"{SUBNET}.{len(self.hosts) + 1}"
        _ip("netns", "add", ns)
        self.hosts[host] = address
        port = f"p{len(self.hosts)}"
        # created in the switch, its other end straight in the host: the tests' own
        # namespace never holds either
        self.exec_in(
            self.switch, "ip", "link", "add", port, "type", "veth", "peer", "eth0", "netns", ns
        )
        self.exec_in(self.switch, "ip", "link", "set", port, "master", "br0", "up")
        self.exec_in(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        self.exec_in(ns, "ip", "link", "set", "eth0", "up")
        self.exec_in(ns, "ip", "link", "set", "lo", "up")
        return address

    def link(self, host: str, up: bool) -> None:
        """Plug or unplug a host's cable (its eth0)."""
        self.exec_in(self.ns(host), "ip", "link", "set", "eth0", "up" if up else "down")

    def has_netem(self) -> bool:
        """Whether this kernel has the netem queueing discipline (sch_netem)."""
        ns = self.ns(next(iter(self.hosts)))
        try:
            self.exec_in(ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "0ms")
        except OSError:
            return False
        self.exec_in(ns, "tc", "qdisc", "del", "dev", "lo", "root")
        return True

    def delay(self, host: str, ms: int) -> None:
        """Add ``ms`` of latency to every packet the host sends (tc netem)."""
        self.exec_in(
            self.ns(host), "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{ms}ms"
        )

    def start(self, host: str, args: list, env: dict[str, str]) -> Process:
        """``args`` run on ``host``: in its namespace, under its own host name."""
        command = [
            "ip",
            "netns",
            "exec",
            self.ns(host),
            "unshare",
            "--uts",
            "sh",
            "-c",
            f'hostname {host} && exec "$@"',
            "sh",
            *map(str, args),
        ]
        process = Process(command, env, cwd=ROOT)
        self.processes.append(process)
        return process

    def cleanup(self) -> None:
        # all told at once, so that their shutdowns overlap
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            process.stop(timeout=10)
        for ns in [*map(self.ns, self.hosts), self.switch]:
            with contextlib.suppress(OSError):
                _ip("netns", "del", ns)


class Client:
    """HTTP requests sent from inside a host's namespace: from one thread that entered it
    (a network namespace is a thread's own), so the test process stays where it is."""

    def __init__(self, network: Network, host: str):
        path = Path("/run/netns") / network.ns(host)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{host}")
        self._pool.submit(self._enter, path).result()
        self.session: requests.Session | None = None

    @staticmethod
    def _enter(path: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {path}")
        finally:
            os.close(fd)

    def __call__(self, method: str, url: str, **kwargs) -> requests.Response:
        def send():
            if self.session is None:
                self.session = requests.Session()
                # a proxy of the environment must not see these addresses
                self.session.trust_env = False
            return self.session.request(method, url, **kwargs)

        return self._pool.submit(send).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
