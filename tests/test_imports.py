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
    # scipy (loaded by the sklearn tests) brings an OpenBLAS of its own: NumPy's must be
    # the one that is pinned
    import scipy.linalg  # noqa: F401

    before = nn.blas_threads()
    if before is None:  # a NumPy built without OpenBLAS: nothing to control
        assert nn.set_blas_threads(1) is False
        return
    from threadpoolctl import threadpool_info

    def numpy_blas_threads():
        return next(
            p["num_threads"]
            for p in threadpool_info()
            if p["internal_api"] == "openblas" and "numpy" in p["filepath"]
        )

    try:
        assert nn.set_blas_threads(1) is True
        assert nn.blas_threads() == 1 and numpy_blas_threads() == 1
    finally:
        nn.set_blas_threads(before)


def test_registry_is_what_the_api_reads():
    assert "softmax" not in nn.ACTIVATIONS
    assert set(nn.OUTPUTS) == {"sigmoid", "softmax", "linear"}
    assert "swish" in nn.hidden_activation_names()
    assert set(nn.OPTIMIZERS) == {"sgd", "momentum", "rmsprop", "adam"}
