"""How the API names jobs, models and datasets in paths and bodies."""

from __future__ import annotations

import re

#: A model name: the contract's rule (``@`` is kept for ``name@version``).
NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
#: Anything that names a job or a model in a path: an id, a name, or name@version.
REF_PATTERN = NAME_PATTERN + r"(?:@[0-9]{1,9})?"
REF_RE = re.compile(REF_PATTERN)
NAME_RE = re.compile(f"^{NAME_PATTERN}$")
