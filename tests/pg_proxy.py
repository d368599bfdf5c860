"""A TCP proxy that fails PostgreSQL at the worst moment, for the tests of `run` and `deliver` that a store
failing must not make send twice or lose anything."""
from __future__ import annotations

import socket
import threading


class CommitCutter:
    """A TCP proxy in front of PostgreSQL that, once armed with some bytes, lets the first transaction that sends
    them commit and cuts both connections as the server's answer to COMMIT comes back (its CommandComplete tag),
    before the client reads it: a commit the server made and the client cannot know of (a network or a server
    failing at that moment). Every later connection goes through untouched."""

    def __init__(self, upstream=("127.0.0.1", 5432)):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.marker: bytes | None = None
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes) -> None:
        self.marker = marker

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            seen = threading.Event()  # this connection sent the marker since the proxy was armed
            threading.Thread(target=self._pump, args=(client, server, seen, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, seen, True), daemon=True).start()

    def _pump(self, src, dst, seen, answers: bool) -> None:
        try:
            while data := src.recv(65536):
                if not answers and self.marker is not None and not self.cut.is_set() and self.marker in data:
                    seen.set()
                if answers and seen.is_set() and not self.cut.is_set() and b"COMMIT\x00" in data:
                    self.cut.set()
                    break  # (the answer is dropped: both ends are closed below)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()
