"""The Dockerfile and docker-compose.yml.

No Docker engine runs where the tests run, so: `docker compose config` checks the compose
file when a compose client is installed; its structure is checked everywhere from the
YAML itself; and the exact `api` and `worker` commands of the compose file, and
the image's health checks, are run here against the tests' Redis with a job trained
through them.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys

import pytest
import yaml
from conftest import free_port
from live_service import ROOT, VENV_BIN, Process, train_and_predict, wait_ready

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"


# ------------------------------------------------------------ reading the compose file


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


class Unset(Exception):
    """A variable that compose requires (``${VAR:?message}``) is not set."""


def interpolate(value, env: dict[str, str]):
    """Compose's interpolation of ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` and
    ``$$``, from ``env`` as compose takes it from the shell; a default may itself hold a
    ``${...}`` (innermost first)."""
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, how, word = match.group(1), match.group(2), match.group(3)
        if how == ":?" and not env.get(name):
            raise Unset(f"{name}: {word}")
        return env.get(name) or (word if how == ":-" else "")

    escaped = "\0"  # no compose value holds a NUL
    value = value.replace("$$", escaped)
    while True:
        done = re.sub(r"\$\{(\w+)(?:(:-|:\?)([^${}]*))?\}", one, value)
        if done == value:
            return done.replace(escaped, "$")
        value = done


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(a + b for a, b in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def gunicorn_settings(**env: str) -> dict:
    old = dict(os.environ)
    os.environ.update(env)
    settings = {}
    try:
        settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        return settings
    finally:
        os.environ.clear()
        os.environ.update(old)
        if settings.get("_made_metrics_dir"):
            shutil.rmtree(settings["_metrics_dir"], ignore_errors=True)


# ------------------------------------------------------------ static checks


def compose_client() -> list[str] | None:
    """`docker compose` (the plugin), else the older standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


@pytest.mark.parametrize(
    "profile", [[], ["--profile", "monitoring"]], ids=["default", "monitoring"]
)
def test_compose_config_with_docker(profile):
    client = compose_client()
    if client is None:
        pytest.skip("no docker compose client here; test_compose_structure checks the file")
    result = subprocess.run(
        [*client, "-f", str(COMPOSE), *profile, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "NNJOBS_"))},
            "REDIS_PASSWORD": "compose-test-password",
            "API_KEYS": "compose-test-key-0123456789",
        },
    )
    assert result.returncode == 0, result.stderr


