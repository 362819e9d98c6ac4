"""Where jobs and models live (Redis), and the task-name contract shared by API and worker."""

from .store import ACTIVE, ENDED, JOB_STATUSES, Registry
from .tasks import TRAIN_TASK

__all__ = ["ACTIVE", "ENDED", "JOB_STATUSES", "TRAIN_TASK", "Registry"]
