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

    def response(self, *args: t.Any, **kwargs: t.Any):
        # the body as orjson writes it, bytes and newline included: Flask's own method
        # would decode it to text and the response encode it back
        # Flask indents in debug mode, or when compact is False: orjson's bytes do not
        indented = self.compact is False or (self.compact is None and self._app.debug)
        if not indented and not self.sort_keys:
            obj = self._prepare_response_obj(args, kwargs)
            try:
                body = orjson.dumps(
                    obj, default=_unsupported, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE
                )
            except TypeError:
                pass
            else:
                return self._app.response_class(body, mimetype=self.mimetype)
        return super().response(*args, **kwargs)

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        # responses ask for compact separators, which is how orjson writes anyway
        if self.sort_keys or kwargs not in ({}, _COMPACT):
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_unsupported, option=_OPTIONS).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)