def test_compose_structure():
    compose = load_compose()
    services = compose["services"]
    ha = {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"}
    assert set(services) == {"redis", "api", "worker", "prometheus", *ha}
    redis, api, worker = services["redis"], services["api"], services["worker"]

    # redis: append-only, a password that must be set (no default to fall back on), a
    # named volume, not published; full, it refuses writes rather than drop keys
    assert redis["image"].startswith("redis:7")
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    password = command[command.index("--requirepass") + 1]
    assert re.fullmatch(r"\$\{REDIS_PASSWORD:\?[^}]+\}", password)
    with pytest.raises(Unset, match="REDIS_PASSWORD"):
        interpolate(password, {"API_KEYS": "k" * 16})
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert re.fullmatch(r"\$\{REDIS_MAXMEMORY:-\d+mb\}", command[command.index("--maxmemory") + 1])
    # its entry point would need capabilities to switch users, which are all dropped
    assert redis["user"] == "redis"
    assert redis["environment"]["REDISCLI_AUTH"] == password  # what the health check uses
    assert "ports" not in redis
    volume = redis["volumes"][0].split(":")[0]
    assert redis["volumes"][0] == f"{volume}:/data" and volume in compose["volumes"]
    assert "redis-cli ping" in " ".join(redis["healthcheck"]["test"])

    for name, service in (("api", api), ("worker", worker)):
        assert service["image"] == "nnjobs:latest" and service["build"] == ".", name
        assert (
            service["environment"]["REDIS_URL"]
            == f"${{NNJOBS_REDIS_URL:-redis://:{password}@redis:6379/0}}"
        ), name
        shell = {"REDIS_PASSWORD": "pw"}
        url = interpolate(service["environment"]["REDIS_URL"], shell)
        assert url == "redis://:pw@redis:6379/0", name
        assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}, name
        assert service["restart"] in ("unless-stopped", "always"), name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["init"] is True, name  # signals forwarded, zombies reaped

    # the published port never runs open: compose refuses to start without keys
    assert api["ports"] == ["${NNJOBS_PORT:-8000}:8000"]
    keys = api["environment"]["API_KEYS"]
    assert re.fullmatch(r"\$\{API_KEYS:\?[^}]+\}", keys)
    with pytest.raises(Unset, match="API_KEYS"):
        interpolate(keys, {"REDIS_PASSWORD": "secret"})

    # every service: a memory and a process cap, a read-only root with a tmpfs for what it
    # writes, no capabilities, no privilege gain
    for name, service in services.items():
        assert re.fullmatch(r"(\$\{\w+:-)?\d+[mg]\}?", service["mem_limit"]), name
        assert 0 < service["pids_limit"] <= 1024, name
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
    # the API's metrics directory is on the tmpfs; its threads fit under its process cap
    assert api["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")
    gunicorn = gunicorn_settings()
    assert api["pids_limit"] > gunicorn["workers"] * (gunicorn["threads"] + 4)
    # gunicorn's graceful timeout must fit in the time Docker gives before SIGKILL
    graceful = gunicorn_settings()["graceful_timeout"]
    assert seconds(api["stop_grace_period"]) > graceful

    # the worker scales: no fixed name, no published port
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:4] == ["celery", "-A", "worker.app:app", "worker"]
    assert worker["command"][worker["command"].index("--queues") + 1] == "${NNJOBS_QUEUE:-nnjobs}"
    from worker.app import app as celery_app

    soft = celery_app.conf.worker_soft_shutdown_timeout or 0
    assert seconds(worker["stop_grace_period"]) >= max(60, soft + 10)

    # the API's gunicorn workers share a metrics directory; every service but Prometheus
    # runs without a profile
    assert api["environment"]["PROMETHEUS_MULTIPROC_DIR"].startswith("/")
    assert all("profiles" not in services[name] for name in ("redis", "api", "worker"))
    assert all(services[name]["profiles"] == ["ha"] for name in ha)


def test_compose_ha_profile_is_a_replica_and_three_sentinels_the_services_can_follow():
    from registry.connections import parse_sentinel_url

    compose = load_compose()
    services = compose["services"]
    shell = {"REDIS_PASSWORD": "pw", "API_KEYS": "k" * 16}
    redis = interpolate(services["redis"]["command"], shell)
    replica = interpolate(services["redis-replica"]["command"], shell)
    # the replica copies `redis` with its password, and either may be master one day:
    # both know the password to replicate with and announce the name they are reached by
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
    for command, name in ((redis, "redis"), (replica, "redis-replica")):
        assert command[command.index("--requirepass") + 1] == "pw"
        assert command[command.index("--masterauth") + 1] == "pw"
        assert command[command.index("--replica-announce-ip") + 1] == name
    assert services["redis-replica"]["volumes"][0].split(":")[0] in compose["volumes"]

    sentinels = [f"sentinel-{i}" for i in (1, 2, 3)]
    for name in sentinels:
        service = services[name]
        assert service["command"][:2] == ["sh", "-c"]
        script = interpolate(service["command"][2], shell)
        lines = re.search(r"printf '([^']*)'", script)[1].split("\\n")
        assert "port 26379" in lines and "sentinel resolve-hostnames yes" in lines
        master = services["api"]["environment"]["NNJOBS_SENTINEL_MASTER"]
        # two of the three must agree that the master is down
        assert f"sentinel monitor {master} redis 6379 2" in lines
        assert f"sentinel auth-pass {master} %s" in lines and '"$REDIS_PASSWORD"' in script
        assert interpolate(service["environment"]["REDIS_PASSWORD"], shell) == "pw"
        assert "redis-cli -p 26379 ping" in service["healthcheck"]["test"][1]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["NNJOBS_SENTINEL_MASTER"] == master
        assert interpolate(env["NNJOBS_REDIS_MIN_REPLICAS"], shell) == "0"

    # the sentinels' URL the compose file's comment gives names these three services
    documented = re.search(r'NNJOBS_REDIS_URL="([^"]+)"', COMPOSE.read_text())[1]
    url = documented.replace("$REDIS_PASSWORD", "pw")
    parts = parse_sentinel_url(url)
    assert parts.sentinels == tuple((name, 26379) for name in sentinels)
    assert parts.password == "pw"
    api_url = interpolate(
        services["api"]["environment"]["REDIS_URL"], {**shell, "NNJOBS_REDIS_URL": url}
    )
    assert api_url == url


