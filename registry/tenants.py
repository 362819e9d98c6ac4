"""Tenants, roles and keys: the keys file (``NNJOBS_KEYS_FILE``) and what it says.

A key belongs to one tenant and has one role. The file holds a key's SHA-256 only, never
the key, so that reading the file (or a backup of it) gives no access. In TOML::

    [[keys]]
    tenant = "alice"
    role = "trainer"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    id = "alice-laptop"          # optional: the key's name in audit lines

    [tenants.alice]              # optional: alice's own quotas
    max_active_jobs = 5
    max_stored_mb = 100
    rate = 20
    burst = 40

or the same as JSON, ``{"keys": [{...}, ...], "tenants": {"alice": {...}}}``. Keys of
``API_KEYS`` belong to :data:`DEFAULT_TENANT` with the role ``admin``, as every key did
before tenants existed, and so does whatever was stored then.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .names import NAME_RE, NAME_RULE
from .setting import SettingsError

#: the tenant of API_KEYS's keys and of everything stored before tenants existed
DEFAULT_TENANT = "default"
#: admin: everything, every tenant; trainer: train, predict, upload and delete its own;
#: predictor: read and predict only
ROLES = ("admin", "trainer", "predictor")
SETTING = "NNJOBS_KEYS_FILE"
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_ENTRY_FIELDS = frozenset({"tenant", "role", "sha256", "id"})
#: a tenant's quota fields in the file, and the setting each overrides
QUOTA_FIELDS = {
    "max_active_jobs": "NNJOBS_TENANT_MAX_ACTIVE_JOBS",
    "max_stored_mb": "NNJOBS_TENANT_MAX_STORED_MB",
    "rate": "NNJOBS_TENANT_RATE",
    "burst": "NNJOBS_TENANT_BURST",
}


def digest(key: str | bytes) -> str:
    """A key's SHA-256, as the keys file holds it (hex)."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


def new_key() -> str:
    """A new random key: 256 bits, URL-safe, with a prefix that says what it is."""
    return "nnj_" + secrets.token_urlsafe(32)


def entry_text(tenant: str, role: str, key: str) -> str:
    """The keys file's TOML entry of ``key``."""
    return f'[[keys]]\ntenant = "{tenant}"\nrole = "{role}"\nsha256 = "{digest(key)}"\n'


@dataclass(frozen=True)
class Quotas:
    """What one tenant may use; 0 in a field: no limit."""

    max_active_jobs: int
    max_stored_bytes: int
    rate: float
    burst: int

    @classmethod
    def of(cls, settings: dict, overrides: dict | None = None) -> Quotas:
        """The quotas the settings give every tenant, with ``overrides`` (the keys file's
        fields of :data:`QUOTA_FIELDS`) applied."""
        values = {field: settings[name] for field, name in QUOTA_FIELDS.items()}
        values |= overrides or {}
        return cls(
            max_active_jobs=int(values["max_active_jobs"]),
            max_stored_bytes=int(values["max_stored_mb"] * 2**20),
            rate=float(values["rate"]),
            burst=max(1, int(values["burst"])),
        )


@dataclass(frozen=True)
class Key:
    """One key as configured: whose it is, its role, its SHA-256 and its name in logs."""

    tenant: str
    role: str
    sha256: str
    key_id: str


@dataclass(frozen=True)
class KeyRing:
    """Every configured key, and the tenants' own quotas (field -> value)."""

    keys: tuple[Key, ...] = ()
    quotas: dict[str, dict] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys)

    def find(self, token: bytes) -> Key | None:
        """The key ``token`` is, compared with every key without stopping at a match, so
        that the time taken says nothing of which one matched."""
        presented = hashlib.sha256(token).digest()
        found = None
        for key in self.keys:
            if hmac.compare_digest(bytes.fromhex(key.sha256), presented):
                found = key
        return found

    def with_api_keys(self, raw: str) -> KeyRing:
        """This ring plus the keys of ``API_KEYS`` (comma-separated), each the tenant
        ``default``'s admin."""
        extra = []
        for key in (k.strip() for k in raw.split(",")):
            if key:
                hexed = digest(key)
                extra.append(Key(DEFAULT_TENANT, "admin", hexed, hexed[:12]))
        return replace(self, keys=(*self.keys, *extra))

    def tenants(self) -> set[str]:
        return {key.tenant for key in self.keys}


def _entry_lines(text: str, toml: bool) -> list[int]:
    """The line of each entry of ``keys`` in the file, in order."""
    if toml:
        return [
            n
            for n, line in enumerate(text.splitlines(), 1)
            if re.match(r"\s*\[\[\s*keys\s*\]\]", line)
        ]
    # JSON: the objects that open inside the top-level "keys" array
    lines, stack, line, last_string, in_keys, i = [], [], 1, "", False, 0
    while i < len(text):
        char = text[i]
        if char == "\n":
            line += 1
        elif char == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            last_string, i = text[i + 1 : end], end
        elif char in "{[":
            if char == "[" and len(stack) == 1 and last_string == "keys":
                in_keys = True
            if char == "{" and in_keys and len(stack) == 2:
                lines.append(line)
            stack.append(char)
        elif char in "}]":
            stack.pop() if stack else None
            if len(stack) == 1:
                in_keys = False
        i += 1
    return lines


