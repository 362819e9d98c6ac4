"""How jobs, models and datasets are named, in the API's paths and bodies and in the store.

A name is checked with ``fullmatch``: ``re.match`` with ``^...$`` accepts a trailing
newline (``$`` matches before it), and a name stored so could never be named again.
"""

from __future__ import annotations

import re

#: A model name: the contract's rule (``@`` is kept for ``name@version``).
NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
#: what a refused name is told
NAME_RULE = "1 to 64 characters from letters, digits, '.', '_' and '-'."
#: A model's version number.
VERSION_PATTERN = r"[0-9]{1,9}"
#: Anything that names a job or a model in a path: an id, a name, or name@version.
REF_PATTERN = NAME_PATTERN + f"(?:@{VERSION_PATTERN})?"
REF_RE = re.compile(REF_PATTERN)
NAME_RE = re.compile(NAME_PATTERN)


def anchored(pattern: str) -> str:
    """``pattern`` as OpenAPI shows it: its ECMAScript ``$`` matches at the very end only,
    as ``fullmatch`` does."""
    return f"^{pattern}$"
