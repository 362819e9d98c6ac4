"""The API's limits: what a request may ask for (who may ask: :mod:`.tenants`)."""

from __future__ import annotations

from ..setting import (
    API,
    LimitDefault,
    Section,
    Setting,
)


def _limit(name: str, kind: type, default: object, doc: str, **more) -> Setting:
    return Setting(name, kind, default, doc, (API,), Section.LIMITS, **{"min": 0, **more})


LIMITS: tuple[Setting, ...] = (
    _limit("NNJOBS_MAX_BODY_MB", float, 32, "request body limit (413)"),
    _limit(
        "NNJOBS_MAX_VALUES",
        int,
        5_000_000,
        "numbers in `X` (or `inputs`, a dataset job's features, or the tensors of a `/v2` "
        "inference)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_MB",
        float,
        32,
        "size of an uploaded CSV file (the body limit applies too) (413)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_ROWS",
        int,
        1_000_000,
        "data rows of an uploaded CSV file, or of a CSV prediction body (413)",
    ),
    _limit(
        "NNJOBS_MAX_DATASET_COLUMNS",
        int,
        10_000,
        "columns of an uploaded CSV file, or of a CSV prediction body; checked on the "
        "header, before the rows are read; input tensors of a `/v2` inference (413)",
    ),
    _limit(
        "NNJOBS_MAX_CELL_LENGTH",
        int,
        10_000,
        "characters in a cell (or a header name) of an uploaded CSV file, or of a CSV "
        "prediction body (413)",
    ),
    _limit(
        "NNJOBS_MAX_LABEL_LENGTH",
        int,
        1_000,
        "characters in a class label: a string in `y`, or a cell of a dataset's text target (413)",
    ),
    _limit("NNJOBS_MAX_UNITS", int, LimitDefault("max_units"), "units per hidden layer"),
    _limit("NNJOBS_MAX_LAYERS", int, LimitDefault("max_layers"), "hidden layers"),
    _limit(
        "NNJOBS_MAX_EPOCHS",
        int,
        LimitDefault("max_epochs"),
        "training epochs; also the largest `since` of `GET /jobs/<id>`",
    ),
    _limit("NNJOBS_MAX_BATCH_SIZE", int, LimitDefault("max_batch_size"), "rows per training batch"),
    _limit(
        "NNJOBS_MAX_CLASSES",
        int,
        LimitDefault("max_classes"),
        "distinct class labels, or columns of a target matrix (multi-label or regression)",
    ),
    _limit(
        "NNJOBS_MAX_CATEGORIES",
        int,
        LimitDefault("max_categories"),
        "one-hot columns of a categorical feature of a dataset job (its most frequent "
        "categories; the rarer fold into one other column, or are refused with "
        "data.high_cardinality refuse); a job's data.max_categories may lower it",
    ),
    _limit(
        "NNJOBS_MAX_COMPUTE",
        float,
        LimitDefault("max_compute"),
        "compute budget: (training rows + validation rows / 3) x epochs x weights, a "
        "validation row being a forward pass only (the default admits 20,000 rows x 20 "
        "features, hidden (128, 128), 500 epochs); over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_PARAMETERS",
        int,
        LimitDefault("max_parameters"),
        "weights and biases of a network, 4 bytes each when stored and about 25 while "
        "training: the default keeps a model under 80 MB, far below Redis's 512 MB value "
        "limit, and a worker training it near 0.5 GB at the default batch size; over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_STEPS",
        int,
        LimitDefault("max_steps"),
        "optimizer steps of a job, epochs x batches an epoch, each about 0.1 ms of Python "
        "however small its batch, so the default is minutes of that alone (it admits 20,000 "
        "rows in batches of 32 for 500 epochs); over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_BATCH_ACTIVATIONS",
        int,
        LimitDefault("max_batch_activations"),
        "activation values one training step holds, rows of a batch (the batch size, or the "
        "training rows when fewer) x (units of the hidden layers, maxout's pieces counted, + "
        "outputs), a worker's memory that no other limit bounds: about 12 bytes each while "
        "training with ReLU, up to 44 (one GELU layer with dropout), so the default keeps a "
        "worker's steps under 0.25 GiB, under 1 GiB at worst (it admits batches of 65,536 "
        "rows through hidden (128, 128)); over it, 413",
    ),
    _limit(
        "NNJOBS_MAX_SWEEP_JOBS",
        int,
        64,
        "jobs one sweep may queue (the number of combinations of its `vary` lists); over it, 413",
    ),
    _limit(
        "NNJOBS_MODEL_CACHE",
        int,
        32,
        "loaded models kept per API process (least recently used go first)",
    ),
    _limit(
        "NNJOBS_MODEL_CACHE_MB",
        float,
        512,
        "MiB of loaded models kept per API process, besides their number: the least recently "
        "used go first until both hold; a larger model is served without being kept",
    ),
    _limit(
        "NNJOBS_MAX_ANSWER_VALUES",
        int,
        1_000_000,
        "values in one prediction's answer: rows x the model's outputs (one per class for "
        "softmax, per label, per target; one for two classes), checked before predicting; "
        "over it, 413",
    ),
    _limit(
        "NNJOBS_REQUEST_DEADLINE",
        float,
        20,
        "seconds a prediction or a CSV upload may take from its arrival, checked between "
        "chunks of rows; over it, 503 with `Retry-After`, nothing stored (below "
        "`NNJOBS_API_TIMEOUT`, so that a request is answered before its process is replaced)",
        min=None,
        positive=True,
    ),
    _limit(
        "NNJOBS_METRICS_MAX_MODELS",
        int,
        100,
        "model names with series of their own in `/metrics`, per API process; predictions "
        'by any other name are counted under `model="(other)"`',
    ),
    _limit("NNJOBS_READY_TIMEOUT", float, 0.5, "seconds `/readyz` waits for workers to answer"),
)
