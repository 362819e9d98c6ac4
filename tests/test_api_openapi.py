"""The OpenAPI document and the docs page describe the whole API, from the same schemas
that validate requests; the service's settings come from the environment."""

from __future__ import annotations

import re
import warnings

import pytest

import nn
from registry import JOB_STATUSES
from service import config, create_app

PATHS = {
    "/jobs": {"get", "post"},
    "/jobs/{job_id}": {"get", "delete"},
    "/jobs/{job_id}/fix": {"post"},
    "/sweeps": {"get", "post"},
    "/sweeps/{sweep_id}": {"get", "delete"},
    "/models": {"get"},
    "/models/{ref}": {"get", "delete"},
    "/models/{ref}/predict": {"post"},
    "/models/{ref}/export": {"get"},
    "/models/import": {"post"},
    "/predict": {"post"},
    "/synthetic": {"get"},
    "/synthetic/{name}": {"get"},
    "/datasets": {"get", "post"},
    "/datasets/{dataset_id}": {"get", "delete"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/activations": {"get"},
    "/activations/{name}": {"get"},
    "/v2": {"get"},
    "/v2/health/live": {"get"},
    "/v2/health/ready": {"get"},
    "/v2/models/{name}": {"get"},
    "/v2/models/{name}/versions/{version}": {"get"},
    "/v2/models/{name}/ready": {"get"},
    "/v2/models/{name}/versions/{version}/ready": {"get"},
    "/v2/models/{name}/infer": {"post"},
    "/v2/models/{name}/versions/{version}/infer": {"post"},
}


@pytest.fixture(scope="module")
def app():
    # nothing here talks to Redis: building the app and its document does not need it
    return create_app({"TESTING": True})


@pytest.fixture(scope="module")
def spec(app):
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    return resp.get_json()


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(spec, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def schema(spec, name: str) -> dict:
    return spec["components"]["schemas"][name]


def test_the_document_lists_every_path_and_method(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "nnjobs"
    found = {path: set(item) - {"parameters"} for path, item in spec["paths"].items()}
    assert found == PATHS


def test_every_reference_resolves(spec):
    all_refs = set(refs(spec))
    assert all_refs
    for ref in all_refs:
        assert resolve(spec, ref) is not None


def test_every_operation_is_described_with_its_responses(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("summary"), (path, method)  # the view's docstring
            assert op["tags"], (path, method)
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (path, method)
            assert "default" in codes, (path, method)  # the error shape
            if "requestBody" in op:
                assert {"400", "415", "422"} <= codes, (path, method)


def test_the_error_shape_is_documented(spec):
    error = schema(spec, "Error")
    assert set(error["properties"]) == {"code", "status", "message", "errors"}
    default = resolve(spec, spec["paths"]["/jobs"]["post"]["responses"]["default"]["$ref"])
    assert default["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_names_come_from_the_nn_registries(spec):
    assert schema(spec, "Layer")["properties"]["activation"]["enum"] == (
        nn.hidden_activation_names()
    )
    assert schema(spec, "JobRequest")["properties"]["activation"]["enum"] == (
        nn.hidden_activation_names()
    )
    assert "softmax" not in schema(spec, "Layer")["properties"]["activation"]["enum"]
    output = schema(spec, "JobRequest")["properties"]["output"]
    assert output["nullable"] and output["enum"] == [*nn.OUTPUTS, None]  # null: inferred
    training = schema(spec, "Training")["properties"]
    assert training["optimizer"]["enum"] == list(nn.OPTIMIZERS)
    assert schema(spec, "Synthetic")["properties"]["name"]["enum"] == list(nn.synthetic.DATASETS)
    assert schema(spec, "Job")["properties"]["status"]["enum"] == list(JOB_STATUSES)
    vary = schema(spec, "SweepVary")["properties"]
    assert vary["activation"]["items"]["enum"] == nn.hidden_activation_names()
    assert vary["optimizer"]["items"]["enum"] == list(nn.OPTIMIZERS)


def test_parameters_of_activations_and_optimizers_are_documented(spec):
    layer = schema(spec, "Layer")["properties"]
    for activation in nn.ACTIVATIONS.values():
        for name in activation.params:
            assert activation.name in layer[name]["description"]
    assert layer["pieces"]["type"] == "integer"
    training = schema(spec, "Training")["properties"]
    for optimizer in nn.OPTIMIZERS.values():
        for name in optimizer.params:
            assert optimizer.name in training[name]["description"]
    assert training["nesterov"]["type"] == "boolean"


def test_the_job_request_is_documented_as_the_contract_has_it(spec):
    body = spec["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/JobRequest")
    job = schema(spec, "JobRequest")
    assert job["required"] == ["data"]
    assert set(job["properties"]) == {
        "name",
        "data",
        "layers",
        "activation",
        "output",
        "training",
        "init",
    }
    assert set(schema(spec, "Data")["properties"]) == {
        "X",
        "y",
        "synthetic",
        "dataset",
        "target",
        "features",
        "weight",
        # how a dataset's columns are prepared
        "missing",
        "unknown",
        "max_categories",
        "high_cardinality",
    }
    assert (
        schema(spec, "Data")["properties"]["max_categories"]["x-limit"] == "NNJOBS_MAX_CATEGORIES"
    )
    assert schema(spec, "Layer")["required"] == ["units"]
    post = spec["paths"]["/jobs"]["post"]["responses"]["202"]
    assert "Location" in post["headers"]


def test_path_references_are_constrained(spec):
    [param] = spec["paths"]["/models/{ref}"]["parameters"]
    assert param["in"] == "path" and param["schema"]["pattern"]
    assert re.fullmatch(param["schema"]["pattern"].strip("^$"), "spirals@3")
    assert not re.fullmatch(param["schema"]["pattern"].strip("^$"), "../x")


def test_query_parameters_are_documented(spec):
    names = {p["name"] for p in spec["paths"]["/jobs"]["get"]["parameters"]}
    assert names == {"page", "page_size", "status", "tenant"}
    names = {p["name"] for p in spec["paths"]["/models"]["get"]["parameters"]}
    assert names == {"page", "page_size", "name", "tenant"}
    names = {p["name"] for p in spec["paths"]["/sweeps"]["get"]["parameters"]}
    assert names == {"page", "page_size", "tenant"}


def test_the_docs_page_is_self_contained(app, spec):
    resp = app.test_client().get("/docs")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "<script" not in page
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)  # nothing fetched elsewhere
    for path in PATHS:
        assert f"<code>{path}</code>" in page
    assert "leaky_relu" in page and 'id="schema-JobRequest"' in page


# -- settings -------------------------------------------------------------------------------


def test_settings_have_working_defaults():
    settings = config.load(environ={})
    assert settings["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["NNJOBS_KEY_PREFIX"] == "nnjobs" and settings["NNJOBS_QUEUE"] == "nnjobs"
    assert settings["NNJOBS_MAX_BODY_MB"] == 32 and settings["NNJOBS_MAX_VALUES"] == 5_000_000
    assert config.limits(settings) == nn.DEFAULT_LIMITS


def test_the_environment_then_the_config_override_the_defaults():
    environ = {"NNJOBS_MAX_UNITS": "128", "NNJOBS_MAX_COMPUTE": "1e9", "NNJOBS_QUEUE": "q"}
    settings = config.load({"NNJOBS_MAX_UNITS": 64, "TESTING": True}, environ=environ)
    limits = config.limits(settings)
    assert limits.max_units == 64 and limits.max_compute == 1e9
    assert settings["NNJOBS_QUEUE"] == "q" and settings["TESTING"] is True


@pytest.mark.parametrize(
    "environ",
    [{"NNJOBS_MAX_UNITS": "lots"}, {"NNJOBS_MAX_LAYERS": "2.5"}, {"NNJOBS_MAX_VALUES": "-1"}],
)
def test_a_bad_setting_is_refused_by_name(environ):
    name = next(iter(environ))
    with pytest.raises(ValueError, match=name):
        config.load(environ=environ)


def test_the_app_reads_the_environment(monkeypatch):
    monkeypatch.setenv("NNJOBS_MAX_BODY_MB", "1")
    monkeypatch.setenv("NNJOBS_MAX_LAYERS", "3")
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 2**20
    assert app.extensions["nnjobs"].limits.max_layers == 3


def test_csv_bodies_are_documented(spec):
    upload = spec["paths"]["/datasets"]["post"]
    assert set(upload["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert {"201", "400", "413", "415", "422"} <= set(upload["responses"])
    assert set(schema(spec, "Dataset")["properties"]) == {
        "id",
        "name",
        "created_at",
        "n_rows",
        "n_columns",
        "size_bytes",
        "columns",
    }
    predict = spec["paths"]["/models/{ref}/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", "text/csv"}
    for path in ("/models/{ref}/predict", "/predict"):
        answer = spec["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(answer) == {"application/json", "text/csv"}
        assert answer["application/json"]["schema"]["$ref"].endswith("/Prediction")


def test_no_two_schemas_share_a_name():
    # apispec renames the second of two schemas of one name (Dataset1) and only warns
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Multiple schemas resolved")
        create_app({"TESTING": True}).test_client().get("/openapi.json")
