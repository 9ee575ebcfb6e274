"""What every `tactful` process imports before it does anything. The suite starts the
command hundreds of times (servers, jobs, the CLI's own tests), and an operator's
cron job starts it every run: a library loaded and never used is paid each time."""

from __future__ import annotations

import subprocess
import sys

# Installed beside tactful in a development install (`make model` trains with
# scikit-learn) but used by no command: OpenDP's prelude would load them all.
UNUSED = ("sklearn", "scipy", "polars", "pandas", "ibis")


def test_the_command_line_loads_no_library_it_does_not_use() -> None:
    program = (
        "import sys\n"
        "import tactful.cli.main\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(done.stdout.split())
    assert "tactful" in loaded
    assert not loaded & set(UNUSED), sorted(loaded & set(UNUSED))
