"""One worker of `tactful serve --workers N` (cli/workers.py starts it as
`python -m tactful.cli.worker`): the server `tactful serve` runs, given its settings
by the supervisor, saying when it serves, and stopping when the supervisor is gone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import sys
import threading

from tactful.api import logs
from tactful.cli.serve import _run, _say_json, _say_text
from tactful.cli.workers import Job


def serve(job: Job) -> None:
    def serving(port: int) -> None:
        os.write(job.ready_fd, b"serving\n")
        os.close(job.ready_fd)

    threading.Thread(target=_stop_when_supervisor_goes, daemon=True).start()
    if job.settings.log_format != "json":
        asyncio.run(_run(job.settings, [], _say_text, on_serving=serving))
        return
    with logs.json_everywhere():  # every line a JSON line, as `tactful serve`'s
        asyncio.run(_run(job.settings, [], _say_json, on_serving=serving))


def _stop_when_supervisor_goes() -> None:
    # The descriptor, not sys.stdin: a daemon thread inside a buffered read would hold
    # its lock while the interpreter shuts down, and that aborts the process.
    with contextlib.suppress(OSError):
        while os.read(sys.stdin.fileno(), 4096):
            pass
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    job: Job = pickle.load(sys.stdin.buffer)  # from the supervisor, our parent
    try:
        serve(job)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(f"{exc.code} (worker {job.index})", file=sys.stderr)
            return 1
        raise
    except Exception as exc:  # one line for the operator; the supervisor says what next
        print(f"tactful: worker {job.index}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
