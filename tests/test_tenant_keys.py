"""The keys file: tenants, roles, keys by their SHA-256; a bad entry stops the API."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from api_helpers import bearer, error, make_app
from live_service import ROOT, VENV_BIN

from registry.settings import SettingsError
from registry.tenants import digest, entry_text, load, parse

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789abc", "admin-key-0123456789"


def write_keys(tmp_path, text: str, name: str = "keys.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_entries_are_read_with_their_tenant_role_and_id():
    text = entry_text("alice", "trainer", ALICE) + '\n[[keys]]\ntenant = "bob"\n'
    text += f'role = "predictor"\nsha256 = "{digest(BOB).upper()}"\nid = "bob-laptop"\n'
    text += "\n[tenants.alice]\nmax_active_jobs = 2\nrate = 5\n"
    ring = parse(text, toml=True)
    alice, bob = ring.find(ALICE.encode()), ring.find(BOB.encode())
    assert (alice.tenant, alice.role, alice.key_id) == ("alice", "trainer", digest(ALICE)[:12])
    assert (bob.tenant, bob.role, bob.key_id) == ("bob", "predictor", "bob-laptop")
    assert ring.find(b"anything-else-0123456") is None
    assert ring.quotas == {"alice": {"max_active_jobs": 2, "rate": 5}}
    # the file never holds a key in clear
    assert ALICE not in text and BOB not in text


def test_json_keys_files_are_read_too(tmp_path):
    body = {"keys": [{"tenant": "alice", "role": "admin", "sha256": digest(ALICE)}]}
    ring = load(write_keys(tmp_path, json.dumps(body), "keys.json"))
    assert ring.find(ALICE.encode()).role == "admin"


@pytest.mark.parametrize(
    ("entry", "line", "reason"),
    [
        ('tenant = "bob"\nrole = "root"\nsha256 = "{h}"', 6, "role 'root' is not one of"),
        ('tenant = "b b"\nrole = "admin"\nsha256 = "{h}"', 6, "tenant 'b b'"),
        ('tenant = "bob"\nrole = "admin"\nsha256 = "abc"', 6, "sha256 must be 64"),
        ('tenant = "bob"\nrole = "admin"\nkey = "bob-key-0123456789"', 6, "never written in clear"),
        ('tenant = "bob"\nsha256 = "{h}"', 6, "role is missing"),
        ('tenant = "bob"\nrole = "admin"\nsha256 = "{a}"', 6, "listed twice"),
    ],
)
def test_a_bad_entry_stops_the_api_naming_its_line(
    tmp_path, redis_url, prefix, entry, line, reason
):
    text = entry_text("alice", "trainer", ALICE) + "\n[[keys]]\n"
    text += entry.format(h=digest(BOB), a=digest(ALICE)) + "\n"
    path = write_keys(tmp_path, text)
    with pytest.raises(SettingsError, match=rf"NNJOBS_KEYS_FILE .*: line {line} .*{reason}"):
        make_app(redis_url, prefix, NNJOBS_KEYS_FILE=path)


def test_a_bad_json_entry_names_its_line(tmp_path):
    first = {"tenant": "a", "role": "admin", "sha256": digest(ALICE)}
    second = {"tenant": "b", "role": "boss", "sha256": digest(BOB)}
    text = f'{{"keys": [\n  {json.dumps(first)},\n  {json.dumps(second)}\n]}}\n'
    with pytest.raises(SettingsError, match=r"line 3 .*role 'boss'"):
        load(write_keys(tmp_path, text, "keys.json"))


def test_bad_quotas_and_unreadable_files_stop_the_api(tmp_path):
    with pytest.raises(SettingsError, match=r"line 2: tenants\.alice: unknown quota 'jobs'"):
        parse("[tenants.alice]\njobs = 3\n", toml=True)
    with pytest.raises(SettingsError, match="max_active_jobs must be a number of at least 0"):
        parse("[tenants.alice]\nmax_active_jobs = -1\n", toml=True)
    with pytest.raises(SettingsError, match="cannot be read"):
        load(str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="lists no key"):
        load(write_keys(tmp_path, "[tenants.alice]\nrate = 3\n"))


@pytest.fixture
def keyed(tmp_path, redis_url, prefix):
    text = entry_text("alice", "trainer", ALICE) + entry_text("bob", "predictor", BOB)
    path = write_keys(tmp_path, text)
    return make_app(redis_url, prefix, NNJOBS_KEYS_FILE=path, API_KEYS=ADMIN).test_client()


def test_a_predictor_reads_and_predicts_but_changes_nothing(keyed):
    assert keyed.get("/jobs", headers=bearer(BOB)).status_code == 200
    # a prediction is let through to the lookup, which finds no model
    asked = keyed.post("/predict", json={"model_id": "m", "inputs": [[1.0]]}, headers=bearer(BOB))
    assert error(asked, 404)
    for method, path in (("post", "/jobs"), ("delete", "/models/m"), ("post", "/datasets")):
        body = error(getattr(keyed, method)(path, headers=bearer(BOB)), 403)
        assert "the role predictor" in body["message"]


def test_unknown_keys_are_401_and_metrics_need_an_admin(keyed):
    assert error(keyed.get("/jobs", headers=bearer("not-a-key-0123456789")), 401)
    assert error(keyed.get("/jobs"), 401)
    assert (
        "needs the role admin"
        in error(keyed.get("/metrics", headers=bearer(ALICE)), 403)["message"]
    )
    assert keyed.get("/metrics", headers=bearer(ADMIN)).status_code == 200
    assert keyed.get("/healthz").status_code == 200


def add_key(tenant: str, role: str, path) -> subprocess.CompletedProcess:
    """``nnjobs-admin keys add``, run as the operator runs it."""
    command = [VENV_BIN / "nnjobs-admin", "keys", "add", "--tenant", tenant, "--role", role]
    command += ["--file", path]
    return subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=60)


def test_the_admin_command_makes_a_key_that_the_api_takes(tmp_path, redis_url, prefix):
    path = tmp_path / "keys.toml"
    made = add_key("carol", "predictor", path)
    assert made.returncode == 0, made.stderr
    key = re.search(r"key \(shown once, stored nowhere\): (\S+)", made.stdout)[1]
    assert key not in path.read_text() and digest(key) in path.read_text()
    client = make_app(redis_url, prefix, NNJOBS_KEYS_FILE=str(path)).test_client()
    assert client.get("/jobs", headers=bearer(key)).status_code == 200
    assert "role predictor" in error(client.post("/jobs", headers=bearer(key)), 403)["message"]
    # a second key appends; a bad file is left as it was
    again = add_key("carol", "admin", path)
    assert again.returncode == 0 and path.read_text().count("[[keys]]") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[[keys]]\ntenant = "x"\n')
    refused = add_key("x", "admin", bad)
    assert refused.returncode == 2 and "line 1 (key 1): role is missing" in refused.stderr
    assert bad.read_text() == '[[keys]]\ntenant = "x"\n'


def test_the_keys_file_shown_in_the_docs_reads():
    page = (ROOT / "docs" / "security.md").read_text()
    [example] = re.findall(r"```toml\n(.*?)```", page, re.S)
    ring = parse(example, toml=True)
    assert [(k.tenant, k.role, k.key_id) for k in ring.keys] == [
        ("alice", "trainer", "alice-laptop")
    ]
    assert ring.quotas["alice"] == {
        "max_active_jobs": 5,
        "max_stored_mb": 100,
        "rate": 20,
        "burst": 40,
    }
