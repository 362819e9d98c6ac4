"""The Celery worker: takes training jobs off the queue and trains them with nn."""
