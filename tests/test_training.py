"""The training loop: determinism, early stopping, callbacks, dropout, every output kind."""

import numpy as np
import pytest

import nn

SMALL = {
    "layers": [{"units": 16, "activation": "tanh"}],
    "training": {"epochs": 30, "learning_rate": 0.01},
}


def _blobs(n=300, seed=0):
    return nn.synthetic.make("gaussian", n_samples=n, noise=0.1, seed=seed)


def test_same_seed_and_spec_give_identical_weights_and_history():
    X, y = nn.synthetic.make("moons", n_samples=200, noise=0.1, seed=1)
    spec = {
        "layers": [{"units": 8, "dropout": 0.2}, {"units": 8}],
        "training": {"epochs": 10, "seed": 7},
    }
    (m1, h1), (m2, h2) = nn.fit(spec, X, y), nn.fit(spec, X, y)
    assert np.array_equal(m1.network.params, m2.network.params)
    assert h1.as_dict() == h2.as_dict()
    m3, _ = nn.fit({**spec, "training": {"epochs": 10, "seed": 8}}, X, y)
    assert not np.array_equal(m1.network.params, m3.network.params)


@pytest.mark.parametrize("batch_size", [16, 50])
def test_batches_gathered_one_by_one_train_as_slices_of_a_shuffled_copy(monkeypatch, batch_size):
    # the two ways of reading batches (below and from nn.training.GATHER_BATCH rows) must
    # give the same batches in the same order, so the same model
    X, y = nn.synthetic.make("spiral", n_samples=230, noise=0.1, seed=3)
    spec = {"layers": [{"units": 8}], "training": {"epochs": 4, "batch_size": batch_size}}
    monkeypatch.setattr(nn.training, "GATHER_BATCH", 10_000)
    copied, h1 = nn.fit(spec, X, y)
    monkeypatch.setattr(nn.training, "GATHER_BATCH", 1)
    gathered, h2 = nn.fit(spec, X, y)
    assert np.array_equal(copied.network.params, gathered.network.params)
    assert h1.as_dict() == h2.as_dict()


def test_model_spec_has_every_default_filled_in():
    X, y = _blobs()
    model, _ = nn.fit({"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    assert model.spec["output"] == "sigmoid"
    assert model.spec["layers"] == [{"units": 4, "activation": "relu", "dropout": 0.0}]
    assert model.spec["training"]["batch_size"] == 32


def test_history_has_loss_val_loss_and_metrics_per_epoch():
    X, y = _blobs()
    model, history = nn.fit(SMALL, X, y)
    assert history.epochs_run == len(history["val_loss"]) == len(history["accuracy"])
    assert set(history.series) == {"loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][history.best_epoch - 1] >= 0.95
    assert model.metrics["val_loss"] == min(history["val_loss"])


def test_early_stopping_fires_and_the_best_epoch_is_restored():
    # memorizable noise: validation loss turns up while training loss keeps falling
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 10)), rng.integers(0, 2, 120)
    spec = {
        "layers": [{"units": 64}],
        "training": {
            "epochs": 500,
            "learning_rate": 0.01,
            "early_stopping": {"patience": 5, "start_from_epoch": 0},
        },
    }
    model, history = nn.fit(spec, X, y)
    assert history.stop_reason == "early_stopping"
    assert history.epochs_run == history.best_epoch + 5
    best = history.best_epoch - 1
    assert history["val_loss"][best] == min(history["val_loss"])
    # the kept weights are the best epoch's: recomputing validation loss from them matches
    assert model.metrics["val_loss"] == history["val_loss"][best]
    assert history["val_loss"][-1] > history["val_loss"][best]


def test_best_epoch_is_kept_even_without_early_stopping():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 10)), rng.integers(0, 2, 120)
    spec = {
        "layers": [{"units": 64}],
        "training": {
            "epochs": 60,
            "learning_rate": 0.01,
            "early_stopping": False,
            "validation_split": 0.25,
        },
    }
    model, history = nn.fit(spec, X, y)
    assert history.epochs_run == 60 and history.stop_reason == "completed"
    best = int(np.argmin(history["val_loss"]))
    assert history.best_epoch == best + 1 < 60
    # evaluate the returned model on the same validation rows the loop used
    split_rng = np.random.default_rng(np.random.SeedSequence(0).spawn(4)[0])
    _, val = nn.data.split(120, 0.25, split_rng, y)
    p = np.array(model.predict(X[val])["probabilities"], dtype=np.float64)
    yv = y[val]
    val_loss = -np.mean(yv * np.log(p) + (1 - yv) * np.log(1 - p))
    assert val_loss == pytest.approx(history["val_loss"][best], rel=1e-3)


