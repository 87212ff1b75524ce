"""``python -m losskit SUBCOMMAND`` is the same as the ``losskit`` script."""

import sys

from .cli import main

sys.exit(main())
