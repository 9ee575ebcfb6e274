"""Time to first byte of the console's access-log page over a log of N records
(default 1,000,000), without a filter and with a subject filter.

Builds the log through the store itself, with subjects pseudonymized under a real
keyring (10,000 people, so one person has about 100 records spread over the whole
log), starts `tactful console` on 127.0.0.1 port 0 in this process, signs in, and
times each page from sending the request to its first byte: the unfiltered page
(GET), a subject search (POST), and its next page (GET by the search's handle).
Prints the query plans SQLite chose, and median and worst beside the target
(< 300 ms). Never fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from tactful.app.auth import hash_token  # noqa: E402
from tactful.app.config_file import load_settings  # noqa: E402
from tactful.app.settings import DEVELOPMENT_CONFIG  # noqa: E402
from tactful.cli.console import start_in_thread, with_listen  # noqa: E402
from tactful.privacy.access_log import AccessEntry, Decided  # noqa: E402
from tactful.privacy.keyring import create_keyring, load_keyring  # noqa: E402
from tactful.privacy.pseudonym import Pseudonymizer  # noqa: E402
from tactful.storage.sqlite.access_log import ABOUT_SUBJECTS, SqliteAccessLog  # noqa: E402

TARGET_MS = 300.0
PEOPLE = 10_000
TOKEN = "tf_bench-compliance"


def build(root: Path, records: int) -> None:
    keyring = create_keyring(root / "keyring.json", now=datetime.now(UTC))
    pseudonymizer = Pseudonymizer(keyring.pseudonym)
    people = [pseudonymizer.pseudonymize("email", f"user{n}@example.com") for n in range(PEOPLE)]
    log = SqliteAccessLog(root / "access_log.db", root / "access-log.checkpoints", keyring.signing)
    started = time.perf_counter()
    batch = 5000
    for start in range(0, records, batch):
        entries = [
            AccessEntry(
                time_us=1_800_000_000_000_000 + (start + i) * 1000,
                principal="web_frontend",
                role="frontend",
                method="tactful.v1.Personalization/GetSegments",
                purpose="onboarding",
                subjects=(str(people[(start + i) % PEOPLE]),),
                requested=(),
                released=("new_visitor",),
                decision=Decided.ALLOWED if (start + i) % 17 else Decided.DENIED,
                status="OK",
                reason="purpose onboarding releases these segments",
                request_id=f"{start + i:032x}",
                latency_us=850,
            )
            for i in range(min(batch, records - start))
        ]
        log.append(entries, now_us=start)
    log.checkpoint(now_us=records)
    log.close()
    print(f"built {records:,} records in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def plans(root: Path, subjects: tuple[str, ...]) -> None:
    """What SQLite does for the page's two queries (as the store writes them)."""
    queries = {
        "no filter": (
            "SELECT content FROM records WHERE sequence > ? ORDER BY sequence LIMIT ?",
            [0, 51],
        ),
        "subject": (
            f"SELECT content FROM records WHERE sequence > ? AND {ABOUT_SUBJECTS}"
            " ORDER BY sequence LIMIT ?",
            [0, 0, json.dumps(list(subjects)), 51],
        ),
    }
    with sqlite3.connect(root / "access_log.db") as conn:
        for name, (sql, params) in queries.items():
            steps = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            print(f"plan, {name}: {' / '.join(steps)}")


def first_byte_ms(client: httpx.Client, method: str, path: str, **kwargs: object) -> float:
    started = time.perf_counter()
    with client.stream(method, path, **kwargs) as reply:  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        body = reply.read().decode()
        assert reply.status_code == 200, body[:500]
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        root = Path(tmp)
        build(root, args.records)
        development = load_settings(DEVELOPMENT_CONFIG, {})
        principals = tuple(
            replace(p, token_sha256=hash_token(TOKEN)) if p.name == "compliance_officer" else p
            for p in development.principals
        )
        settings = with_listen(
            replace(development, data_dir=root, principals=principals), "127.0.0.1:0"
        )
        pseudonyms = Pseudonymizer(load_keyring(root / "keyring.json").pseudonym).resolve(
            "email", "user42@example.com"
        )
        plans(root, pseudonyms)
        running = start_in_thread(settings)
        try:
            with httpx.Client(base_url=running.url, timeout=60) as client:
                form = client.get("/sign-in").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
                client.post("/sign-in", data={"token": TOKEN, "csrf": csrf})
                page = client.get("/access-log").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
                search = {"csrf": csrf, "namespace": "email", "identifier": "user42@example.com"}
                found = client.post("/access-log", data=search).text
                handle = re.search(r"/access-log\.csv\?subject=([^\"&]+)", found).group(1)  # type: ignore[union-attr]
                after = re.findall(r'<a href="/records/(\d+)">', found)[-1]
                cases = {
                    "no filter (GET)": ("GET", "/access-log", {}),
                    "subject search (POST)": ("POST", "/access-log", {"data": search}),
                    "subject, next page (GET)": (
                        "GET",
                        f"/access-log?subject={handle}&after={after}",
                        {},
                    ),
                }
                for name, (method, path, kwargs) in cases.items():
                    times = [
                        first_byte_ms(client, method, path, **kwargs) for _ in range(args.repeat)
                    ]
                    worst = max(times)
                    verdict = "met" if worst < TARGET_MS else "MISSED"
                    print(
                        f"{name:<26} first byte: median {statistics.median(times):6.1f} ms, "
                        f"worst {worst:6.1f} ms over {args.repeat} (target < {TARGET_MS:.0f} ms: "
                        f"{verdict})"
                    )
        finally:
            running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