def test_without_validation_the_training_loss_is_monitored():
    X, y = _blobs()
    spec = {**SMALL, "training": {**SMALL["training"], "validation_split": 0}}
    _, history = nn.fit(spec, X, y)
    assert "val_loss" not in history.series
    assert history.best_epoch == int(np.argmin(history["loss"])) + 1


def test_callback_reports_epochs_and_batches_and_can_stop():
    X, y = _blobs()
    events = []

    def callback(event):
        events.append(event)
        if event["event"] == "epoch" and event["epoch"] == 3:
            return False
        return None

    _, history = nn.fit({**SMALL, "training": {"epochs": 20, "batch_size": 60}}, X, y, callback)
    epochs = [e for e in events if e["event"] == "epoch"]
    batches = [e for e in events if e["event"] == "batch"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert history.epochs_run == 3 and history.stop_reason == "callback"
    assert len(batches) == 3 * 4  # 240 training rows in batches of 60
    assert set(epochs[0]) == {
        "event",
        "epoch",
        "epochs",
        "loss",
        "val_loss",
        "metrics",
        "learning_rate",
        "best_epoch",
        "diagnostics",
    }
    assert epochs[0]["epochs"] == 20 and "val_accuracy" in epochs[0]["metrics"]


def test_callback_can_stop_between_batches_and_exceptions_propagate():
    X, y = _blobs()

    def stop_mid_epoch(event):
        return not (event["event"] == "batch" and event["epoch"] == 2 and event["batch"] == 2)

    _, history = nn.fit(
        {**SMALL, "training": {"epochs": 20, "batch_size": 60}}, X, y, stop_mid_epoch
    )
    assert history.epochs_run == 1 and history.stop_reason == "callback"

    class Cancelled(Exception):
        pass

    def cancel(event):
        raise Cancelled

    with pytest.raises(Cancelled):
        nn.fit(SMALL, X, y, cancel)


def test_dropout_is_off_at_prediction():
    X, y = _blobs()
    model, _ = nn.fit({"layers": [{"units": 32, "dropout": 0.5}], "training": {"epochs": 5}}, X, y)
    assert model.predict(X) == model.predict(X)


def test_optimizers_all_learn():
    X, y = _blobs()
    for opt in nn.OPTIMIZERS:
        lr = 0.1 if opt in ("sgd", "momentum") else 0.01
        training = {"optimizer": opt, "learning_rate": lr, "epochs": 15}
        if opt == "momentum":
            training["nesterov"] = True
        _, history = nn.fit({"layers": [{"units": 8}], "training": training}, X, y)
        assert max(history["val_accuracy"]) >= 0.95, opt


def test_clip_norm_and_l2_are_applied():
    X, y = _blobs()
    base = {"layers": [{"units": 8}], "training": {"epochs": 5, "learning_rate": 0.05}}
    plain, _ = nn.fit(base, X, y)
    clipped, _ = nn.fit(
        {**base, "training": {**base["training"], "clip_norm": 1e-3, "optimizer": "sgd"}}, X, y
    )
    unclipped, _ = nn.fit({**base, "training": {**base["training"], "optimizer": "sgd"}}, X, y)
    init, _ = nn.fit(
        {
            **base,
            "training": {
                **base["training"],
                "optimizer": "sgd",
                "learning_rate": 1e-9,
                "epochs": 1,
            },
        },
        X,
        y,
    )
    moved = np.abs(clipped.network.params - init.network.params).sum()
    assert moved < np.abs(unclipped.network.params - init.network.params).sum() / 10
    decayed, _ = nn.fit({**base, "training": {**base["training"], "l2": 1.0}}, X, y)
    w = plain.network.n_weights
    assert np.abs(decayed.network.params[:w]).sum() < np.abs(plain.network.params[:w]).sum()


def test_binary_prediction_shape_and_threshold():
    X, y = _blobs()
    y = np.where(y == 1, "pos", "neg")
    model, _ = nn.fit(SMALL, X, y)
    out = model.predict(X[:5])
    assert out["output"] == "sigmoid" and out["classes"] == ["neg", "pos"]
    assert len(out["probabilities"]) == 5 and all(0 <= p <= 1 for p in out["probabilities"])
    assert out["predictions"] == ["pos" if p >= 0.5 else "neg" for p in out["probabilities"]]
    strict, _ = nn.fit({**SMALL, "training": {**SMALL["training"], "threshold": 0.999999}}, X, y)
    probs = strict.predict(X)["probabilities"]
    assert strict.predict(X)["predictions"] == ["pos" if p >= 0.999999 else "neg" for p in probs]


def test_multiclass_prediction_is_a_distribution_in_original_labels():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 3], [3, 0], [-3, -3]])
    labels = np.array(["cat", "dog", "mouse"])
    idx = rng.integers(0, 3, 300)
    X = centres[idx] + rng.normal(0, 0.5, (300, 2))
    model, _history = nn.fit(SMALL, X, labels[idx])
    out = model.predict(X)
    assert out["output"] == "softmax" and out["classes"] == ["cat", "dog", "mouse"]
    np.testing.assert_allclose(np.sum(out["probabilities"], axis=1), 1, rtol=1e-5)
    assert np.mean(np.array(out["predictions"]) == labels[idx]) > 0.97


