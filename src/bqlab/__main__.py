"""``python -m bqlab``."""

import sys

from bqlab.cli import main

sys.exit(main())
