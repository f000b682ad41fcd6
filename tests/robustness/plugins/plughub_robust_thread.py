"""A plugin that starts a thread at import that never ends and is not a daemon."""
import threading

threading.Thread(target=threading.Event().wait, name="plughub-robust-forever").start()
