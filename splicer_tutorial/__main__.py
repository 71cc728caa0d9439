"""``python -m splicer_tutorial``: see :mod:`splicer_tutorial.cli`."""

import sys

from .cli import main

sys.exit(main())
