"""The follower behind `tactful audit stream`: a sink that is away makes it wait and try
again with a growing pause, and its cursor does not move until the lines went out."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from tactful.app import stores
from tactful.app.log_follower import Follower, load_cursor
from tactful.app.log_sinks import open_sink
from tactful.privacy.access_log_export import Cursor
from tactful.privacy.keyring import load_keyring
from tests.app.test_log_sinks import Listener, wait_for
from tests.conftest import make_settings
from tests.storage.contract.test_contract_access_log import SECOND, T0_US, entry


def free_port() -> int:
    probe = socket.create_server(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def test_a_socket_that_comes_up_late_gets_every_line_and_the_cursor_waits_for_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path / "data")
    keys = load_keyring(settings.keyring_path).signing
    log = stores.open_access_log(settings, keys)
    cursor = tmp_path / "cursor"
    port = free_port()
    stop = threading.Event()
    try:
        for i in range(1, 6):
            log.append([entry(i)], now_us=T0_US + i * SECOND)
        sink = open_sink(f"tcp://127.0.0.1:{port}")
        follower = Follower(log, sink, cursor, batch=100)
        runner = threading.Thread(target=follower.run, args=(stop,), kwargs={"interval_s": 0.05})
        runner.start()
        threading.Event().wait(0.3)  # it tried, failed, and waits
        assert load_cursor(cursor) == Cursor()  # nothing went out: nothing counted as sent
        listener = Listener(port=port)
        wait_for(lambda: follower.exported == 5, timeout=10)
        stop.set()
        runner.join(timeout=10)
    finally:
        stop.set()
        log.close()
    assert load_cursor(cursor).heads[""][0] == 5
    sink.close()
    wait_for(lambda: len(listener.received) == 1)
    listener.close()
    sequences = [
        line for line in listener.received[0].decode().splitlines() if '"access_record"' in line
    ]
    assert len(sequences) == 5
