"""The embedded engine: SQLite files in one data folder (`make run`'s default).

Three files keep identity, behavior and the access log physically apart
(vault.db, behavior.db, access_log.db), plus insights.db for the privacy budget and
subject_requests.db for the data-subject requests received in the console.
"""

from pathlib import Path

VAULT = "vault.db"
BEHAVIOR = "behavior.db"
ACCESS_LOG = "access_log.db"
INSIGHTS = "insights.db"
SUBJECT_REQUESTS = "subject_requests.db"  # the console's data-subject requests

WRITE_THREADS = 1  # one writer per file: a second thread would only wait for the lock
READS_ON_THREADS = False  # a read is a local page access: cheaper on the loop than a hop


def path_of(data_dir: Path, store: str) -> Path:
    """Where the engine keeps `store` (one of the names above) in a data folder."""
    return data_dir / store
