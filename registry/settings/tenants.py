"""The settings of who may ask: the API keys, the keys file that says which tenant holds
which key with which role, the quotas and rate limit each tenant gets unless the keys file
gives it its own, and whether the metrics need a key."""

from __future__ import annotations

from ..setting import API, Section, Setting, SettingsError

#: characters of the shortest API key taken: a shorter one is within reach of guessing
MIN_API_KEY_LENGTH = 16


class _Keys(Setting):
    """A comma-separated list of secrets, each at least :data:`MIN_API_KEY_LENGTH`
    characters; a refusal says which key (by position) and how long it is, never the key."""

    def parse(self, raw: object, given_as: str | None = None) -> object:
        value = super().parse(raw, given_as)
        keys = [key.strip() for key in str(value).split(",") if key.strip()]
        for position, key in enumerate(keys, 1):
            if len(key) < MIN_API_KEY_LENGTH:
                raise SettingsError(
                    f"{given_as or self.name}: every key must be at least "
                    f"{MIN_API_KEY_LENGTH} characters; key {position} of {len(keys)} has "
                    f"{len(key)}"
                )
        return value


def _quota(name: str, kind: type, default: object, doc: str) -> Setting:
    return Setting(name, kind, default, doc, (API,), Section.TENANTS, min=0)


TENANTS: tuple[Setting, ...] = (
    _Keys(
        "API_KEYS",
        str,
        "",
        "comma-separated API keys, each of at least 16 characters (a shorter one stops "
        "the API at start); when set, every endpoint but `/healthz`, `/openapi.json`, "
        "`/docs` and the playground page (`/`, `/playground/*`) needs "
        "`Authorization: Bearer <key>` (else 401); they belong to the tenant `default` "
        "with the role `admin`",
        (API,),
        Section.TENANTS,
        shown="empty (no key needed)",
    ),
    Setting(
        "NNJOBS_METRICS_PUBLIC",
        bool,
        False,
        "with keys set, serve `/metrics` without a key (else it needs the role `admin`)",
        (API,),
        Section.TENANTS,
    ),
    Setting(
        "NNJOBS_KEYS_FILE",
        str,
        "",
        "a TOML or JSON file of API keys by tenant and role, each key by its SHA-256 (see "
        "docs/security.md; `nnjobs-admin keys add` writes an entry); a bad entry stops the "
        "API at start, naming its line",
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
        1000,
        "requests per second a tenant may send, on average, over every API process (a "
        "token bucket in Redis); over it, 429 with `Retry-After`; 0: no limit. The default "
        "is about what one API process serves, so that a deployment of one tenant keeps "
        "its throughput; give the tenants of a shared one their own in the keys file",
    ),
    _quota(
        "NNJOBS_TENANT_BURST",
        int,
        2000,
        "requests a tenant may send at once above its rate (the token bucket's size)",
    ),
)
