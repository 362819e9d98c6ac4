"""Queueing in the domain: what was stored is removed when the messages cannot go, and an
undo that fails too is logged with its traceback while the sending's error is raised."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import kombu.exceptions
import pytest

from domain import jobs


class Broker:
    def send_task(self, *args, **kwargs):
        raise kombu.exceptions.OperationalError("broker down")


def services():
    return SimpleNamespace(celery=Broker(), queue="q", registry=None)


def test_a_failed_send_undoes_what_was_stored():
    undone = []
    with pytest.raises(kombu.exceptions.OperationalError):
        jobs.queue(services(), ["j1"], lambda: undone.append("j1"))
    assert undone == ["j1"]


def test_an_undo_that_fails_is_logged_and_the_send_error_raised(caplog):
    def undo():
        raise RuntimeError("store gone")

    with (
        caplog.at_level(logging.ERROR, "domain.jobs"),
        pytest.raises(kombu.exceptions.OperationalError),
    ):
        jobs.queue(services(), ["j1", "j2"], undo)
    [record] = caplog.records
    assert "j1" in record.getMessage() and record.exc_info[0] is RuntimeError
