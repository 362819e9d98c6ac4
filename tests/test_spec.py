"""Spec resolution: defaults filled in, and every refusal naming its field and reason."""

import dataclasses

import numpy as np
import pytest

import nn
from nn.spec import resolve_spec


def test_empty_spec_is_complete():
    spec = resolve_spec({})
    assert spec["activation"] == "relu"
    assert spec["output"] is None
    assert [layer["units"] for layer in spec["layers"]] == [32, 32]
    assert spec["training"] == {
        "epochs": 500,
        "batch_size": 32,
        "learning_rate": 0.01,
        "l2": 0.0,
        "validation_split": 0.2,
        "seed": 0,
        "standardize": True,
        "threshold": 0.5,
        "diagnostics": True,
        "optimizer": "adam",
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "clip_norm": None,
        "init": "auto",
        "early_stopping": {"patience": 50, "min_delta": 0.0, "start_from_epoch": 100},
        "importance_repeats": 5,
        "class_weight": None,
        "schedule": {"type": "constant"},
    }


def test_contract_example_resolves():
    spec = resolve_spec(
        {
            "name": "spirals",
            "data": {"synthetic": {"name": "spiral"}},
            "layers": [
                {"units": 16, "activation": "relu", "dropout": 0.1},
                {"units": 8, "activation": "leaky_relu", "alpha": 0.05},
                {"units": 4},
            ],
            "activation": "tanh",
            "output": "softmax",
            "training": {
                "epochs": 100,
                "batch_size": 32,
                "optimizer": "adam",
                "learning_rate": 0.001,
                "l2": 0.0,
                "validation_split": 0.2,
                "early_stopping": {"patience": 10, "min_delta": 0.0},
                "seed": 0,
                "standardize": True,
                "threshold": 0.5,
            },
        }
    )
    assert spec["layers"] == [
        {"units": 16, "activation": "relu", "dropout": 0.1},
        {"units": 8, "activation": "leaky_relu", "alpha": 0.05, "dropout": 0.0},
        {"units": 4, "activation": "tanh", "dropout": 0.0},
    ]
    assert spec["output"] == "softmax"


def test_activation_parameters_get_defaults_and_swish_is_silu():
    spec = resolve_spec(
        {
            "layers": [
                {"units": 2, "activation": "maxout"},
                {"units": 2, "activation": "elu"},
                {"units": 2, "activation": "swish"},
            ]
        }
    )
    assert spec["layers"][0]["pieces"] == 2
    assert spec["layers"][1]["alpha"] == 1.0
    assert spec["layers"][2]["activation"] == "silu"


def test_optimizer_settings_sit_beside_it():
    tr = resolve_spec({"training": {"optimizer": "momentum", "nesterov": True}})["training"]
    assert (tr["momentum"], tr["nesterov"]) == (0.9, True)
    assert "beta_1" not in tr
    assert (
        resolve_spec({"training": {"early_stopping": False}})["training"]["early_stopping"] is False
    )
    assert resolve_spec({"training": {"early_stopping": True}})["training"]["early_stopping"] == {
        "patience": 50,
        "min_delta": 0.0,
        "start_from_epoch": 100,
    }
    # patience and warm-up scale with the epoch budget unless given
    early = resolve_spec({"training": {"epochs": 2000, "early_stopping": {"patience": 7}}})
    assert early["training"]["early_stopping"] == {
        "patience": 7,
        "min_delta": 0.0,
        "start_from_epoch": 400,
    }


