"""`tactful audit verify` speed on a log of N records (default 1,000,000).

Builds the log through the store itself (the same chain and checkpoints the
server writes), then times a full verification in a fresh process state.
Prints records/s beside the target (>= 500,000 records/s). Never fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tactful.privacy.access_log import AccessEntry, Decided  # noqa: E402
from tactful.privacy.keyring import create_keyring  # noqa: E402
from tactful.storage.sqlite.access_log import SqliteAccessLog  # noqa: E402

TARGET = 500_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        root = Path(tmp)
        keys = create_keyring(root / "keyring.json", now=datetime.now(UTC)).signing
        log = SqliteAccessLog(root / "access_log.db", root / "checkpoints", keys)
        started = time.perf_counter()
        batch = 5000
        for start in range(0, args.records, batch):
            entries = [
                AccessEntry(
                    1_800_000_000_000_000 + start + i,
                    "web_frontend",
                    "frontend",
                    "tactful.v1.Personalization/GetSegments",
                    "onboarding",
                    (f"hmac-sha256:v1:{(start + i) % 10_000:064x}",),
                    (),
                    ("new_visitor",),
                    Decided.ALLOWED,
                    "OK",
                    "purpose onboarding releases these segments",
                    f"{start + i:032x}",
                    850,
                )
                for i in range(min(batch, args.records - start))
            ]
            log.append(entries, now_us=start)
        log.checkpoint(now_us=args.records)
        log.close()
        built = time.perf_counter() - started
        print(f"built {args.records:,} records in {built:.1f} s", file=sys.stderr)

        log = SqliteAccessLog(root / "access_log.db", root / "checkpoints", keys)
        started = time.perf_counter()
        result = log.verify()
        elapsed = time.perf_counter() - started
        log.close()
    rate = result.records / elapsed
    print(
        f"audit verify: {result.records:,} records in {elapsed:.2f} s = {rate:,.0f} records/s"
        f" (intact={result.intact})"
    )
    verdict = "met" if rate >= TARGET else f"MISSED ({rate / TARGET:.2f} of it)"
    print(f"target >= {TARGET:,} records/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
