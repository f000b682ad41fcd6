"""A plugin that calls sys.exit(3) at import: recorded as its failure, never the hub's exit."""
import sys

sys.exit(3)
