"""NNJOBS_BROKER_URL: the Celery broker on a Redis of its own, apart from the store at
REDIS_URL; the API under gunicorn and a worker as processes train through it, the
messages travel on the broker only, and /metrics reads the queue's length there."""

from __future__ import annotations

import redis
import requests
from conftest import RedisServer
from live_service import LiveService, train_and_predict


def test_a_broker_apart_from_the_store_carries_the_messages(redis_url, key_prefix):
    broker = RedisServer().start()
    try:
        with LiveService(redis_url, key_prefix, workers=1, NNJOBS_BROKER_URL=broker.url) as live:
            train_and_predict(live.url, f"{key_prefix}-broker")
            store = redis.Redis.from_url(redis_url)
            messages = redis.Redis.from_url(broker.url)
            # the store holds the job and its model, and none of Celery's keys
            assert list(store.scan_iter(f"{key_prefix}:job:*"))
            assert not any(key_prefix.encode() in k for k in store.scan_iter("_kombu*"))
            assert store.exists(key_prefix) == 0
            # the broker holds Celery's bindings for the queue, and nothing of the store
            assert any(key_prefix.encode() in k for k in messages.scan_iter("_kombu*"))
            assert not list(messages.scan_iter(f"{key_prefix}:*"))
            # a message waiting on the broker (no worker left to take it) is what
            # /metrics counts
            live.worker.stop()
            messages.lpush(key_prefix, b"{}")
            text = requests.get(f"{live.url}/metrics", timeout=10).text
            assert f'nnjobs_queue_length{{queue="{key_prefix}"}} 1.0' in text
            messages.delete(key_prefix)
            store.close()
            messages.close()
    finally:
        broker.cleanup()
