"""Ending a `hub` process without tearing its modules down.

Once torch (and with it torch._dynamo, which torch.optim imports) is loaded, the interpreter's
own finalisation, which frees every module and object one by one, takes 1-2 s: a fifth of a short
fine-tune on cached features. Everything a normal exit does that a user can observe is done first,
in the interpreter's own order: other threads joined, atexit handlers run (weakref finalizers such
as temporary directories, multiprocessing's children, coverage), standard streams flushed. What is skipped is
freeing memory the operating system takes back anyway.
"""
import atexit
import os
import sys
import threading


THREAD_WAIT_S = 10.0  # how long the other (non-daemon) threads get to finish, together


def exit_now(code: int) -> None:
    """Exit with ``code`` as a normal exit would, minus the module teardown. Other threads get
    THREAD_WAIT_S to finish, together: a plugin's thread that never ends (started at import,
    not a daemon) would otherwise hold every command open for ever."""
    import time

    deadline = time.monotonic() + THREAD_WAIT_S
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                sys.stderr.write(f"hub: thread {thread.name!r} still runs after {THREAD_WAIT_S:g} s; exiting without it\n")
    atexit._run_exitfuncs()  # noqa: SLF001 - private, but the interpreter's own exit step in every CPython 3
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`hub list | head`) or a closed stream: nothing to flush to
            pass
    os._exit(code)
