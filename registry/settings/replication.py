"""The settings of a replicated Redis: Sentinel (which master, its password), a broker
apart from the store, and how many replicas must confirm a write before it is
acknowledged (``docs/operations.md``, "Several hosts", says what each guarantees)."""

from __future__ import annotations

from ..setting import API, RUN, WORKER, Section, Setting

_EVERYONE = (API, WORKER, RUN)

REPLICATION: tuple[Setting, ...] = (
    Setting(
        "NNJOBS_BROKER_URL",
        str,
        "",
        "the Celery broker, when it is not the store at `REDIS_URL` (empty: `REDIS_URL`); "
        "`redis://...` or `sentinel://...` as `REDIS_URL`",
        _EVERYONE,
        Section.REPLICATION,
    ),
    Setting(
        "NNJOBS_SENTINEL_MASTER",
        str,
        "nnjobs",
        "the name the sentinels know the master by (their `sentinel monitor NAME ...`), "
        "for every `sentinel://` URL",
        _EVERYONE,
        Section.REPLICATION,
    ),
    Setting(
        "NNJOBS_SENTINEL_PASSWORD",
        str,
        "",
        "the sentinels' own password (their `requirepass`), when they have one; the "
        "password of Redis itself goes in the URL: `sentinel://:PASSWORD@host:26379;...`",
        _EVERYONE,
        Section.REPLICATION,
    ),
    Setting(
        "NNJOBS_REDIS_MIN_REPLICAS",
        int,
        0,
        "replicas that must confirm (`WAIT`) a submission, or a model stored, before it is "
        "acknowledged; unconfirmed, a submission answers 503 with `Retry-After` (0: no "
        "waiting, as with a single Redis)",
        (API, WORKER),
        Section.REPLICATION,
        min=0,
        max=16,
    ),
    Setting(
        "NNJOBS_REDIS_WAIT_TIMEOUT",
        float,
        1.0,
        "seconds a write waits for `NNJOBS_REDIS_MIN_REPLICAS` replicas to confirm it",
        (API, WORKER),
        Section.REPLICATION,
        positive=True,
        max=60,
    ),
)
