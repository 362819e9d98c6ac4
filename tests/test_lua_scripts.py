"""The store's Lua scripts: named keys and arguments, and every key passed in KEYS."""

import re
from importlib import resources

import pytest

from registry.store.scripts import Scripts, load, script_names

SCRIPTS = script_names()
# commands whose first argument is not a key
_NO_KEY = {"TIME", "PUBLISH"}
# commands whose first argument is how many keys follow
_NUMKEYS = {"ZINTER", "ZINTERCARD"}
# scripts that read or change no job: the listings' and the request bucket's
_NO_JOB = {"trim", "owned_page", "bucket", "import_model"}


def _written(name: str) -> str:
    """The script as written, without what the loader puts before it."""
    return (resources.files("registry.store") / "lua" / f"{name}.lua").read_text()


class _Recorder:
    """A client that records the scripts' calls instead of sending them."""

    def __init__(self):
        self.calls = []

    def register_script(self, source: str):
        return lambda **call: self.calls.append(call)


def test_every_script_is_found_and_declares_its_keys():
    assert {"end_job", "succeed", "progress", "start", "reclaim", "resend"} <= set(SCRIPTS)
    for name in SCRIPTS:
        script = load(name)
        # every script but the listings', the bucket's and an import's (no job) changes one job
        assert script.keys and ("job" in script.keys) == (name not in _NO_JOB), name
        assert load(name) is script  # read once per process


def test_the_positions_are_bound_to_names_in_declared_order():
    script = load("resend")
    assert script.keys == ("job",) and script.args == ("older_than_ms",)
    assert script.source.startswith(
        "local keys = {job = KEYS[1]}\nlocal args = {older_than_ms = ARGV[1]}\n"
    )
    keys = {name: f"k:{name}" for name in reversed(load("succeed").keys)}
    args = {name: name for name in reversed(load("succeed").args)}
    ordered_keys, ordered_args = load("succeed").ordered(keys, args)
    assert ordered_keys == [f"k:{name}" for name in load("succeed").keys]
    assert ordered_args == list(load("succeed").args)


@pytest.mark.parametrize(
    ("keys", "args", "named"),
    [
        ({}, {"older_than_ms": 1}, "missing \\['job'\\]"),
        ({"job": "j"}, {}, "missing \\['older_than_ms'\\]"),
        ({"job": "j", "other": "o"}, {"older_than_ms": 1}, "unknown \\['other'\\]"),
        ({"job": "j"}, {"older_than_ms": 1, "older": 2}, "unknown \\['older'\\]"),
    ],
)
def test_a_missing_or_unknown_name_is_refused(keys, args, named):
    with pytest.raises(TypeError, match=named):
        load("resend").ordered(keys, args)


def test_a_call_sends_its_names_as_positions_and_a_refused_one_sends_nothing():
    client = _Recorder()
    scripts = Scripts(client)
    keys = {"epochs": "e", "job": "j"}
    args = {"rows": "", "first": 0, "lease": 5, "attempt": "1", "fields": "[]"}
    scripts.run("progress", keys=keys, args=args)
    assert client.calls == [{"keys": ["j", "e"], "args": ["[]", "1", 5, 0, ""]}]
    with pytest.raises(TypeError, match=re.escape("progress.lua ARGV: missing ['lease']")):
        args = {"fields": "[]", "attempt": "", "first": 0, "rows": ""}
        scripts.run("progress", keys=keys, args=args)
    assert len(client.calls) == 1


def test_scripts_read_no_positions_and_only_declared_names():
    for name in SCRIPTS:
        script, body = load(name), _written(name)
        assert "KEYS[" not in body and "ARGV[" not in body, name
        assert set(re.findall(r"\bkeys\.(\w+)", body)) <= set(script.keys), name
        assert set(re.findall(r"\bargs\.(\w+)", body)) <= set(script.args), name


def test_every_key_a_script_touches_comes_from_keys():
    for name in SCRIPTS:
        source = load(name).source
        picked = set(re.findall(r"local (\w+) = by_status\(keys", source))
        calls = re.findall(r"redis\.call\('(\w+)',\s*([^,)]+)(?:,\s*([^,)]+))?", source)
        for command, first, second in calls:
            if command in _NO_KEY:
                continue
            if command in _NUMKEYS:
                first = second
            assert re.fullmatch(r"keys\.\w+|by_status\(keys", first) or first in picked, (
                f"{name}.lua: {command} {first}"
            )
