"""The settings table (registry/settings/): its reference page, its checks, and every
program refusing a bad value at start with the variable named."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import subprocess
import sys

import pytest
from live_service import ROOT, RUN, VENV_BIN

import nn
from registry import settings, settings_reference
from registry.queue import delivery_settings
from registry.settings import SettingsError
from service import config, create_app

PRODUCTION = ["gunicorn.conf.py", "scripts", "registry", "domain", "service", "worker"]
#: modules that may still look at the environment: the table, and whether
#: prometheus_client's own variable is set
ENVIRONMENT_READERS_ALLOWED = {"registry/settings/__init__.py", "service/scrape.py"}


def production_sources() -> dict[str, str]:
    out = {}
    for top in PRODUCTION:
        path = ROOT / top
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            out[str(file.relative_to(ROOT))] = file.read_text()
    return out


def clean_env(**env: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("NNJOBS_", "REDIS_"))}
    return {**kept, **env}


# -- the table and its reference ---------------------------------------------------------


def test_the_configuration_reference_is_written_from_the_table():
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == settings_reference.markdown(), (
        "docs/configuration.md differs from the settings table: run `make docs`"
    )
    for setting in settings.TABLE:
        assert f"| `{setting.name}` |" in committed


def test_the_limits_default_to_nns_own():
    fields = {f.name for f in dataclasses.fields(nn.Limits)}
    assert set(settings.LIMIT_FIELDS.values()) == fields
    given = settings.read(settings.API, {})
    assert config.limits(given) == nn.DEFAULT_LIMITS


#: the table's modules (its command, ``__main__``, may import the reference writer)
TABLE_MODULES = [
    "setting.py",
    *sorted(f"settings/{p.name}" for p in (ROOT / "registry" / "settings").glob("[!_]*.py")),
    "settings/__init__.py",
]


@pytest.mark.parametrize("module", TABLE_MODULES)
def test_the_table_imports_only_the_standard_library_at_its_top(module):
    tree = ast.parse((ROOT / "registry" / module).read_text())
    modules = [
        # a relative import is the table's own: its schema (registry/setting.py) or a part
        alias.name.split(".")[0] if not getattr(node, "level", 0) else "registry.setting"
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    ]
    assert modules and all(
        m in sys.stdlib_module_names or m in ("__future__", "registry.setting") for m in modules
    )


def test_every_variable_the_programs_name_is_in_the_table():
    known = {name for s in settings.TABLE for name in (s.name, *s.aliases)}
    named = set()
    for text in production_sources().values():
        named |= set(re.findall(r"\bNNJOBS_[A-Z_]+\b", text))
    named -= {"NNJOBS_TEST_CRASH_ON"}  # a test hook, not a setting
    assert named <= known, sorted(named - known)


def test_no_other_module_reads_the_environment():
    # os.environ, not a WSGI request's environ
    reads = re.compile(
        r"os\.environ\.get\(|getenv\(|os\.environ\[\"(?!PROMETHEUS_MULTIPROC_DIR\"\] =)"
    )
    offenders = {
        path
        for path, text in production_sources().items()
        if reads.search(text) and path not in ENVIRONMENT_READERS_ALLOWED
    }
    assert not offenders


def test_every_setting_has_a_doc_line_a_section_and_a_reader():
    for s in settings.TABLE:
        assert s.doc and "\n" not in s.doc and s.section in settings_reference.INTROS, s.name
        readers = {settings.API, settings.WORKER, settings.GUNICORN, settings.RUN}
        assert s.readers and set(s.readers) <= readers, s.name
        if s.default is None:
            assert s.shown, f"{s.name}: a derived default says how it is derived"
    assert len(settings.SETTINGS) == len(settings.TABLE)


# -- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"NNJOBS_API_THREADS": "0"}, "NNJOBS_API_THREADS must be at least 1, got 0"),
        ({"PORT": "70000"}, "PORT must be at most 65535, got 70000"),
        ({"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY must be a number, got 'many'"),
        ({"NNJOBS_MAX_LAYERS": "2.5"}, "NNJOBS_MAX_LAYERS must be a whole number, got '2.5'"),
        ({"NNJOBS_READY_TIMEOUT": "nan"}, "NNJOBS_READY_TIMEOUT must be a number"),
        ({"NNJOBS_STOP_TIMEOUT": "0"}, "NNJOBS_STOP_TIMEOUT must be positive"),
        ({"NNJOBS_ACCESS_LOG": "maybe"}, "NNJOBS_ACCESS_LOG must be true or false"),
        ({"NNJOBS_LOG_FORMAT": "xml"}, "NNJOBS_LOG_FORMAT must be one of json, text"),
        ({"NNJOBS_SWEEP_INTERVAL": "-1"}, "NNJOBS_SWEEP_INTERVAL must be positive"),
    ],
)
def test_a_bad_value_is_refused_with_its_variable_named(environ, says):
    with pytest.raises(SettingsError, match=re.escape(says)):
        settings.read(environ=environ)
    with pytest.raises(SettingsError, match=re.escape(says)):
        settings.check(environ=environ)


def test_values_are_converted_and_blank_counts_as_unset():
    given = settings.read(
        environ={
            "PORT": " 8080 ",
            "NNJOBS_MAX_VALUES": "1e3",
            "NNJOBS_ACCESS_LOG": "off",
            "NNJOBS_LOG_LEVEL": "debug",
            "NNJOBS_MAX_BODY_MB": "",
            "REDIS_URL": "  ",
        }
    )
    assert given["PORT"] == 8080 and given["NNJOBS_MAX_VALUES"] == 1000
    assert given["NNJOBS_ACCESS_LOG"] is False and given["NNJOBS_LOG_LEVEL"] == "DEBUG"
    assert given["NNJOBS_MAX_BODY_MB"] == 32.0 and isinstance(given["NNJOBS_MAX_BODY_MB"], float)
    assert given["REDIS_URL"] == settings.SETTINGS["REDIS_URL"].default


def test_make_run_listens_on_this_machine_only_unless_told():
    assert settings.read(settings.RUN, {})["NNJOBS_HOST"] == "127.0.0.1"
    assert settings.read(settings.GUNICORN, {})["NNJOBS_HOST"] == "0.0.0.0"
    assert settings.read(settings.RUN, {"NNJOBS_HOST": "::"})["NNJOBS_HOST"] == "::"


def test_a_default_given_by_the_reader_comes_between_the_environment_and_the_table():
    here = {"NNJOBS_RUN_DIR": "/tmp/here"}
    assert settings.read(settings.RUN, {}, here)["NNJOBS_RUN_DIR"] == "/tmp/here"
    assert settings.read(settings.RUN, {"NNJOBS_RUN_DIR": "/x"}, here)["NNJOBS_RUN_DIR"] == "/x"
    assert settings.get("NNJOBS_RUN_DIR", {}) is None
    assert settings.get("NNJOBS_LOG_LEVEL", {}, default=None) is None


def test_the_recovery_interval_is_still_read_under_its_former_name():
    assert delivery_settings({"NNJOBS_SWEEP_INTERVAL": "2"}).recovery_interval == 2
    both = {"NNJOBS_SWEEP_INTERVAL": "2", "NNJOBS_RECOVERY_INTERVAL": "3"}
    assert delivery_settings(both).recovery_interval == 3
    assert delivery_settings({}).recovery_interval == 10


# -- the programs refuse at start --------------------------------------------------------


def test_the_api_refuses_a_bad_setting_from_its_config_or_the_environment(monkeypatch):
    with pytest.raises(SettingsError, match="NNJOBS_MAX_UNITS must be a number"):
        create_app({"NNJOBS_MAX_UNITS": "lots", "TESTING": True})
    monkeypatch.setenv("NNJOBS_MODEL_CACHE", "-1")
    with pytest.raises(SettingsError, match="NNJOBS_MODEL_CACHE must be at least 0, got -1"):
        create_app({"TESTING": True})


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NNJOBS_API_THREADS": "0"}, "NNJOBS_API_THREADS must be at least 1, got 0"),
        # one the app reads: refused by the server before any worker boots
        ({"NNJOBS_MAX_UNITS": "lots"}, "NNJOBS_MAX_UNITS must be a number, got 'lots'"),
    ],
)
def test_gunicorn_refuses_a_bad_setting_at_start(env, says):
    done = subprocess.run(
        [VENV_BIN / "gunicorn", "--config", ROOT / "gunicorn.conf.py", "service.app:create_app()"],
        cwd=ROOT,
        env=clean_env(PORT="1", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and says in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PORT": "0"}, "PORT must be at least 1, got 0"),
        ({"NNJOBS_STOP_TIMEOUT": "soon"}, "NNJOBS_STOP_TIMEOUT must be a number"),
        # the worker's and the API's settings, checked before anything is started
        ({"NNJOBS_WORKER_CONCURRENCY": "0"}, "NNJOBS_WORKER_CONCURRENCY must be at least 1"),
        ({"NNJOBS_MAX_EPOCHS": "-5"}, "NNJOBS_MAX_EPOCHS must be at least 0, got -5"),
        ({"NNJOBS_HARD_TIME_LIMIT": "7200"}, "NNJOBS_HARD_TIME_LIMIT < NNJOBS_VISIBILITY"),
    ],
)
def test_make_run_refuses_a_bad_setting_before_starting_anything(env, says, tmp_path):
    done = subprocess.run(
        [sys.executable, RUN],
        cwd=ROOT,
        env=clean_env(NNJOBS_RUN_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("[run] error: ") and says in done.stderr, done.stderr
    assert not any(tmp_path.iterdir())  # no Redis was started


def test_the_worker_refuses_a_bad_setting_at_start():
    done = subprocess.run(
        [VENV_BIN / "celery", "-A", "worker.app:app", "worker", "--queues", "x"],
        cwd=ROOT,
        env=clean_env(NNJOBS_WORKER_CONCURRENCY="0"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert (
        "nnjobs worker: refusing to start: NNJOBS_WORKER_CONCURRENCY must be at least 1, got 0"
        in done.stderr
    ), done.stderr
