"""Connections to Redis by URL: one server (``redis://``, ``rediss://``, ``unix://``), or
the master that Redis Sentinels name (``sentinel://``), for the store, the change feeds and
the Celery broker alike.

A Sentinel URL lists the sentinels, separated by ``;``, as kombu's Sentinel transport
takes them (the Celery broker is given the same URL)::

    sentinel://:PASSWORD@host1:26379;sentinel://host2:26379;sentinel://host3:26379/0

The password (and user name) of the first sentinel address that has one is Redis's own;
the database is the last address's path. The sentinels' own password, if they have one,
and the master's name are settings (``NNJOBS_SENTINEL_PASSWORD``,
``NNJOBS_SENTINEL_MASTER``). A client made here asks the sentinels for the master when
it connects, and again whenever its connection fails, so a failover is followed without
a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from . import settings
from .settings import SettingsError

SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelURL:
    """The parts of a ``sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None


def is_sentinel(url: str) -> bool:
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel_url(url: str, name: str = "REDIS_URL") -> SentinelURL:
    """The sentinels, database and Redis credentials of ``url``; SettingsError, naming
    the variable ``name`` (never the password), for a malformed one."""
    sentinels, db, username, password = [], 0, None, None
    for part in (p.strip() for p in url.split(";")):
        if not part:
            continue
        split = urlsplit(part)
        if split.scheme.lower() != SENTINEL_SCHEME or not split.hostname:
            raise SettingsError(
                f"{name}: every address of a Sentinel URL must be sentinel://host:port, "
                f"got {split.scheme or 'no scheme'}://{split.hostname or ''}"
            )
        try:
            port = split.port or DEFAULT_SENTINEL_PORT
        except ValueError:
            raise SettingsError(f"{name}: a sentinel address has an invalid port") from None
        sentinels.append((split.hostname, port))
        if password is None and split.password is not None:
            username = unquote(split.username) if split.username else None
            password = unquote(split.password)
        path = split.path.strip("/")
        if path:
            if not path.isdigit():
                raise SettingsError(f"{name}: the database must be a number, got {path!r}")
            db = int(path)
    if not sentinels:
        raise SettingsError(f"{name}: no sentinel address")
    return SentinelURL(tuple(sentinels), db, username, password)


def broker_url(environ: Mapping | None = None, redis_url: str | None = None) -> str:
    """The Celery broker's URL: ``NNJOBS_BROKER_URL``, else the store's."""
    given = settings.get("NNJOBS_BROKER_URL", environ)
    return given or redis_url or settings.get("REDIS_URL", environ)


def broker_transport_options(url: str, environ: Mapping | None = None) -> dict:
    """What kombu's Sentinel transport needs beside the URL (nothing for one server)."""
    if not is_sentinel(url):
        return {}
    options: dict = {"master_name": settings.get("NNJOBS_SENTINEL_MASTER", environ)}
    password = settings.get("NNJOBS_SENTINEL_PASSWORD", environ)
    if password:
        options["sentinel_kwargs"] = {"password": password}
    return options


def client(url: str, environ: Mapping | None = None, **kwargs) -> redis.Redis:
    """A client of the Redis at ``url``: the server itself, or the master the sentinels
    of a ``sentinel://`` URL name (asked again after every failed connection); ``kwargs``
    as :class:`redis.Redis` takes them (timeouts, retry)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    parts = parse_sentinel_url(url)
    sentinel_kwargs = {
        key: kwargs[key] for key in ("socket_timeout", "socket_connect_timeout") if key in kwargs
    }
    password = settings.get("NNJOBS_SENTINEL_PASSWORD", environ)
    if password:
        sentinel_kwargs["password"] = password
    sentinel = Sentinel(list(parts.sentinels), sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(
        settings.get("NNJOBS_SENTINEL_MASTER", environ),
        db=parts.db,
        username=parts.username,
        password=parts.password,
        **kwargs,
    )


def redact(url: str) -> str:
    """``url`` without its passwords, for messages and logs."""
    out = []
    for part in url.split(";"):
        split = urlsplit(part.strip())
        if split.password is not None:
            netloc = split.netloc.rsplit("@", 1)[1]
            user = f"{split.username}:" if split.username else ":"
            part = split._replace(netloc=f"{user}***@{netloc}").geturl()
        out.append(part)
    return ";".join(out)
