"""A plugin whose import never ends (it waits on an event nobody sets)."""
import threading

threading.Event().wait()
