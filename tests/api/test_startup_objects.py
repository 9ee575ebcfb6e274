"""What start builds is exempt from the collector's full passes: they walked ~140,000
objects that live as long as the process, every few dozen batches of events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A process of its own: the freeze is once per process, and this one's may be done.
SERVE_ONCE = """
import asyncio, gc, sys
from pathlib import Path
from tactful.api.server import create_server
from tests.conftest import make_settings

async def main() -> None:
    frozen_before = gc.get_freeze_count()
    running = await create_server(make_settings(Path(sys.argv[1])))
    frozen = gc.get_freeze_count()
    await running.stop()
    print(frozen_before, frozen, len(gc.get_objects()))

asyncio.run(main())
"""


def test_start_exempts_what_it_built_from_full_collections(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", SERVE_ONCE, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    frozen_before, frozen, collectable = map(int, done.stdout.split())
    assert frozen_before == 0
    # The contract, the stores and the classifier's tables at least; few others remain.
    assert frozen > 50_000
    assert collectable < frozen
