"""Every request and response body of the API, as marshmallow schemas, one module per
resource (``common`` holds what they share).

The same schemas validate requests and generate ``/openapi.json``. They check the
envelope: JSON types, required and unknown fields, and names (activations, outputs,
optimizers, datasets, statuses), whose allowed values are read from the ``nn`` and
``registry`` packages, never retyped here. Ranges and limits are left to ``nn.validate``
with the service's configured ``nn.Limits``, so that a limit lives in one place.

Numbers are strict JSON types: ``"16"`` or ``true`` is not a number and ``16.5`` is not
an integer (marshmallow would otherwise convert the first, accept the second as 1 and
truncate the third).
"""

from __future__ import annotations

from registry.names import NAME_PATTERN, REF_PATTERN, REF_RE

from .catalogue import (
    CURVE_LIMIT,
    MAX_CURVE_POINTS,
    ActivationDetailSchema,
    ActivationListSchema,
    ActivationSchema,
    CurveQuerySchema,
    CurveSchema,
    OutputUseSchema,
    ParamSchema,
    SyntheticDatasetSchema,
    SyntheticListSchema,
    SyntheticPointsSchema,
    SyntheticQuerySchema,
)
from .common import (
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_WAIT_SECONDS,
    Bool,
    ErrorSchema,
    HealthSchema,
    Int,
    JSONList,
    LimitsPlugin,
    Number,
    PageQuerySchema,
    ReadySchema,
    document_limits,
    page_schema,
)
from .datasets import (
    ColumnSchema,
    DatasetPageSchema,
    DatasetQuerySchema,
    DatasetSchema,
)
from .evaluation import EvaluationSchema, ImportanceSchema, ScheduleSchema
from .job_requests import (
    DataSchema,
    EarlyStopping,
    EarlyStoppingSchema,
    JobRequestSchema,
    LayerSchema,
    SyntheticSchema,
    Target,
    TrainingSchema,
)
from .jobs import (
    FixQuerySchema,
    JobErrorSchema,
    JobPageSchema,
    JobQuerySchema,
    JobSchema,
    JobWaitQuerySchema,
    LayerDiagnosticsSchema,
    PurgeQuerySchema,
    WarningSchema,
)
from .models import (
    EXPORT_FORMATS,
    ExportQuerySchema,
    ImportQuerySchema,
    InputsSchema,
    ModelPageSchema,
    ModelQuerySchema,
    ModelSchema,
    ParitySchema,
    PredictionSchema,
    PredictRequestSchema,
)
from .sweeps import (
    LeaderboardEntrySchema,
    SweepJobSchema,
    SweepPageSchema,
    SweepRequestSchema,
    SweepSchema,
    SweepVarySchema,
)

__all__ = [
    "CURVE_LIMIT",
    "EXPORT_FORMATS",
    "MAX_CURVE_POINTS",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_WAIT_SECONDS",
    "NAME_PATTERN",
    "REF_PATTERN",
    "REF_RE",
    "ActivationDetailSchema",
    "ActivationListSchema",
    "ActivationSchema",
    "Bool",
    "ColumnSchema",
    "CurveQuerySchema",
    "CurveSchema",
    "DataSchema",
    "DatasetPageSchema",
    "DatasetQuerySchema",
    "DatasetSchema",
    "EarlyStopping",
    "EarlyStoppingSchema",
    "ErrorSchema",
    "EvaluationSchema",
    "ExportQuerySchema",
    "FixQuerySchema",
    "HealthSchema",
    "ImportQuerySchema",
    "ImportanceSchema",
    "InputsSchema",
    "Int",
    "JSONList",
    "JobErrorSchema",
    "JobPageSchema",
    "JobQuerySchema",
    "JobRequestSchema",
    "JobSchema",
    "JobWaitQuerySchema",
    "LayerDiagnosticsSchema",
    "LayerSchema",
    "LeaderboardEntrySchema",
    "LimitsPlugin",
    "ModelPageSchema",
    "ModelQuerySchema",
    "ModelSchema",
    "Number",
    "OutputUseSchema",
    "PageQuerySchema",
    "ParamSchema",
    "ParitySchema",
    "PredictRequestSchema",
    "PredictionSchema",
    "PurgeQuerySchema",
    "ReadySchema",
    "ScheduleSchema",
    "SweepJobSchema",
    "SweepPageSchema",
    "SweepRequestSchema",
    "SweepSchema",
    "SweepVarySchema",
    "SyntheticDatasetSchema",
    "SyntheticListSchema",
    "SyntheticPointsSchema",
    "SyntheticQuerySchema",
    "SyntheticSchema",
    "Target",
    "TrainingSchema",
    "WarningSchema",
    "document_limits",
    "page_schema",
]
