"""``python -m kamsim``: the same as the ``kamsim`` command."""

import sys

from kamsim.apps.cli import main

sys.exit(main())
