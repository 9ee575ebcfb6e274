"""The sinks of `tactful audit stream`: a file that survives logrotate (create and
copytruncate) and a crash mid-line, RFC 5424 syslog over UDP and TCP, and a TCP socket
that is reconnected, each against a listener the test starts on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tactful.app.log_sinks import FileSink, SocketSink, SyslogSink, open_sink
from tactful.app.settings import ConfigError

LINES = [json.dumps({"type": "access_record", "sequence": n}) for n in (1, 2, 3)]
RFC5424 = re.compile(
    r"<(?P<pri>\d+)>1 (?P<time>\S+) (?P<host>\S+) tactful-audit (?P<pid>\d+) "
    r"(?P<msgid>\S+) - (?P<msg>.*)\Z"
)


def test_a_file_renamed_by_logrotate_create_is_followed_by_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "access.jsonl"
    sink = FileSink(path)
    sink.write(LINES[:1])
    path.rename(tmp_path / "access.jsonl.1")  # logrotate's create: rename, then ...
    sink.write(LINES[1:])
    sink.close()
    assert (tmp_path / "access.jsonl.1").read_text().splitlines() == LINES[:1]
    assert path.read_text().splitlines() == LINES[1:]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_file_emptied_by_copytruncate_goes_on_from_its_new_start(tmp_path: Path) -> None:
    path = tmp_path / "access.jsonl"
    sink = FileSink(path)
    sink.write(LINES[:2])
    os.truncate(path, 0)  # logrotate's copytruncate: the copy is made, the file emptied
    sink.write(LINES[2:])
    sink.close()
    assert path.read_bytes() == (LINES[2] + "\n").encode()  # no hole of zeros before it


def test_reopen_opens_the_path_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP: for a rotation the sink cannot see (a new file that reused the old
    one's inode number once the old one was deleted)."""
    path = tmp_path / "access.jsonl"
    sink = FileSink(path)
    moved = tmp_path / "old.jsonl"
    path.rename(moved)
    path.touch()
    monkeypatch.setattr(sink, "_rotated", lambda: False)
    sink.reopen()
    sink.write(LINES[:1])
    sink.close()
    assert path.read_text().splitlines() == LINES[:1] and moved.read_text() == ""


def test_a_line_cut_by_a_crash_is_dropped_when_the_file_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "access.jsonl"
    path.write_text(LINES[0] + "\n" + LINES[1][:7])
    sink = FileSink(path)
    sink.write(LINES[1:])
    sink.close()
    assert path.read_text().splitlines() == LINES
    assert FileSink(path).tail() == [*LINES, ""]


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    yield listener
    listener.close()


def test_syslog_over_udp_is_one_rfc_5424_message_per_line(udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    sink = open_sink(f"syslog:udp://127.0.0.1:{port}")
    sink.write(LINES)
    sink.close()
    messages = [udp.recv(65536).decode() for _ in LINES]
    parsed = [RFC5424.match(m) for m in messages]
    assert all(parsed), messages
    assert [p["msg"] for p in parsed if p] == LINES
    assert {p["pri"] for p in parsed if p} == {"86"}  # authpriv.info
    assert {p["msgid"] for p in parsed if p} == {"access_record"}


class Listener:
    """A TCP server on 127.0.0.1 that keeps what every connection sent."""

    def __init__(self, *, close_after_first: bool = False, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        self._close_after_first = close_after_first
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                data = b""
                while chunk := connection.recv(65536):
                    data += chunk
                    if self._close_after_first and self.connections == 1 and data.endswith(b"\n"):
                        break
                self.received.append(data)

    def close(self) -> None:
        self.server.close()


def wait_for(condition: object, timeout: float = 5.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if callable(condition) and condition():
            return
        event.wait(0.02)
    raise AssertionError("timed out")


def test_syslog_over_tcp_is_octet_counted() -> None:
    listener = Listener()
    sink = open_sink(f"syslog:tcp://127.0.0.1:{listener.port}")
    assert isinstance(sink, SyslogSink)
    sink.write(LINES)
    sink.close()
    wait_for(lambda: listener.received)
    data, messages = listener.received[0], []
    while data:
        length, _, rest = data.partition(b" ")
        messages.append(rest[: int(length)].decode())
        data = rest[int(length) :]
    assert [RFC5424.match(m)["msg"] for m in messages] == LINES  # type: ignore[index]
    listener.close()


def test_the_socket_sink_sends_newline_delimited_json_and_reconnects() -> None:
    listener = Listener(close_after_first=True)
    sink = open_sink(f"tcp://127.0.0.1:{listener.port}")
    assert isinstance(sink, SocketSink)
    sink.write(LINES[:1])
    wait_for(lambda: listener.received)  # the listener hung up after the first line
    sink.write(LINES[1:])  # into a new connection, not lost into the closed one
    sink.close()
    wait_for(lambda: len(listener.received) == 2)
    assert listener.connections == 2
    assert b"".join(listener.received).decode().splitlines() == LINES
    listener.close()


def test_a_socket_nobody_listens_on_raises() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    sink = open_sink(f"tcp://127.0.0.1:{port}")
    with pytest.raises(OSError):
        sink.write(LINES)


@pytest.mark.parametrize(
    "target", ["syslog:udp://host", "syslog:ftp://h:1", "tcp://:9", "https://x/y", ""]
)
def test_a_target_that_names_no_sink_is_refused(target: str) -> None:
    with pytest.raises(ConfigError, match="--to"):
        open_sink(target)