def test_multilabel_prediction_is_one_probability_per_label():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0]).astype(int)
    model, _ = nn.fit({**SMALL, "training": {"epochs": 60, "learning_rate": 0.01}}, X, Y)
    out = model.predict(X)
    assert out["output"] == "sigmoid" and out["classes"] == [0, 1, 2]
    assert np.array(out["probabilities"]).shape == (400, 3)
    assert np.mean(np.array(out["predictions"]) == Y) > 0.95
    assert model.metrics["val_accuracy"] > 0.8  # whole rows right


@pytest.mark.parametrize("offset", [0.0, 250_000.0])
def test_regression_far_from_zero_trains_as_well_as_centred(offset):
    X, y = nn.synthetic.make("plane", n_samples=400, noise=0.02, seed=0)
    target = offset + 1000.0 * y
    model, history = nn.fit({**SMALL, "training": {"epochs": 60, "learning_rate": 0.01}}, X, target)
    out = model.predict(X)
    assert out["output"] == "linear" and set(out) == {"output", "predictions"}
    pred = np.array(out["predictions"])
    assert pred.shape == (400,)
    assert np.mean(np.abs(pred - target)) < 60  # targets span about 4000
    assert history["val_r2"][history.best_epoch - 1] > 0.99
    assert history["val_mae"][history.best_epoch - 1] < 60


def test_regression_with_several_targets_predicts_rows():
    X, y = nn.synthetic.make("plane", n_samples=300, noise=0.0, seed=0)
    Y = np.column_stack([y, -2 * y + 5])
    model, _ = nn.fit({**SMALL, "training": {"epochs": 60, "learning_rate": 0.01}}, X, Y)
    pred = np.array(model.predict(X)["predictions"])
    assert pred.shape == (300, 2)
    assert np.mean(np.abs(pred - Y)) < 0.1


def test_predict_refuses_wrong_feature_count():
    X, y = _blobs()
    model, _ = nn.fit({**SMALL, "training": {"epochs": 1}}, X, y)
    with pytest.raises(nn.SpecError) as e:
        model.predict([[1.0, 2.0, 3.0]], field="inputs")
    assert e.value.field == "inputs" and "the model takes 2" in e.value.reason


def test_batch_size_larger_than_data_is_one_batch():
    X, y = _blobs(50)
    _, history = nn.fit(
        {"layers": [{"units": 4}], "training": {"batch_size": 1000, "epochs": 2}}, X, y
    )
    assert history.epochs_run == 2


def test_validate_runs_every_check_fit_runs_without_training():
    X, y = _blobs()
    spec, data = nn.validate({"layers": [{"units": 4}]}, X, y)
    assert spec["output"] == "sigmoid" and spec["layers"][0]["activation"] == "relu"
    assert data == {
        "n_samples": 300,
        "n_features": 2,
        "n_train": 240,
        "n_val": 60,
        "output": "sigmoid",
        "kind": "binary",
        "classes": [0, 1],
    }
    with pytest.raises(nn.SpecError, match="no validation rows"):
        nn.validate({}, X[[0, -1]], y[[0, -1]])


