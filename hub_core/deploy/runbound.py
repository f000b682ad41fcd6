"""A time bound on every onnxruntime run: a graph read from a file can hold a Loop of 2^62
iterations, and ``hub predict``, ``evaluate`` or a server's batch would run it for ever.

One watchdog thread (a daemon, started on first use) keeps the deadline of every run in
flight and sets onnxruntime's ``RunOptions.terminate`` on a run that passes it; onnxruntime
checks the flag between kernels and inside Loop and Scan bodies, and the run fails. The
bound is ``PLUGHUB_RUN_TIMEOUT`` seconds (default 300; 0: none), far above any real
model's batch, so it only ever stops a graph that would not end.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

from hub_core.common.errors import ExportError

DEFAULT_S = 300.0


class RunTimeout(ExportError):
    """A graph ran past PLUGHUB_RUN_TIMEOUT and was stopped."""


def run_timeout() -> float:
    value = os.environ.get("PLUGHUB_RUN_TIMEOUT", str(DEFAULT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not (seconds >= 0 and seconds != float("inf")):
        from hub_core.common.errors import UsageError

        raise UsageError(f"PLUGHUB_RUN_TIMEOUT={value!r}: expected a number of seconds >= 0 (0: no bound)")
    return seconds


class _Watchdog:
    def __init__(self):
        self.changed = threading.Condition()
        self.runs: dict[int, tuple[float, object]] = {}  # id(RunOptions) -> (deadline, RunOptions)
        self.thread: threading.Thread | None = None

    def watch(self, options, seconds: float) -> None:
        with self.changed:
            self.runs[id(options)] = (time.monotonic() + seconds, options)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="plughub-run-watchdog", daemon=True)
                self.thread.start()
            self.changed.notify()

    def release(self, options) -> None:
        with self.changed:
            self.runs.pop(id(options), None)

    def _loop(self) -> None:
        with self.changed:
            while True:
                now = time.monotonic()
                for key, (deadline, options) in list(self.runs.items()):
                    if deadline <= now:
                        options.terminate = True
                        del self.runs[key]
                soonest = min((deadline for deadline, _ in self.runs.values()), default=None)
                self.changed.wait(None if soonest is None else max(0.0, soonest - now))


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def bounded_run(seconds: float):
    """onnxruntime RunOptions for one run, terminated by the watchdog after ``seconds`` (0: never)."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4  # the stopped run's error is ours to report, in one line
    if seconds:
        _WATCHDOG.watch(options, seconds)
    try:
        yield options
    finally:
        if seconds:
            _WATCHDOG.release(options)
