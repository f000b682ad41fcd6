"""uvicorn's h11 protocol with two guards a public server needs.

Header timeout: uvicorn bounds only the idle time between requests (``timeout_keep_alive``);
a client that opens a connection and trickles its headers a byte at a time holds it for ever
(150 such clients exhaust a server). Here a request's headers must be complete within
HEADER_TIMEOUT_S of the connection opening, or of the previous response; else the connection
is closed.

Draining: on SIGTERM uvicorn closes every idle keep-alive connection at once, racing the
client that is sending its next request on it: the request is lost (a reset, no answer).
Here an idle connection stays open; a request that arrives on it is answered with
``Connection: close``, and one that never comes is closed by the keep-alive timeout as usual.
The listening socket is closed first, so the drain ends within ``timeout_keep_alive``.
"""
from __future__ import annotations

import os

from uvicorn.protocols.http.h11_impl import H11Protocol

CLOSE_HEADER = (b"connection", b"close")

HEADER_TIMEOUT_S = 10.0
HEADER_TIMEOUT_ENV = "PLUGHUB_HEADER_TIMEOUT_S"  # set by hub serve --header-timeout (worker processes inherit it)


class GuardedH11(H11Protocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.draining, self.header_timer = False, None
        self.header_timeout_s = float(os.environ.get(HEADER_TIMEOUT_ENV) or HEADER_TIMEOUT_S)
        self._await_headers()

    def _await_headers(self) -> None:
        self._stop_header_timer()
        self.header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request headers took over %gs", self.header_timeout_s)
            self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request's headers arrived: its cycle began
            self._stop_header_timer()
            if self.draining:
                self._last_on_connection()

    def _last_on_connection(self) -> None:
        """The cycle's response says ``Connection: close`` (uvicorn adds it when the request
        has it) and the connection closes after it: the client sends nothing more on it."""
        self.cycle.scope["headers"].append(CLOSE_HEADER)
        self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._await_headers()
        super().on_response_complete()

    def connection_lost(self, exc) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server is draining: finish the request in flight, answer the next one, then close."""
        self.draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            if not self.cycle.response_started:
                self._last_on_connection()
            # else its headers are out without 'close': the connection stays open for one more request
        elif self.timeout_keep_alive_task is None and self.header_timer is None:
            super().shutdown()  # no timer would end it: close now
        # else idle between requests: the keep-alive or header timer closes it, unless a request comes first