def test_compute_budget_names_the_limit():
    X, y = _blobs(100)
    limits = nn.Limits(max_compute=1e6)
    spec = {"layers": [{"units": 32}], "training": {"epochs": 1000}}
    with pytest.raises(nn.LimitError) as e:
        nn.validate(spec, X, y, limits)
    assert e.value.field == "training" and "compute budget of 1e+06" in e.value.reason
    assert e.value.limit == "max_compute"
    # the contract's floor: 20,000 x 20 rows, hidden (128, 128), 500 epochs fit the default
    rows = np.zeros((20_000, 20))
    rows[:, 0] = np.arange(20_000) % 2
    big = {
        "layers": [{"units": 128}, {"units": 128}],
        "training": {"epochs": 500, "validation_split": 0},
    }
    assert nn.validate(big, rows, np.arange(20_000) % 10)[1]["n_train"] == 20_000


def test_init_defaults_by_activation_and_can_be_chosen():
    X, y = _blobs()
    spec = {"layers": [{"units": 64, "activation": "relu"}], "training": {"epochs": 1}}
    rows, cols = 2, 64

    def first_layer_std(init):
        training = {**spec["training"], "learning_rate": 1e-9}
        if init:
            training["init"] = init
        model, _ = nn.fit({**spec, "training": training}, X, y)
        assert model.network.W[0].shape == (rows, cols)
        return float(model.network.W[0].std())

    he, glorot = np.sqrt(2 / rows), np.sqrt(2 / (rows + cols))
    assert first_layer_std(None) == pytest.approx(he, rel=0.2)  # auto: He for relu
    assert first_layer_std("he") == first_layer_std(None)
    assert first_layer_std("glorot") == pytest.approx(glorot, rel=0.2)
    assert first_layer_std("lecun") == pytest.approx(np.sqrt(1 / rows), rel=0.2)


@pytest.mark.skipif(nn.blas_threads() is None, reason="the BLAS thread count cannot be set")
def test_small_networks_train_on_one_blas_thread_and_the_count_is_put_back():
    X = np.random.default_rng(0).normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    before = nn.blas_threads()
    nn.set_blas_threads(2)
    seen = []
    try:
        if nn.blas_threads() != 2:
            pytest.skip("this BLAS does not run two threads here")
        spec = {"layers": [{"units": 8}], "training": {"epochs": 2, "batch_size": 32}}
        nn.fit(spec, X, y, callback=lambda event: seen.append(nn.blas_threads()))
        assert set(seen) == {1}  # products of 32 x 8 x 8 multiply-adds
        assert nn.blas_threads() == 2
    finally:
        nn.set_blas_threads(before)


def test_training_frees_the_arrays_it_keeps_between_batches():
    X = np.random.default_rng(0).normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    model, _ = nn.fit({"layers": [{"units": 4}], "training": {"epochs": 2}}, X, y)
    assert model.network._scratch_set == [] and model.network._scratch_rows == 0


def _every_activation(dropout: float, rows: int):
    """A network with every activation of the registry, each in a layer of its own, and
    ``rows`` rows of 5 inputs and 3 classes for it."""
    from nn.activations import ACTIVATIONS
    from nn.losses import OUTPUTS
    from nn.network import Layer, Network

    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 5)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, rows)]
    layers = [
        Layer(16, act, {p: v.default for p, v in act.params.items()}, dropout=dropout)
        for act in ACTIVATIONS.values()
    ]
    net = Network(5, layers, 3, OUTPUTS["softmax"])
    net.initialize(np.random.default_rng(0))
    return net, X, Y


