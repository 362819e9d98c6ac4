"""Flask's JSON responses written by orjson, several times faster than ``json`` on the
large arrays a prediction can answer with.

Only what orjson writes exactly as Flask's own provider would goes through it: plain
dicts with string keys, lists, strings, booleans, None, integers within 64 bits and
floats. Anything else (dates, which Flask writes as HTTP dates; dataclasses; decimals;
non-string keys; larger integers), and any call asking for more than compact separators
(``indent``), is written by Flask's provider as before. orjson writes non-ASCII text as
UTF-8 where ``json`` writes ``\\u`` escapes, which is the same JSON value.

Predictions are finite (``nn`` refuses stored weights that are not, and inputs large
enough to overflow), so the one difference left, NaN written as ``null`` where ``json``
writes the non-JSON ``NaN``, does not arise.
"""

from __future__ import annotations

import typing as t

import orjson
from flask.json.provider import DefaultJSONProvider

# dates and dataclasses are handed to ``default``, which refuses them, so that Flask writes
# them in its own way
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


_COMPACT = {"separators": (",", ":")}


def _unsupported(obj: t.Any) -> t.NoReturn:
    raise TypeError(type(obj).__name__)


class ORJSONProvider(DefaultJSONProvider):
    """Flask's :class:`DefaultJSONProvider`, writing with orjson where that is identical
    in meaning; reading stays Flask's (request bodies go through ``service.parsing``)."""

    sort_keys = False

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        # responses ask for compact separators, which is how orjson writes anyway
        if self.sort_keys or kwargs not in ({}, _COMPACT):
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_unsupported, option=_OPTIONS).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)