def _check_entry(entry: object) -> Key:
    """The Key of one entry; ValueError saying what is wrong otherwise."""
    if not isinstance(entry, dict):
        raise ValueError("an entry must be a table of tenant, role and sha256")
    if "key" in entry:
        raise ValueError("a key is never written in clear: give its sha256 instead")
    unknown = sorted(set(entry) - _ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (fields: id, role, sha256, tenant)")
    missing = [f for f in ("tenant", "role", "sha256") if f not in entry]
    if missing:
        raise ValueError(f"{missing[0]} is missing")
    tenant, role, hexed = entry["tenant"], entry["role"], entry["sha256"]
    if not isinstance(tenant, str) or not NAME_RE.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r}: {NAME_RULE}")
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(hexed, str) or not _DIGEST_RE.fullmatch(hexed.lower()):
        raise ValueError("sha256 must be 64 hexadecimal digits (`nnjobs-admin keys add`)")
    key_id = entry.get("id", hexed.lower()[:12])
    if not isinstance(key_id, str) or not NAME_RE.fullmatch(key_id):
        raise ValueError(f"id {key_id!r}: {NAME_RULE}")
    return Key(tenant, role, hexed.lower(), key_id)


def _check_quotas(tenant: object, values: object) -> dict:
    if not isinstance(tenant, str) or not NAME_RE.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r}: {NAME_RULE}")
    if not isinstance(values, dict):
        raise ValueError(f"tenants.{tenant} must be a table of quotas")
    for name, value in values.items():
        if name not in QUOTA_FIELDS:
            raise ValueError(
                f"tenants.{tenant}: unknown quota {name!r} ({', '.join(QUOTA_FIELDS)})"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"tenants.{tenant}.{name} must be a number of at least 0")
    return dict(values)


def _line_of(text: str, word: str, after: int = 0) -> int:
    """The first line after line ``after`` that holds ``word`` (1 if none does)."""
    for n, line in enumerate(text.splitlines(), 1):
        if n > after and word in line:
            return n
    return 1


def parse(text: str, toml: bool, where: str = SETTING) -> KeyRing:
    """The KeyRing of a keys file's ``text``; SettingsError naming ``where`` and the line
    of the first bad entry otherwise."""
    try:
        data = tomllib.loads(text) if toml else json.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{where}: not TOML: {e}") from None
    except json.JSONDecodeError as e:
        raise SettingsError(f"{where}: line {e.lineno}: not JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: line 1: the file must hold a table of keys")
    unknown = sorted(set(data) - {"keys", "tenants"})
    if unknown:
        line = _line_of(text, unknown[0])
        raise SettingsError(f"{where}: line {line}: unknown section {unknown[0]!r} (keys, tenants)")
    entries, lines = data.get("keys", []), _entry_lines(text, toml)
    if not isinstance(entries, list):
        raise SettingsError(f"{where}: line {_line_of(text, 'keys')}: keys must be a list")
    keys, seen = [], set()
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else 1
        try:
            key = _check_entry(entry)
            if key.sha256 in seen:
                raise ValueError("the same key is listed twice")
        except ValueError as e:
            raise SettingsError(f"{where}: line {line} (key {index + 1}): {e}") from None
        seen.add(key.sha256)
        keys.append(key)
    quotas = {}
    tenants = data.get("tenants", {})
    if not isinstance(tenants, dict):
        raise SettingsError(f"{where}: line {_line_of(text, 'tenants')}: tenants must be a table")
    for tenant, values in tenants.items():
        try:
            quotas[tenant] = _check_quotas(tenant, values)
        except ValueError as e:
            line = _line_of(text, str(tenant))
            bad = [n for n in values if f".{n} " in str(e) or f"{n!r}" in str(e)]
            line = _line_of(text, bad[0], line) if bad else line
            raise SettingsError(f"{where}: line {line}: {e}") from None
    return KeyRing(tuple(keys), quotas)


def load(path: str) -> KeyRing:
    """The keys file at ``path`` (TOML unless it ends in ``.json``); an empty path: none."""
    if not path:
        return KeyRing()
    where = f"{SETTING} ({path})"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"{where}: cannot be read: {e}") from None
    ring = parse(text, toml=not path.lower().endswith(".json"), where=where)
    if not ring:
        # a service told to read its keys from a file must not start open to anyone
        raise SettingsError(f"{where}: lists no key (`nnjobs-admin keys add` makes one)")
    return ring