def test_compose_monitoring_profile():
    compose = load_compose()
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert prometheus["image"].startswith("prom/prometheus:")
    assert prometheus["depends_on"] == {"api": {"condition": "service_started"}}
    # published on the loopback only: Prometheus has no authentication of its own
    [published] = prometheus["ports"]
    assert published.startswith("127.0.0.1:") and published.endswith(":9090")
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    config_file = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    source = mounts[config_file]
    assert (ROOT / source).resolve() == ROOT / "deploy" / "prometheus.yml"
    assert mounts["/prometheus"] in compose["volumes"]

    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    [scrape] = config["scrape_configs"]
    assert scrape["metrics_path"] == "/metrics"
    [target] = scrape["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host == "api" and host in compose["services"]
    assert compose["services"]["api"]["ports"] == [f"${{NNJOBS_PORT:-8000}}:{port}"]


def test_dockerfile():
    instructions = dockerfile_instructions()
    images = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    final = images[-1]
    version = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", final)
    assert version and int(version.group(1)) >= 11, final
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "8000") in instructions
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "[test" not in runs and "[local" not in runs and "pip install -e" not in runs

    cmd = json.loads(next(arg for op, arg in instructions if op == "CMD"))  # exec form
    assert cmd == load_compose()["services"]["api"]["command"]
    health = next(arg for op, arg in instructions if op == "HEALTHCHECK")
    assert "/healthz" in health and json.loads(health[health.index("CMD") + 3 :])[0] == "python"

    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", ".run", ".env"} <= set(ignored)
    # no secret is baked into the image: they arrive from the environment at run time
    settings = " ".join(arg for op, arg in instructions if op in ("ENV", "ARG", "LABEL"))
    assert not re.search(r"PASSWORD|SECRET|TOKEN|API_KEYS|REDIS_URL", settings, re.I), settings


