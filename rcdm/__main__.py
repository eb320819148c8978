"""``python -m rcdm`` runs the ``rcdm`` command."""

import sys

from rcdm.cli import entry

sys.exit(entry())
