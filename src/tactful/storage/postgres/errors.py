"""PostgreSQL's errors, translated at the engine's edge into the domain's.

    psycopg error                                              domain error
    lock_not_available, query_canceled (statement_timeout),
      serialization_failure, deadlock_detected                 StoreBusy
    disk_full, out_of_memory, too_many_connections             StoreFull
    any other OperationalError, InterfaceError, InternalError:
      connection lost or refused, the pool's timeout, admin
      shutdown, I/O                                            StoreUnavailable

A ProgrammingError, IntegrityError or DataError is a bug in the engine, not the
database's state: it is left as it is (the server answers INTERNAL and logs it).

Nothing is retried here: a statement whose connection broke may or may not have
committed, and only the caller knows whether repeating it is harmless (reads are;
RecordEvents is not). The server turns each into UNAVAILABLE (api/errors.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import errors as pg

from tactful.privacy.errors import StoreBusy, StoreFull, StoreUnavailable
from tactful.storage.translate import translating

_BUSY = (pg.LockNotAvailable, pg.QueryCanceled, pg.SerializationFailure, pg.DeadlockDetected)
_FULL = (pg.DiskFull, pg.OutOfMemory, pg.TooManyConnections)


@contextlib.contextmanager
def map_postgres_errors() -> Iterator[None]:
    try:
        yield
    except (psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError) as exc:
        raise translated_error(exc) from exc


def translated_error(exc: psycopg.Error) -> StoreUnavailable:
    text = f"postgresql: {str(exc).strip() or type(exc).__name__}"
    if isinstance(exc, _BUSY):
        return StoreBusy(text)
    if isinstance(exc, _FULL):
        return StoreFull(text)
    return StoreUnavailable(text)


translated = translating(map_postgres_errors)
