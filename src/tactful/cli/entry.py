"""The `tactful` command's entry point: `tactful.cli.main`, or one line saying what
to install when the server is not installed.

`pip install tactful` is the client (tactful.client and the generated code: grpcio,
protobuf, googleapis-common-protos); the service's dependencies come with
`tactful[server]`. The command is installed either way, so without them it says so
instead of printing a traceback. Nothing here is imported by a running server.
"""

from __future__ import annotations

import sys

INSTALL_THE_SERVER = "pip install 'tactful[server]'"


def main() -> int:
    try:
        from tactful.cli.main import main as run
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "tactful":
            raise  # a broken install or a bug, not a missing extra: show it whole
        print(
            f"tactful: this install has the client only (no module named {missing!r}); "
            f"the tactful command needs the server: {INSTALL_THE_SERVER} "
            "('tactful[server,postgres]' for PostgreSQL)",
            file=sys.stderr,
        )
        return 1
    return run()
