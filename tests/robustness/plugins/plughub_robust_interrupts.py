"""A plugin that raises KeyboardInterrupt at import (no Ctrl-C was pressed): its failure only."""
raise KeyboardInterrupt
