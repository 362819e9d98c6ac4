"""``python -m registry.settings --markdown``: the configuration reference."""

import sys

from registry.settings_reference import markdown

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m registry.settings --markdown > docs/configuration.md")
sys.stdout.write(markdown())