def test_gunicorn_empties_the_metrics_directory_at_start(tmp_path):
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"old figures")
    settings = gunicorn_settings(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    settings["on_starting"](None)
    assert not stale.exists() and tmp_path.is_dir()


def test_gunicorn_settings():
    defaults = gunicorn_settings()
    assert defaults["bind"] == ["0.0.0.0:8000"] and defaults["workers"] == 2
    assert defaults["worker_class"] == "gthread" and defaults["threads"] == 128
    # waiting clients must leave threads for other requests
    with pytest.raises(SystemExit, match="NNJOBS_MAX_WAITING must be below NNJOBS_API_THREADS"):
        gunicorn_settings(NNJOBS_API_THREADS="16", NNJOBS_MAX_WAITING="16")
    assert defaults["timeout"] == 30
    # the app writes the access lines (with the route); gunicorn's would repeat them
    assert defaults["accesslog"] is None
    assert defaults["logconfig_dict"]["root"]["level"] == "INFO"
    quiet = gunicorn_settings(NNJOBS_LOG_LEVEL="warning")
    assert quiet["loglevel"] == "warning" and quiet["logconfig_dict"]["root"]["level"] == "WARNING"
    assert callable(defaults["child_exit"]) and callable(defaults["on_starting"])
    given = gunicorn_settings(PROMETHEUS_MULTIPROC_DIR="/tmp/given-dir")
    assert str(given["_metrics_dir"]) == "/tmp/given-dir" and not given["_made_metrics_dir"]
    local = gunicorn_settings(PORT="9123", NNJOBS_HOST="127.0.0.1", WEB_CONCURRENCY="3")
    assert local["bind"] == ["127.0.0.1:9123"] and local["workers"] == 3
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY"):
        gunicorn_settings(WEB_CONCURRENCY="many")


def test_gunicorn_workers_serve_with_one_blas_thread_unless_told(tmp_path):
    # in a process of its own: the hook changes process-wide state
    probe = (
        "import logging, runpy, sys; import nn; "
        f"s = runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r}); "
        "s['post_worker_init'](None); "
        "print(nn.blas_threads(), logging.logThreads, logging.logProcesses)"
    )
    for env, threads in (({}, "1"), ({"NNJOBS_API_BLAS_THREADS": "2"}, "2")):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), **env},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [threads, "False", "False"]
    with pytest.raises(SystemExit, match="NNJOBS_API_BLAS_THREADS"):
        gunicorn_settings(NNJOBS_API_BLAS_THREADS="0")


# ------------------------------------------------------------ the commands, run here


@pytest.mark.slow
def test_compose_commands_run_here_and_train_a_job(tmp_path, redis_url, key_prefix):
    """The `api` and `worker` commands exactly as the compose file gives them, in a
    directory that holds only what the image's /app holds; what differs from the
    containers is only the network: the tests' Redis instead of `redis`, a free port."""
    compose = load_compose()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    shutil.copy(ROOT / "gunicorn.conf.py", app_dir)
    shell = {
        **os.environ,
        "REDIS_PASSWORD": "compose-test-password",
        "API_KEYS": "compose-test-key-0123456789",
        "NNJOBS_QUEUE": key_prefix,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    port = free_port()
    processes: dict[str, Process] = {}
    try:
        for name in ("worker", "api"):
            service = compose["services"][name]
            env = {**shell, **interpolate(service["environment"], shell)}
            env.update(
                REDIS_URL=redis_url,
                PORT=str(port),
                NNJOBS_HOST="127.0.0.1",
                NNJOBS_KEY_PREFIX=key_prefix,
                NNJOBS_BLAS_THREADS="1",
                # the keys are tested in test_security; here, the commands and the job
                API_KEYS="",
            )
            processes[name] = Process(interpolate(service["command"], shell), env, cwd=app_dir)
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, processes["api"])
        train_and_predict(url, "compose-commands")

        # the image's health check, and the worker's from the compose file
        health = next(arg for op, arg in dockerfile_instructions() if op == "HEALTHCHECK")
        check = json.loads(health[health.index("CMD") + 3 :])
        ok = subprocess.run(check, env={**shell, "PORT": str(port)}, timeout=30)
        assert ok.returncode == 0
        down = subprocess.run(
            check, env={**shell, "PORT": str(free_port())}, capture_output=True, timeout=30
        )
        assert down.returncode != 0
        worker_check = compose["services"]["worker"]["healthcheck"]["test"]
        assert worker_check[0] == "CMD-SHELL"
        result = subprocess.run(
            ["sh", "-c", interpolate(worker_check[1], {})],
            env={**shell, "REDIS_URL": redis_url, "HOSTNAME": socket.gethostname()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr

        # `docker stop` sends SIGTERM: both stop cleanly, well inside their grace periods
        for process in processes.values():
            os.kill(process.pid, signal.SIGTERM)
        for name, process in processes.items():
            assert process.proc.wait(30) == 0, f"{name}:\n{process.output}"
    finally:
        for process in processes.values():
            process.stop()
