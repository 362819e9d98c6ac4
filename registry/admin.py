"""``nnjobs-admin``: the operator's command for what the API does not serve.

``nnjobs-admin keys add --tenant alice --role trainer`` makes a new random key, prints it
once (it is stored nowhere: only its SHA-256 goes into the keys file) and the entry to
add to the keys file (``NNJOBS_KEYS_FILE``); with ``--file``, it appends the entry there
itself, after checking that the file still reads.

Standard library only, like the settings it shares its rules with.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .names import NAME_RE, NAME_RULE
from .setting import SettingsError
from .tenants import ROLES, entry_text, new_key, parse


def _name(value: str) -> str:
    if not NAME_RE.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r}: {NAME_RULE}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnjobs-admin", description=__doc__.split("\n")[0])
    subjects = parser.add_subparsers(dest="subject", required=True)
    keys = subjects.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    add = keys.add_parser("add", help="make a new key and print its keys-file entry")
    add.add_argument("--tenant", required=True, type=_name, help="whose key it is")
    add.add_argument("--role", required=True, choices=ROLES, help="what it may do")
    add.add_argument("--id", type=_name, help="its name in audit lines (default: digest)")
    add.add_argument("--file", type=Path, help="append the entry to this keys file (TOML)")
    return parser


def add_key(tenant: str, role: str, key_id: str | None, file: Path | None) -> tuple[str, str]:
    """A new key and its TOML entry, appended to ``file`` when given (SettingsError, and
    the file left as it was, when the file with the entry would not read)."""
    key = new_key()
    entry = entry_text(tenant, role, key)
    if key_id:
        entry += f'id = "{key_id}"\n'
    if file is not None:
        before = file.read_text(encoding="utf-8") if file.exists() else ""
        after = f"{before}\n{entry}" if before else entry
        parse(after, toml=True, where=str(file))
        file.write_text(after, encoding="utf-8")
    return key, entry


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        key, entry = add_key(args.tenant, args.role, args.id, args.file)
    except (SettingsError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"key (shown once, stored nowhere): {key}")
    where = f"added to {args.file}" if args.file else "add to the keys file (NNJOBS_KEYS_FILE)"
    print(f"{where}:\n\n{entry}", end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
