"""nn stays a pure NumPy library: importing it pulls in no web or queue stack."""

import subprocess
import sys

import nn


def test_importing_nn_pulls_in_no_flask_celery_or_redis():
    code = (
        "import sys, nn; bad = [m for m in ('flask', 'celery', 'redis', 'kombu', "
        "'werkzeug', 'sklearn', 'scipy') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_blas_threads_are_controllable():
    before = nn.blas_threads()
    if before is None:  # a NumPy built without OpenBLAS: nothing to control
        assert nn.set_blas_threads(1) is False
        return
    try:
        assert nn.set_blas_threads(1) is True
        assert nn.blas_threads() == 1
    finally:
        nn.set_blas_threads(before)


def test_registry_is_what_the_api_reads():
    assert "softmax" not in nn.ACTIVATIONS
    assert set(nn.OUTPUTS) == {"sigmoid", "softmax", "linear"}
    assert "swish" in nn.hidden_activation_names()
    assert set(nn.OPTIMIZERS) == {"sgd", "momentum", "rmsprop", "adam"}
