"""A plugin whose import takes 2.5 s (PLUGHUB_ROBUST_SLOW_S): named on stderr as slow."""
import os
import time

time.sleep(float(os.environ.get("PLUGHUB_ROBUST_SLOW_S", "2.5")))
