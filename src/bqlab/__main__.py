"""``python -m bqlab``."""

from bqlab.cli import run

run()
