"""The configuration reference, ``docs/configuration.md``, written from the settings table
of :mod:`registry.settings` (``make docs``)."""

from __future__ import annotations

from .settings import TABLE, Section, Setting, number_text

#: the intro of each section
INTROS = {
    Section.ADDRESSES: "Where Redis is and where the API listens.",
    Section.REPLICATION: (
        "For a Redis that survives the loss of its host: `REDIS_URL` (and "
        "`NNJOBS_BROKER_URL`) may name Redis Sentinels instead of a server, "
        "`sentinel://host1:26379;sentinel://host2:26379;sentinel://host3:26379/0`, and the "
        "store, the change feeds and the Celery broker follow the master the sentinels "
        "elect. See [operations](operations.md#several-hosts)."
    ),
    Section.SERVER: "Read by `gunicorn.conf.py`, in the Docker image and under `make run` alike.",
    Section.WORKER: "Read by the Celery worker (`celery -A worker.app:app worker`).",
    Section.DELIVERY: (
        "How training is delivered and recovered. The worker refuses to start, saying "
        "which, unless soft limit < hard limit < visibility timeout (a job still training "
        "at the visibility timeout would be handed to a second worker) and lease < "
        "visibility timeout. Set `NNJOBS_VISIBILITY_TIMEOUT` to the same value for the API "
        "and every worker: the Redis transport uses the shortest value any client of the "
        "broker sets. Choose the lease longer than the slowest single batch of training: "
        "an attempt that writes no progress for a lease is presumed dead."
    ),
    Section.LIMITS: (
        "What the API accepts. A refusal names the limit's value and the setting behind "
        "it, e.g. `layers.0.units: must be in [1, 4096] (NNJOBS_MAX_UNITS)` (422)."
    ),
    Section.TENANTS: (
        "Who holds which key, and what each tenant may use (see docs/security.md). The "
        "quotas and the rate below apply to every tenant the keys file does not give its "
        "own, and only when keys are configured."
    ),
    Section.LOGS: "Logs are JSON lines on stderr, from the API and the worker alike.",
    Section.RUN: "Read by `scripts/run.py`, which `make run` calls.",
}

#: every setting, grouped by section


def _shown_default(setting: Setting) -> str:
    if setting.shown:
        return setting.shown
    shown = _shown_value(setting.default_value())
    for reader, _ in setting.reader_defaults:
        shown += f"; {reader}: {_shown_value(setting.default_value(reader))}"
    return shown


def _shown_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`" if value else "empty"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return f"{value:g}".replace("e+", "e")


def _bounds(setting: Setting) -> str:
    if setting.choices:
        return ", ".join(f"`{c}`" for c in setting.choices)
    parts = []
    if setting.positive:
        parts.append("> 0")
    if setting.min is not None:
        parts.append(f">= {number_text(setting.min)}")
    if setting.max is not None:
        parts.append(f"<= {number_text(setting.max)}")
    return ", ".join(parts)


_KINDS = {str: "text", int: "whole number", float: "number", bool: "true/false"}


def markdown() -> str:
    """The configuration reference, ``docs/configuration.md``."""
    lines = [
        "# Configuration",
        "",
        "<!-- written by `make docs` from registry/settings/; edit the table there -->",
        "",
        "Every setting comes from the environment. A program refuses to start, naming the "
        "variable, when a value it reads is malformed or out of bounds. A blank value "
        "counts as not set. True/false settings take `1`/`0`, `true`/`false`, `yes`/`no` "
        "or `on`/`off`.",
        "",
        "For example `PORT=8080 REDIS_URL=redis://:secret@127.0.0.1:6380/0 make run`.",
    ]
    for section, intro in INTROS.items():
        lines += ["", f"## {section}", "", intro, ""]
        lines += [
            "| variable | type | default | bounds | read by | what |",
            "|---|---|---|---|---|---|",
        ]
        for s in TABLE:
            if s.section == section:
                row = (
                    f"`{s.name}`",
                    "one of" if s.choices else _KINDS[s.type],
                    _shown_default(s),
                    _bounds(s),
                    ", ".join(s.readers),
                    s.doc,
                )
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
