"""A request's deadline, checked between chunks of its work (rows parsed, columns typed,
rows predicted), so that a long request is answered in the one error shape rather than
cut off by the server's own timeout, which drops the connection and replaces the process.

The first chunk is always done: a request that fits in one chunk is never refused, and a
deadline is only ever crossed by a request that is large, not by one that is unlucky.

Out of time is a 503 with ``Retry-After``, not a 413: how long a request takes depends on
how busy its process is as much as on its size, which the client cannot see; the same
request may well finish on an idle process. The message says how far it got, so that a
client whose request never fits can send it in parts.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Iterator

from .errors import Busy

#: seconds after which a request refused for its deadline may be sent again
RETRY_AFTER = 5


class Deadline:
    """``seconds`` from ``started`` (a ``time.perf_counter()`` reading); ``setting`` names
    what configures it in a refusal."""

    def __init__(self, started: float, seconds: float, setting: str = "NNJOBS_REQUEST_DEADLINE"):
        self.started, self.seconds, self.setting = started, seconds, setting

    def check(self, done: str = "") -> None:
        """Busy (503 with ``Retry-After``) once the time is up; ``done`` says how far the
        request got, for the message."""
        if time.perf_counter() - self.started < self.seconds:
            return
        progress = f" after {done}" if done else ""
        raise Busy(
            f"the request ran out of its time of {self.seconds:g} s{progress} "
            f"({self.setting}); send it again when the service is less busy, or in parts",
            RETRY_AFTER,
        )

    def paced(self, items: Iterable, every: int, what: str = "rows") -> Iterator:
        """``items``, checking the deadline before each chunk of ``every`` after the
        first; the chunks are taken whole, so the pace costs nothing per item."""

        def chunks():
            it, done = iter(items), 0
            while chunk := list(itertools.islice(it, every)):
                if done:
                    self.check(f"{done} {what}")
                done += len(chunk)
                yield chunk

        return itertools.chain.from_iterable(chunks())


#: a deadline never reached, for work done outside a request
NONE = Deadline(0.0, math.inf)
