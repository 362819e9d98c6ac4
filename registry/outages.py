"""Which Redis errors are a passing state of the server, worth waiting out, and which
are faults that no retry mends.

The API answers the first with 503 and ``Retry-After``; a worker retries its writes
through them while its lease lasts. A refusal such as a wrong type, an unknown command
or a value over Redis's size limit (``proto-max-bulk-len``) is a fault: a 500 in the
API, and a failed job, saying so, in a worker.
"""

from __future__ import annotations

import re

import redis.exceptions

#: The server cannot be reached, timed out, or is loading its data (``BusyLoadingError``
#: is a ``ConnectionError``)
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

#: Error replies (their first word) of a server that will answer again by itself: full
#: (``OOM``, until memory is freed), unable to persist (``MISCONF``, until a snapshot
#: succeeds), busy with a long script (``BUSY``), a replica or a primary cut off from the
#: rest (``READONLY``, ``MASTERDOWN``, ``NOREPLICAS``), a cluster re-forming
#: (``TRYAGAIN``, ``CLUSTERDOWN``), or loading its data (``LOADING``)
TRANSIENT_REPLIES = frozenset(
    {"OOM", "MISCONF", "BUSY", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN"}
    | {"CLUSTERDOWN", "LOADING"}
)


#: how redis-py prefixes the error of a command queued in a transaction (MULTI) that
#: Redis refused: ``Command # 1 (HSET ...) of pipeline caused error: MISCONF ...``
_PIPELINE_ERROR = re.compile(r"Command # \d+ \(.*\) of pipeline caused error: ", re.S)


def reply_code(error: redis.exceptions.ResponseError) -> str:
    """The first word of an error reply (redis-py strips it from the errors it maps to a
    class of its own, and keeps it as ``status_code``), in a transaction's too."""
    code = getattr(error, "status_code", None)
    if code:
        return str(code)
    text = str(error)
    if found := _PIPELINE_ERROR.match(text):
        text = text[found.end() :]
    return text.split(" ", 1)[0] if text[:1].isupper() else ""


def transient(error: BaseException) -> bool:
    """Whether ``error`` is Redis away or in a passing state (see the module's note)."""
    if isinstance(error, UNREACHABLE):
        return True
    return isinstance(error, redis.exceptions.ResponseError) and (
        reply_code(error) in TRANSIENT_REPLIES
    )
