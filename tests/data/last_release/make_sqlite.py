"""Make the SQLite data folder of the last release (tests/data/last_release/sqlite/).

Run with the code of the last release, f7afa40 (before the move under src/tactful):

    git archive f7afa40 | (mkdir /tmp/last-release && tar -x -C /tmp/last-release)
    .venv/bin/python tests/data/last_release/make_sqlite.py /tmp/last-release \\
        tests/data/last_release/sqlite

(`git worktree add /tmp/last-release f7afa40` works as well.) It drives that code's
own `tactful` command and client: `keys init`, `tokens issue`, `serve`, a consent
and two events for ada@example.com and one event for grace@example.com, a stop
(which signs the last checkpoint), `subjects export` and `audit verify`. What that
code printed is kept beside the folder (expected.json) for the test to compare.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

CONFIG = """\
# The last release's data folder, made by make_sqlite.py. Test keys only.
listen = "127.0.0.1:0"
data_dir = "data"
contract = "contract.toml"
min_segment_size = 1

[access_log]
checkpoint_every = 3

[[principals]]
name = "web_frontend"
roles = ["frontend"]
purposes = ["membership"]
"""

CONTRACT = """\
# Kept for a century and released whatever the date: the folder must still hold its
# person, and release the same segment, whenever the test runs.
version = 1

[events.page_viewed]
description = "A page of the product was shown."
attributes.path = { type = "string", max_length = 512 }

[events.signup_started]
description = "The sign-up form was opened."
attributes.plan = { type = "enum", values = ["free", "trial", "pro"] }

[signals.plan]
description = "The plan chosen when sign-up started."
kind = "last_value"
event = "signup_started"
attribute = "plan"

[segments.new_visitor]
description = "First seen within the last 24 hours."

[segments.returning_visitor]
description = "First seen more than 24 hours ago."

[segments.trial_member]
description = "Started a sign-up on the trial plan."
rule = { signal = "plan", op = "==", value = "trial" }

[purposes.membership]
description = "Adapt the pages to the plan a person chose."
legal_basis = "consent"
collects = ["page_viewed", "signup_started"]
releases_segments = ["trial_member"]
releases_signals = ["plan"]
principals = ["web_frontend"]
retention = "36500d"
undeclared_attributes = "reject"
"""


def main(old: Path, out: Path) -> None:
    make(old, out, {})
    (out / "data" / "serve.lock").unlink(missing_ok=True)


def make(old: Path, out: Path, storage: dict[str, str]) -> None:
    """The folder, made by the release at `old`; `storage`: TACTFUL_STORAGE_URL and
    TACTFUL_VAULT_URL for PostgreSQL (nothing: SQLite, in the folder)."""
    old = old.resolve()
    sys.path[:0] = [str(old), str(old / "proto")]
    from tactful.client import Event, Subject, connect  # the old release's client

    assert Path(connect.__code__.co_filename).is_relative_to(old), "not the old client"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "tactful.toml").write_text(CONFIG)
    (out / "contract.toml").write_text(CONTRACT)
    config = str((out / "tactful.toml").resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACTFUL_")}
    env |= storage | {"PYTHONPATH": f"{old}{os.pathsep}{old / 'proto'}"}

    def tactful(*argv: str) -> str:
        ran = subprocess.run(
            [sys.executable, "-m", "server.cli", *argv, "--config", config],
            capture_output=True, text=True, cwd=old, env=env, check=True, timeout=120,
        )  # fmt: skip
        return ran.stdout

    if storage:
        tactful("db", "migrate")
    tactful("keys", "init")
    token = tactful("tokens", "issue", "web_frontend").splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--config", config],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=old, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    for line in server.stdout:
        found = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if found:
            break
    else:
        raise SystemExit("the old server stopped before listening")
    ada, grace = Subject("email", "ada@example.com"), Subject("email", "grace@example.com")
    with connect(found.group(1), token, plaintext=True) as client:
        for person in (ada, grace):
            client.consent(person, "membership", True, "tests/last_release")
        client.record(
            "membership",
            [
                Event(ada, "page_viewed", attributes={"path": "/pricing"}),
                Event(ada, "signup_started", attributes={"plan": "trial"}),
                Event(grace, "page_viewed", attributes={"path": "/"}),
            ],
        )
        segments = client.segments(ada, "membership").segments
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    server.stdout.close()
    assert segments == ("trial_member",), segments
    exported = json.loads(tactful("subjects", "export", "--namespace", "email", "--id", ada.id))
    verified = tactful("audit", "verify")  # last: what it says is what the folder holds
    expected = {
        "token": token,
        "segments": list(segments),
        "audit_verify": verified,
        "export": exported,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
