"""What a job costs is bounded before it is paid: parameters, optimizer steps, a training
step's activations, compute with its validation rows, and the columns of a target matrix.
nn refuses, the API answers 413 (or 422) naming the setting, and nothing is stored."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest
from api_helpers import error, make_app, stored

import nn
from service import config
from service.errors import LIMIT_SETTINGS

TWO_ROWS = {"X": [[0.0, 1.0], [1.0, 0.0]], "y": [0, 1]}
#: 520M weights: about 2 GB as float32, 12 GB in a worker training it
HUGE_LAYERS = [{"units": 4096}] * 32
SPIRAL = {"synthetic": {"name": "spiral", "n_samples": 200}}


def _refusal(spec, X, y, limits=nn.DEFAULT_LIMITS) -> nn.SpecError:
    with pytest.raises(nn.SpecError) as e:
        nn.validate(spec, X, y, limits)
    return e.value


def _rows(n: int, n_features: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    return X, (X[:, 0] > 0).astype(int)


# -- the columns of a target matrix --------------------------------------------------------


@pytest.mark.parametrize(
    ("y", "output"),
    [(np.eye(2, 5000, dtype=int), None), (np.eye(2, 5000), "linear")],
    ids=["multi-label", "regression"],
)
def test_a_target_matrix_has_at_most_max_classes_columns(y, output):
    e = _refusal({"output": output}, [[0.0], [1.0]], y.tolist())
    assert e.limit == "max_classes" and e.field == "y" and "5000 columns" in e.reason
    nn.validate(
        {"output": output, "training": {"validation_split": 0}},
        [[0.0], [1.0]],
        y[:, :1000].tolist(),
    )


def test_the_api_refuses_a_5000_label_target_naming_the_setting(client, r, key_prefix):
    body = {"data": {"X": [[0.0], [1.0]], "y": np.eye(2, 5000, dtype=int).tolist()}}
    answer = error(client.post("/jobs", json=body), 422)
    assert answer["message"].startswith("data.y: ") and "(NNJOBS_MAX_CLASSES)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


# -- parameters ----------------------------------------------------------------------------


def test_32_layers_of_4096_units_are_refused_even_on_two_rows():
    e = _refusal({"layers": HUGE_LAYERS}, TWO_ROWS["X"], TWO_ROWS["y"])
    assert isinstance(e, nn.LimitError) and e.limit == "max_parameters" and e.field == "layers"
    assert "520,237,057 parameters" in e.reason


def test_the_parameter_count_includes_biases_and_the_limit_is_inclusive():
    # 2 features -> 3 units -> 1 output: 6 + 3 weights, 3 + 1 biases
    spec = {"layers": [{"units": 3}], "training": {"validation_split": 0}}
    nn.validate(spec, TWO_ROWS["X"], TWO_ROWS["y"], nn.Limits(max_parameters=13))
    e = _refusal(spec, TWO_ROWS["X"], TWO_ROWS["y"], nn.Limits(max_parameters=12))
    assert e.limit == "max_parameters" and "13 parameters" in e.reason


def test_fit_refuses_before_building_the_network():
    limits = nn.Limits(max_parameters=10_000)
    tracemalloc.start()
    try:
        with pytest.raises(nn.LimitError) as e:
            nn.fit({"layers": [{"units": 4096}]}, *_rows(100), limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.limit == "max_parameters"
    # the network would be 16,385 float32 parameters and as many gradients, and more
    assert peak < 1_000_000


def test_the_api_refuses_the_huge_network_with_413_and_stores_nothing(client, r, key_prefix):
    answer = error(client.post("/jobs", json={"data": TWO_ROWS, "layers": HUGE_LAYERS}), 413)
    assert answer["message"].startswith("layers: ")
    assert "(NNJOBS_MAX_PARAMETERS)" in answer["message"]
    assert "layers" in answer["errors"]["json"]
    assert stored(r, key_prefix) == [([], 0)]


def test_a_sweep_blames_the_layers_that_are_too_big(client, r, key_prefix):
    vary = {"layers": [[{"units": 2}], HUGE_LAYERS]}
    answer = error(client.post("/sweeps", json={"job": {"data": SPIRAL}, "vary": vary}), 413)
    assert answer["message"].startswith("vary.layers.1: ")
    assert "(NNJOBS_MAX_PARAMETERS)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


# -- optimizer steps -----------------------------------------------------------------------


def test_batch_size_1_on_many_rows_is_over_the_step_limit():
    spec = {"training": {"batch_size": 1, "epochs": 1000, "validation_split": 0}}
    e = _refusal(spec, *_rows(12_000))
    assert isinstance(e, nn.LimitError) and e.limit == "max_steps"
    assert e.field == "training.batch_size" and "12,000,000 optimizer steps" in e.reason


def test_batch_size_1_on_small_data_is_admitted():
    spec = {"training": {"batch_size": 1, "epochs": 1000, "validation_split": 0}}
    nn.validate(spec, *_rows(5000))  # exactly the default's 5,000,000 steps
    # a batch larger than the training set is one step an epoch
    nn.validate(
        {"training": {"batch_size": 4096, "epochs": 10}}, *_rows(10), nn.Limits(max_steps=10)
    )


def test_the_api_refuses_too_many_steps_with_413(client, r, key_prefix):
    X, y = _rows(12_000, 1)
    training = {"batch_size": 1, "epochs": 1000, "validation_split": 0}
    body = {"data": {"X": X.tolist(), "y": y.tolist()}, "training": training}
    answer = error(client.post("/jobs", json=body), 413)
    assert answer["message"].startswith("training.batch_size: ")
    assert "(NNJOBS_MAX_STEPS)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


# -- a training step's activations ---------------------------------------------------------

#: rows of one batch, and 32 maxout layers of 64 units and 16 pieces: 2.1 million weights,
#: 1.4e11 weight updates an epoch, one step, yet 65,536 x 32,769 activation values (tens
#: of GB in a step)
WIDE_BATCH = {"batch_size": 65_536, "epochs": 1, "validation_split": 0, "importance_repeats": 0}
MAXOUT_LAYERS = [{"units": 64, "activation": "maxout", "pieces": 16}] * 32


def test_a_full_batch_through_narrow_maxout_layers_is_over_only_the_activation_limit():
    X, y = _rows(65_536)
    spec = {"layers": MAXOUT_LAYERS, "training": WIDE_BATCH}
    e = _refusal(spec, X, y)
    assert isinstance(e, nn.LimitError) and e.limit == "max_batch_activations"
    assert e.field == "training.batch_size"
    assert "2,147,549,184 activation values" in e.reason
    assert "batches of 65,536 rows x 32,769 values a row" in e.reason
    # every other limit admits it
    nn.validate(spec, X, y, dataclasses.replace(nn.DEFAULT_LIMITS, max_batch_activations=2**62))


def test_a_batch_of_65536_rows_is_admitted_through_modest_layers():
    X, y = _rows(70_000)
    training = {**WIDE_BATCH, "epochs": 100}
    # 65,536 x (128 + 128 + 1) values: 16.8 million
    nn.validate({"layers": [{"units": 128}] * 2, "training": training}, X, y)
    e = _refusal({"layers": [{"units": 256}] * 2, "training": training}, X, y)
    assert e.limit == "max_batch_activations" and "33,619,968 activation values" in e.reason


@pytest.mark.parametrize(
    ("layer", "values"),
    [({"units": 3}, 10 * (3 + 1)), ({"units": 3, "activation": "maxout", "pieces": 4}, 130)],
    ids=["relu", "maxout-pieces"],
)
def test_the_activations_are_the_effective_batch_times_the_widths_inclusive(layer, values):
    # a batch of 4096 on 10 training rows is 10 rows; maxout's layer is 3 x 4 columns wide
    spec = {"layers": [layer], "training": {"batch_size": 4096, "validation_split": 0}}
    X, y = _rows(10)
    nn.validate(spec, X, y, nn.Limits(max_batch_activations=values))
    e = _refusal(spec, X, y, nn.Limits(max_batch_activations=values - 1))
    assert isinstance(e, nn.LimitError) and e.limit == "max_batch_activations"
    assert f"{values:,} activation values (batches of 10 rows" in e.reason
    assert "use a smaller batch_size or narrower or fewer layers" in e.reason
    with pytest.raises(nn.LimitError, match="activation values"):
        nn.fit(spec, X, y, limits=nn.Limits(max_batch_activations=values - 1))


def test_the_api_refuses_a_wide_batch_with_413(client, r, key_prefix):
    data = {"synthetic": {"name": "spiral", "n_samples": 70_000}}
    body = {"data": data, "layers": [{"units": 256}] * 2, "training": WIDE_BATCH}
    answer = error(client.post("/jobs", json=body), 413)
    assert answer["message"].startswith("training.batch_size: a training step holds ")
    assert answer["message"].endswith("(NNJOBS_MAX_BATCH_ACTIVATIONS)")
    assert "training" in answer["errors"]["json"]
    assert stored(r, key_prefix) == [([], 0)]


def test_a_sweep_blames_the_layers_too_wide_for_its_batch(client, r, key_prefix):
    job = {"data": {"synthetic": {"name": "spiral", "n_samples": 70_000}}, "training": WIDE_BATCH}
    vary = {"layers": [[{"units": 128}] * 2, [{"units": 256}] * 2]}
    answer = error(client.post("/sweeps", json={"job": job, "vary": vary}), 413)
    assert answer["message"].startswith("vary.layers.1: a training step holds ")
    assert "(NNJOBS_MAX_BATCH_ACTIVATIONS)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


# -- validation rows in the compute budget -------------------------------------------------


def test_validation_rows_count_in_the_compute_budget():
    # 2 training rows and 4,998 validation rows through (4096, 4096): 1.6e7 weights a row
    spec = {"layers": [{"units": 4096}] * 2, "training": {"validation_split": 0.99999}}
    e = _refusal(spec, *_rows(5000))
    assert isinstance(e, nn.LimitError) and e.limit == "max_compute" and e.field == "training"
    # a validation row is a third of a training row: 3 of them cost what one does
    training = {"epochs": 10, "validation_split": 0.75, "importance_repeats": 0}
    spec = {"layers": [{"units": 10}], "training": training}
    X, y = _rows(8)  # 2 training rows, 6 validation rows, 30 weights
    nn.validate(spec, X, y, nn.Limits(max_compute=4 * 10 * 30))
    assert _refusal(spec, X, y, nn.Limits(max_compute=4 * 10 * 30 - 1)).limit == "max_compute"


def test_the_importance_shuffles_count_in_the_compute_budget():
    # 6 validation rows x 2 features x 5 repeats, a third of a training row each: 20 rows
    training = {"epochs": 10, "validation_split": 0.75, "importance_repeats": 5}
    spec = {"layers": [{"units": 10}], "training": training}
    X, y = _rows(8)
    budget = (4 * 10 + 20) * 30
    nn.validate(spec, X, y, nn.Limits(max_compute=budget))
    assert _refusal(spec, X, y, nn.Limits(max_compute=budget - 1)).limit == "max_compute"


def test_the_api_refuses_a_job_of_mostly_validation_rows(client, r, key_prefix):
    X, y = _rows(5000)
    body = {
        "data": {"X": X.tolist(), "y": y.tolist()},
        "layers": [{"units": 4096}] * 2,
        "training": {"validation_split": 0.99999},
    }
    answer = error(client.post("/jobs", json=body), 413)
    assert answer["message"].startswith("training: ")
    assert "(NNJOBS_MAX_COMPUTE)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


# -- the contract's promise and the settings -----------------------------------------------


@pytest.mark.parametrize("validation_split", [0.2, 0.0])
def test_the_contracts_job_is_admitted(validation_split):
    # 20,000 rows x 20 features, hidden (128, 128), 500 epochs, batches of 32: at most
    # 312,500 steps and 1.6e11 weight updates
    X, y = _rows(20_000, 20)
    spec = {
        "layers": [{"units": 128}, {"units": 128}],
        "training": {"epochs": 500, "validation_split": validation_split},
    }
    resolved, _ = nn.validate(spec, X, y)
    assert resolved["training"]["batch_size"] == 32


def test_the_new_limits_are_settings_that_reach_nn(redis_url, key_prefix, r):
    environ = {
        "NNJOBS_MAX_PARAMETERS": "5000",
        "NNJOBS_MAX_STEPS": "7",
        "NNJOBS_MAX_BATCH_ACTIVATIONS": "1e6",
    }
    limits = config.limits(config.load(environ=environ))
    assert (limits.max_parameters, limits.max_steps) == (5000, 7)
    assert limits.max_batch_activations == 1_000_000
    defaults = config.limits(config.load(environ={}))
    assert (defaults.max_parameters, defaults.max_steps) == (20_000_000, 5_000_000)
    assert defaults.max_batch_activations == 20_000_000
    assert LIMIT_SETTINGS["max_parameters"] == "NNJOBS_MAX_PARAMETERS"
    assert LIMIT_SETTINGS["max_steps"] == "NNJOBS_MAX_STEPS"
    assert LIMIT_SETTINGS["max_batch_activations"] == "NNJOBS_MAX_BATCH_ACTIVATIONS"

    client = make_app(redis_url, key_prefix, NNJOBS_MAX_PARAMETERS=20).test_client()
    answer = error(client.post("/jobs", json={"data": SPIRAL, "layers": [{"units": 8}]}), 413)
    assert "over the limit of 20;" in answer["message"]
    assert "(NNJOBS_MAX_PARAMETERS)" in answer["message"]
    assert stored(r, key_prefix) == [([], 0)]


def test_the_unbounded_limits_bound_nothing():
    unbounded = nn.Limits.unbounded()
    assert unbounded.max_parameters > 10**18 and unbounded.max_compute == float("inf")
    spec = {"layers": HUGE_LAYERS, "training": {"validation_split": 0}}
    nn.validate(spec, TWO_ROWS["X"], TWO_ROWS["y"], unbounded)
