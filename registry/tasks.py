"""The names of the Celery tasks: the API sends by name, the worker registers under it.

The API never imports the worker; this module is the whole contract between them. A
training message carries only a job id; everything else is fetched from the registry.
"""

TRAIN_TASK = "nnjobs.train"
