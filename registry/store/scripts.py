"""The store's Lua scripts, called by name with named keys and arguments.

Each script is a file in ``lua/`` whose opening comment declares, in order, the keys and
arguments it takes::

    -- KEYS: job, data_x, data_y
    -- ARGV: job_id, attempt

(a list may go on over several such lines). The loader binds them to two tables at the top
of the script, ``keys.job``, ``args.attempt`` and so on, so that no reader counts
positions, then prepends the shared functions of ``lua/lib.lua``. Every key a script
touches is among its ``KEYS``: none is built inside Redis from an argument.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import redis

from .keys import TRAINING_BUCKETS, bucket_field

_LUA = resources.files(__package__) / "lua"
_LIBRARY = "lib"
_DECLARATION = re.compile(r"--\s*(KEYS|ARGV):(.*)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class LuaScript:
    """One script's declared keys and arguments, and the source Redis runs."""

    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    source: str

    def ordered(self, keys: Mapping[str, object], args: Mapping[str, object]) -> tuple:
        """``keys`` and ``args`` as the positional lists Redis takes, in declared order.

        Raises
        ------
        TypeError
            When a declared name is missing or an undeclared one is given.
        """
        return self._ordered("KEYS", self.keys, keys), self._ordered("ARGV", self.args, args)

    def _ordered(self, kind: str, declared: tuple[str, ...], given: Mapping) -> list:
        missing = [name for name in declared if name not in given]
        unknown = [name for name in given if name not in declared]
        if missing or unknown:
            raise TypeError(
                f"{self.name}.lua {kind}: missing {missing or 'none'}, unknown {unknown or 'none'}"
            )
        return [given[name] for name in declared]


def script_names() -> tuple[str, ...]:
    """Every script in ``lua/`` (the shared library aside)."""
    files = (f.name for f in _LUA.iterdir() if f.name.endswith(".lua"))
    return tuple(sorted(n.removesuffix(".lua") for n in files if n != f"{_LIBRARY}.lua"))


@functools.cache
def load(name: str) -> LuaScript:
    """The script ``lua/<name>.lua``, read and prepared once per process."""
    body = (_LUA / f"{name}.lua").read_text()
    declared: dict[str, list[str]] = {"KEYS": [], "ARGV": []}
    for line in body.splitlines():
        if not line.startswith("--"):
            break
        if match := _DECLARATION.match(line):
            declared[match[1]] += [n.strip() for n in match[2].split(",") if n.strip()]
    for kind, names in declared.items():
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad or len(set(names)) != len(names):
            raise ValueError(f"{name}.lua declares {kind} badly: {names}")
    keys, args = tuple(declared["KEYS"]), tuple(declared["ARGV"])
    buckets = ", ".join(f"{{{b!r}, '{bucket_field(b)}'}}" for b in TRAINING_BUCKETS)
    preamble = [
        _bind("keys", "KEYS", keys),
        _bind("args", "ARGV", args),
        f"local BUCKETS = {{{buckets}}}",
        (_LUA / f"{_LIBRARY}.lua").read_text(),
    ]
    return LuaScript(name, keys, args, "\n".join([*preamble, body]))


def _bind(table: str, positional: str, names: tuple[str, ...]) -> str:
    fields = ", ".join(f"{n} = {positional}[{i}]" for i, n in enumerate(names, 1))
    return f"local {table} = {{{fields}}}"


class Scripts:
    """The scripts registered with one client (EVALSHA, loading a script Redis lacks)."""

    def __init__(self, client: redis.Redis):
        self._registered = {
            name: client.register_script(load(name).source) for name in script_names()
        }

    def run(
        self, name: str, *, keys: Mapping[str, object], args: Mapping[str, object], client=None
    ):
        """Run script ``name`` with its keys and arguments by name; its reply (or, given a
        pipeline as ``client``, queue it there)."""
        positional_keys, positional_args = load(name).ordered(keys, args)
        through = {} if client is None else {"client": client}
        return self._registered[name](keys=positional_keys, args=positional_args, **through)
