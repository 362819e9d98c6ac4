"""The settings of tenants: the keys file that says who holds which key, and the quotas
and rate limit each tenant gets unless the keys file gives it its own."""

from __future__ import annotations

from ..setting import API, Section, Setting


def _quota(name: str, kind: type, default: object, doc: str) -> Setting:
    return Setting(name, kind, default, doc, (API,), Section.TENANTS, min=0)


TENANTS: tuple[Setting, ...] = (
    Setting(
        "NNJOBS_KEYS_FILE",
        str,
        "",
        "a TOML or JSON file of API keys by tenant and role, each key by its SHA-256 (see "
        "docs/security.md; `nnjobs-admin keys add` writes an entry); a bad entry stops the "
        "API at start, naming its line. Keys of `API_KEYS` belong to the tenant `default` "
        "with the role `admin`",
        (API,),
        Section.TENANTS,
        shown="empty (only `API_KEYS`)",
    ),
    _quota(
        "NNJOBS_TENANT_MAX_ACTIVE_JOBS",
        int,
        100,
        "jobs a tenant may have queued or running at once (a sweep counts each of its "
        "jobs); over it, 429 with `Retry-After`, nothing stored; 0: no limit",
    ),
    _quota(
        "NNJOBS_TENANT_MAX_STORED_MB",
        float,
        1024,
        "megabytes of models and datasets a tenant may store; over it, an upload or a new "
        "job is 429 with `Retry-After`, nothing stored; 0: no limit",
    ),
    _quota(
        "NNJOBS_TENANT_RATE",
        float,
        100,
        "requests per second a tenant may send, on average, over every API process (a "
        "token bucket in Redis); over it, 429 with `Retry-After`; 0: no limit",
    ),
    _quota(
        "NNJOBS_TENANT_BURST",
        int,
        200,
        "requests a tenant may send at once above its rate (the token bucket's size)",
    ),
)