#: batch sizes of a run on 150 rows: a learning-rate search's batches of 40 rows (fewer
#: than the training batch), then three epochs of 64, 64 and a shorter last batch of 22
SEARCH_THEN_EPOCHS = [40] * 3 + [64, 64, 22] * 3


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_shorter_batches_computed_in_views_train_the_same_parameters_bit_for_bit(dropout):
    """The reference run calls release_scratch before every batch, so each step computes
    in arrays made for exactly its rows. Before one set of arrays was kept and shorter
    batches given views of it, training kept arrays per batch size and every step
    overwrote them before reading them, so its values were those of fresh arrays: the
    reference is that code's results. The views run grows its set from 40 to 64 rows
    and computes the last batch of each epoch in views of 22 of the 64 rows."""
    from nn.optimizers import OPTIMIZERS

    def train(fresh_arrays: bool):
        net, X, Y = _every_activation(dropout, 150)
        optimizer = OPTIMIZERS["adam"](0.01)
        dropout_rng, order, at = np.random.default_rng(2), np.random.default_rng(3), 0
        rows = order.permutation(150)
        for size in SEARCH_THEN_EPOCHS:
            if at + size > 150:
                rows, at = order.permutation(150), 0
            batch = rows[at : at + size]
            at += size
            if fresh_arrays:
                net.release_scratch()
            net.train_batch(X[batch], Y[batch], 1e-3, dropout_rng)
            optimizer.step(net.params, net.grads)
        return net

    views, fresh = train(False), train(True)
    assert views._scratch_rows == 64  # the largest batch's set, kept
    assert views.params.tobytes() == fresh.params.tobytes()


def test_an_epoch_with_a_shorter_last_batch_holds_one_set_of_arrays():
    """tracemalloc's peak over a run whose batch sizes go 511, 512, 512, 511 (a shorter
    batch before and after the full ones) stays at one full step's: the kept arrays are
    the 512-row batch's, and 511-row batches use views of them, not a set of their own
    (which would nearly double the peak: 12 bytes a hidden value, ReLU)."""
    import tracemalloc

    from nn.activations import ACTIVATIONS
    from nn.losses import OUTPUTS
    from nn.network import Layer, Network

    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 4)).astype(np.float32)
    Y = (X[:, :1] > 0).astype(np.float32)

    def peak(sizes) -> int:
        net = Network(4, [Layer(64, ACTIVATIONS["relu"])] * 2, 1, OUTPUTS["sigmoid"])
        net.initialize(np.random.default_rng(0))
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for n in sizes:
                net.train_batch(X[:n], Y[:n])
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    one_set = 512 * (64 + 64 + 64) * 2 * 4  # pre-activation, gate, gradient; 2 layers
    one_step = peak([512])
    assert one_set <= one_step < 1.2 * one_set  # the set is most of a step's memory
    assert peak([511, 512, 512, 511]) <= one_step + 4096


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_paired_products_give_the_same_gradients_bit_for_bit(dropout):
    net, X, Y = _every_activation(dropout, 64)

    def gradients():
        loss, _ = net.train_batch(X, Y, l2=1e-3, dropout_rng=np.random.default_rng(2))
        return loss, net.grads.copy()

    alone = gradients()
    # a threshold of one multiply-add pairs every layer's products
    with net.pair_products(1):
        assert net._pair is not None
        paired = gradients()
    assert net._pair is None
    assert paired[0] == alone[0] and paired[1].tobytes() == alone[1].tobytes()


@pytest.mark.skipif(nn.blas_threads() is None, reason="the BLAS thread count cannot be set")
def test_training_pairs_large_products_only_with_a_core_to_spare(monkeypatch):
    from nn import network, training

    X = np.random.default_rng(0).normal(size=(300, 4))
    y = (X[:, 0] > 0).astype(int)
    spec = {"layers": [{"units": 64}, {"units": 64}], "training": {"epochs": 2, "batch_size": 64}}
    entered = []
    real = network.Network.pair_products
    monkeypatch.setattr(
        network.Network, "pair_products", lambda self, m: entered.append(m) or real(self, m)
    )
    # 64 x 64 x 64 multiply-adds: over a lowered threshold, under the real one
    monkeypatch.setattr(training, "PAIRED_PRODUCT", 64**3)
    before = nn.blas_threads()
    try:
        nn.set_blas_threads(2)
        if nn.blas_threads() != 2:
            pytest.skip("this BLAS does not run two threads here")
        paired = nn.fit(spec, X, y)[0]
        assert entered == [64**3]
        nn.set_blas_threads(1)  # no core to spare: no second thread
        alone = nn.fit(spec, X, y)[0]
        assert entered == [64**3]
    finally:
        nn.set_blas_threads(before)
    assert paired.network.params.tobytes() == alone.network.params.tobytes()
