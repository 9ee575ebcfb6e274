"""Where the streamed access log goes (privacy/access_log_export.py): a file, syslog,
or a TCP socket, each named by one target string.

    file:/var/log/tactful/access.jsonl   (or just a path) one JSON line per line,
                                         fsynced; reopened on SIGHUP, or when the
                                         path names another file (rotated away)
    syslog:udp://HOST:514                RFC 5424, one datagram per line
    syslog:tcp://HOST:601                RFC 5424, octet-counted frames (RFC 6587)
    syslog:/dev/log                      the local daemon's socket, as the standard
                                         library's SysLogHandler writes to it
    tcp://HOST:PORT                      newline-delimited JSON over TCP

A write either hands every line over (fsync, or the kernel's socket buffer) or raises
OSError; a broken connection is dropped and made again on the next write, which the
follower retries with a growing pause.
"""

from __future__ import annotations

import json
import os
import select
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from tactful.app.settings import ConfigError

# RFC 5424 facility 10 (authpriv, security and authorization messages), severity 6 (info)
_PRIORITY = 10 * 8 + 6
_APP = "tactful-audit"
_TIMEOUT_S = 10.0


class FileSink:
    """Appends to a file, mode 0600. Rotation: logrotate's `create` renames the file
    (the next write sees the path names a new file, or none, and opens it); its
    `copytruncate` empties it in place (appends go on at its new end)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reopen = False
        self._fd = -1
        self._open()
        self._drop_torn_line()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        stat = os.fstat(self._fd)
        self._identity = (stat.st_dev, stat.st_ino)

    def _drop_torn_line(self) -> None:
        """A last line without its newline was cut by a crash mid-write and never
        acknowledged (the cursor did not move past it): it is written again whole."""
        size = os.fstat(self._fd).st_size
        if not size:
            return
        with self.path.open("rb") as file:
            file.seek(max(0, size - 1))
            if file.read(1) == b"\n":
                return
            start = max(0, size - (1 << 20))
            file.seek(start)
            kept = file.read().rfind(b"\n") + 1
        os.truncate(self.path, start + kept if kept else 0)

    def reopen(self) -> None:
        """Open the path again before the next write (SIGHUP, after a rotation)."""
        self._reopen = True

    def _rotated(self) -> bool:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return True
        return (stat.st_dev, stat.st_ino) != self._identity

    def write(self, lines: Sequence[str]) -> None:
        if self._reopen or self._rotated():
            os.close(self._fd)
            self._reopen = False
            self._open()
        data = "".join(line + "\n" for line in lines).encode()
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])
        os.fsync(self._fd)

    def tail(self, size: int = 4 << 20) -> list[str]:
        """The last whole lines of the file (at most `size` bytes of them)."""
        with self.path.open("rb") as file:
            end = file.seek(0, os.SEEK_END)
            file.seek(max(0, end - size))
            lines = file.read().decode(errors="replace").split("\n")
        return lines[1:] if end > size else lines

    def close(self) -> None:
        os.close(self._fd)


class _Stream:
    """A TCP connection made on demand, dropped on any error."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._socket: socket.socket | None = None

    def send(self, data: bytes) -> None:
        if self._socket is not None and self._peer_closed(self._socket):
            self.close()  # a send would "succeed" into a connection the peer has left
        if self._socket is None:
            self._socket = socket.create_connection(self._address, timeout=_TIMEOUT_S)
        try:
            self._socket.sendall(data)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @staticmethod
    def _peer_closed(connection: socket.socket) -> bool:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        try:
            return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


class SocketSink:
    """Newline-delimited JSON over TCP (Vault's socket audit device, Logstash's or
    Vector's `tcp` source with a newline codec)."""

    def __init__(self, host: str, port: int) -> None:
        self._stream = _Stream(host, port)

    def write(self, lines: Sequence[str]) -> None:
        self._stream.send("".join(line + "\n" for line in lines).encode())

    def reopen(self) -> None:
        self._stream.close()

    def close(self) -> None:
        self._stream.close()


def syslog_message(line: str, *, hostname: str, pid: int, now: datetime) -> str:
    """One line as an RFC 5424 message: its type as MSGID, the JSON as MSG.

    >>> syslog_message('{"type": "checkpoint"}', hostname="h", pid=7,
    ...                now=datetime(2026, 1, 2, tzinfo=UTC))
    '<86>1 2026-01-02T00:00:00+00:00 h tactful-audit 7 checkpoint - {"type": "checkpoint"}'
    """
    kind = str(json.loads(line).get("type", "-"))
    return f"<{_PRIORITY}>1 {now.isoformat()} {hostname} {_APP} {pid} {kind} - {line}"


class SyslogSink:
    """RFC 5424 messages over UDP (one datagram each: lost without a word if nothing
    listens, as UDP is), TCP (octet counting, RFC 6587) or a local socket."""

    def __init__(self, transport: str, address: str | tuple[str, int]) -> None:
        self._transport = transport
        self._address = address
        self._stream = _Stream(*address) if isinstance(address, tuple) else None
        self._hostname = socket.gethostname()
        self._datagrams: socket.socket | None = None

    def write(self, lines: Sequence[str]) -> None:
        now, pid = datetime.now(UTC), os.getpid()
        if self._transport == "unix":
            for line in lines:
                self._send_local(f"<{_PRIORITY}>{_APP}[{pid}]: {line}".encode())
            return
        messages = [
            syslog_message(line, hostname=self._hostname, pid=pid, now=now).encode()
            for line in lines
        ]
        if self._transport == "tcp":
            assert self._stream is not None
            self._stream.send(b"".join(b"%d %s" % (len(m), m) for m in messages))
            return
        if self._datagrams is None:
            self._datagrams = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for message in messages:
            self._datagrams.sendto(message, self._address)

    def _send_local(self, message: bytes) -> None:
        if self._datagrams is None:
            self._datagrams = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._datagrams.sendto(message, str(self._address))
        except OSError:
            self._datagrams.close()
            self._datagrams = None
            raise

    def reopen(self) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._datagrams is not None:
            self._datagrams.close()
            self._datagrams = None


Sink = FileSink | SocketSink | SyslogSink


def open_sink(target: str) -> Sink:
    """The sink a target names (see the module docstring); ConfigError if none."""
    if target.startswith("syslog:"):
        rest = target.removeprefix("syslog:")
        if rest.startswith("/"):
            return SyslogSink("unix", rest)
        scheme, host, port = _host_port(rest, target, ("udp", "tcp"))
        return SyslogSink(scheme, (host, port))
    if target.startswith("tcp://"):
        _, host, port = _host_port(target, target, ("tcp",))
        return SocketSink(host, port)
    path = target.removeprefix("file:")
    if not path or "://" in path:
        raise ConfigError(
            f"--to {target!r}: give file:PATH, syslog:udp://HOST:PORT, syslog:tcp://HOST:PORT,"
            " syslog:/dev/log or tcp://HOST:PORT"
        )
    return FileSink(Path(path))


def _host_port(url: str, target: str, schemes: tuple[str, ...]) -> tuple[str, str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in schemes or not parts.hostname or port is None:
        raise ConfigError(
            f"--to {target!r}: expected {' or '.join(s + '://HOST:PORT' for s in schemes)}"
        )
    return parts.scheme, parts.hostname, port
