"""nn: fully-connected neural networks in pure NumPy.

The library the nnjobs worker trains with and the API predicts with. It imports only
NumPy and the standard library.

>>> import nn
>>> X, y = nn.synthetic.make("circle", n_samples=200, seed=0)
>>> model, history = nn.fit({"layers": [{"units": 8, "activation": "tanh"}]}, X, y)
>>> sorted(model.predict(X[:2]))
['classes', 'output', 'predictions', 'probabilities']
"""

from . import diagnostics, importance, metrics, schedules, synthetic
from .activations import ACTIVATIONS, ALIASES, Activation, hidden_activation_names
from .errors import LimitError, ModelFormatError, SpecError, TrainingError
from .limits import DEFAULT_LIMITS, Limits
from .losses import OUTPUTS, Output
from .model import Model, load
from .optimizers import OPTIMIZERS
from .preparation import Preparation
from .spec import resolve_spec
from .tabular import encode_table
from .threads import blas_threads, set_blas_threads
from .training import History, fit, prepare, validate

__all__ = [
    "ACTIVATIONS",
    "ALIASES",
    "DEFAULT_LIMITS",
    "OPTIMIZERS",
    "OUTPUTS",
    "Activation",
    "History",
    "LimitError",
    "Limits",
    "Model",
    "ModelFormatError",
    "Output",
    "Preparation",
    "SpecError",
    "TrainingError",
    "blas_threads",
    "diagnostics",
    "encode_table",
    "fit",
    "hidden_activation_names",
    "importance",
    "load",
    "metrics",
    "prepare",
    "resolve_spec",
    "schedules",
    "set_blas_threads",
    "synthetic",
    "validate",
]