REFUSALS = [
    (
        {"layers": [{"units": 4, "activation": "softmax"}]},
        "layers.0.activation",
        "softmax is an output activation",
    ),
    ({"activation": "softmax"}, "activation", "softmax is an output activation"),
    (
        {"layers": [{"units": 4, "activation": "swishy"}]},
        "layers.0.activation",
        "choose one of: elu, gelu, leaky_relu, linear, maxout, relu, selu, sigmoid, silu, "
        "softplus, swish, tanh",
    ),
    (
        {"layers": [{"units": 4, "activation": "relu", "alpha": 0.1}]},
        "layers.0.alpha",
        "not a parameter of relu; relu takes: no parameters",
    ),
    (
        {"layers": [{"units": 4, "activation": "elu", "pieces": 3}]},
        "layers.0.pieces",
        "not a parameter of elu; elu takes: alpha",
    ),
    (
        {"layers": [{"units": 4, "colour": "red"}]},
        "layers.0.colour",
        "unknown field; valid fields: units, activation, dropout",
    ),
    ({"layers": [{"units": 0}]}, "layers.0.units", "must be in [1, 4096]"),
    ({"layers": [{"units": 5000}]}, "layers.0.units", "must be in [1, 4096]"),
    ({"layers": [{"units": 2.5}]}, "layers.0.units", "must be an integer"),
    ({"layers": [{"units": True}]}, "layers.0.units", "must be an integer"),
    ({"layers": [{"units": "8"}]}, "layers.0.units", "must be an integer"),
    ({"layers": [{}]}, "layers.0.units", "missing"),
    ({"layers": [{"units": 4}] * 33}, "layers", "at most 32 hidden layers"),
    ({"layers": "16,16"}, "layers", "must be a list"),
    ({"layers": [{"units": 4, "dropout": 1.0}]}, "layers.0.dropout", "must be in [0, 1)"),
    (
        {"layers": [{"units": 4, "activation": "leaky_relu", "alpha": -1}]},
        "layers.0.alpha",
        "must be in [0, 1)",
    ),
    (
        {"layers": [{"units": 4, "activation": "maxout", "pieces": 1}]},
        "layers.0.pieces",
        "must be in [2, 16]",
    ),
    ({"output": "tanh"}, "output", "choose one of: sigmoid, softmax, linear"),
    (
        {"training": {"optimizer": "adamw"}},
        "training.optimizer",
        "choose one of: sgd, momentum, rmsprop, adam",
    ),
    (
        {"training": {"optimizer": "adam", "momentum": 0.9}},
        "training.momentum",
        "not a setting of optimizer adam; it takes: beta_1, beta_2, epsilon",
    ),
    ({"training": {"epochs": 0}}, "training.epochs", "must be in [1, 100000]"),
    ({"training": {"batch_size": 70000}}, "training.batch_size", "must be in [1, 65536]"),
    ({"training": {"learning_rate": 0}}, "training.learning_rate", "must be in (0, 10]"),
    ({"training": {"learning_rate": float("nan")}}, "training.learning_rate", "finite"),
    ({"training": {"validation_split": 1.0}}, "training.validation_split", "must be in [0, 1)"),
    ({"training": {"threshold": 1.0}}, "training.threshold", "must be in (0, 1)"),
    ({"training": {"standardize": "yes"}}, "training.standardize", "true or false"),
    (
        {"training": {"early_stopping": {"patience": 0}}},
        "training.early_stopping.patience",
        "must be in [1, 100000]",
    ),
    ({"training": {"early_stopping": "soon"}}, "training.early_stopping", "must be false, true"),
    ({"training": {"clip_norm": 0}}, "training.clip_norm", "must be > 0"),
    ({"training": {"lr": 0.1}}, "training.lr", "unknown field"),
    ({"training": {"init": "xavier"}}, "training.init", "choose one of: auto, he, glorot, lecun"),
    ({"hidden": [4]}, "hidden", "unknown field; valid fields: layers, activation, output"),
    ({"training": []}, "training", "must be an object"),
]


@pytest.mark.parametrize(
    ("spec", "field", "reason"), REFUSALS, ids=[r[1] + ":" + r[2][:20] for r in REFUSALS]
)
def test_refusal_names_field_and_reason(spec, field, reason):
    with pytest.raises(nn.SpecError) as e:
        resolve_spec(spec)
    assert e.value.field == field
    assert reason in e.value.reason
    assert isinstance(e.value, ValueError)


def test_spec_error_path_splits_indices():
    with pytest.raises(nn.SpecError) as e:
        resolve_spec({"layers": [{"units": 1}, {"units": -1}]})
    assert e.value.path == ("layers", 1, "units")
    assert str(e.value).startswith("layers.1.units: ")


def test_limits_are_configurable():
    limits = nn.Limits(max_units=8, max_layers=1)
    with pytest.raises(nn.SpecError, match=r"\[1, 8\]"):
        resolve_spec({"layers": [{"units": 9}]}, limits)
    with pytest.raises(nn.SpecError, match="at most 1 hidden layers"):
        resolve_spec({"layers": [{"units": 2}, {"units": 2}]}, limits)


@pytest.mark.parametrize(
    ("spec", "limit"),
    [
        ({"layers": [{"units": 9}]}, "max_units"),
        ({"layers": [{"units": 0}]}, "max_units"),
        ({"layers": [{"units": 2}] * 2}, "max_layers"),
        ({"layers": [], "training": {"epochs": 0}}, "max_epochs"),
        ({"layers": [], "training": {"batch_size": 10**6}}, "max_batch_size"),
        ({"layers": [], "training": {"learning_rate": 0}}, None),
        ({"activation": "nope"}, None),
    ],
)
def test_a_refusal_names_the_limit_it_enforces(spec, limit):
    with pytest.raises(nn.SpecError) as e:
        resolve_spec(spec, nn.Limits(max_units=8, max_layers=1))
    assert e.value.limit == limit
    assert limit is None or limit in {f.name for f in dataclasses.fields(nn.Limits)}


def test_fit_refuses_bad_spec_before_touching_data():
    with pytest.raises(nn.SpecError, match=r"layers\.0\.units"):
        nn.fit({"layers": [{"units": 0}]}, np.zeros((4, 2)), [0, 1, 0, 1])
