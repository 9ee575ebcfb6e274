"""What someone holding the PostgreSQL database (not the signing key) can do to the
access log: tests/storage/engines.py's AccessLogAttacker over the engine's tables,
`sequence` being the global sequence; and, beyond it, what only many chains allow
(a whole chain dropped, records moved between chains)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from tactful.privacy.access_log_epochs import chain_genesis
from tests.storage.engines import StoredRecord

_END = 2**62


class PostgresAttacker:
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def row(self, sequence: int) -> StoredRecord:
        found = self._conn.execute(
            "SELECT content, previous_hash, record_hash, mac FROM access_log_records"
            " WHERE sequence = %s",
            [sequence],
        ).fetchone()
        assert found is not None, sequence
        return StoredRecord(*found)

    def sequences(self) -> list[int]:
        rows = self._conn.execute("SELECT sequence FROM access_log_records ORDER BY sequence")
        return [r[0] for r in rows]

    def genesis(self, sequence: int) -> str:
        return chain_genesis(self.chain_of(sequence))

    def same_chain(self, sequence: int, other: int) -> bool:
        return self.chain_of(sequence) == self.chain_of(other)

    def update(
        self,
        sequence: int,
        *,
        content: str | None = None,
        previous_hash: str | None = None,
        record_hash: str | None = None,
        mac: str | None = None,
    ) -> None:
        changes = {
            "content": content,
            "previous_hash": previous_hash,
            "record_hash": record_hash,
            "mac": mac,
        }
        for column, value in changes.items():
            if value is not None:
                self._conn.execute(
                    f"UPDATE access_log_records SET {column} = %s WHERE sequence = %s",  # type: ignore[arg-type]
                    [value, sequence],
                )

    def delete(self, first: int, last: int | None = None) -> None:
        upto = first if last is None else (_END if last == -1 else last)
        self._conn.execute(
            "DELETE FROM access_log_records WHERE sequence BETWEEN %s AND %s", [first, upto]
        )

    def insert(self, sequence: int, record: StoredRecord, chain: str | None = None) -> None:
        """Into `chain`, or the chain of the record before it."""
        if chain is None:
            found = self._conn.execute(
                "SELECT chain_id FROM access_log_records WHERE sequence < %s"
                " ORDER BY sequence DESC LIMIT 1",
                [sequence],
            ).fetchone()
            chain = found[0] if found else self.chains()[0]
        self._conn.execute(
            "INSERT INTO access_log_records"
            " (sequence, chain_id, content, previous_hash, record_hash, mac)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [sequence, chain, record.content, record.previous_hash, record.record_hash, record.mac],
        )

    def renumber(self, first: int, by: int) -> None:
        # Through negative numbers: the sequence is unique at every step.
        self._conn.execute(
            "UPDATE access_log_records SET sequence = -sequence WHERE sequence >= %s", [first]
        )
        self._conn.execute(
            "UPDATE access_log_records SET sequence = %s - sequence WHERE sequence < 0", [by]
        )

    def checkpoint_rows(self) -> list[str]:
        return [
            r[0] for r in self._conn.execute("SELECT line FROM access_log_epochs ORDER BY epoch")
        ]

    def replace_checkpoint_row(self, old: str, new: str) -> None:
        changed = self._conn.execute(
            "UPDATE access_log_epochs SET line = %s WHERE line = %s", [new, old]
        ).rowcount
        assert changed == 1

    def delete_checkpoint_row(self, sequence: int) -> None:
        deleted = self._conn.execute(
            "DELETE FROM access_log_epochs WHERE line LIKE %s", [f'%"sequence": {sequence},%']
        ).rowcount
        assert deleted == 1

    def drop_subject(self, sequence: int, subject: str) -> None:
        deleted = self._conn.execute(
            "DELETE FROM access_log_subjects WHERE sequence = %s AND subject = %s",
            [sequence, subject],
        ).rowcount
        assert deleted == 1

    def add_subject(self, sequence: int, subject: str) -> None:
        self._conn.execute(
            "INSERT INTO access_log_subjects (subject, sequence) VALUES (%s, %s)",
            [subject, sequence],
        )

    # -- many chains ------------------------------------------------------------------------

    def chains(self) -> list[str]:
        """Every chain, in the order its first record was written (empty ones last)."""
        rows = self._conn.execute(
            "SELECT c.chain_id FROM access_log_chains c LEFT JOIN access_log_records r"
            " USING (chain_id) GROUP BY c.chain_id ORDER BY min(r.sequence) NULLS LAST"
        )
        return [r[0] for r in rows]

    def chain_of(self, sequence: int) -> str:
        found = self._conn.execute(
            "SELECT chain_id FROM access_log_records WHERE sequence = %s", [sequence]
        ).fetchone()
        assert found is not None, sequence
        return str(found[0])

    def drop_chain(self, chain: str) -> None:
        """Every record of `chain`, and the chain's registration with them."""
        self._conn.execute("DELETE FROM access_log_records WHERE chain_id = %s", [chain])
        self._conn.execute("DELETE FROM access_log_chains WHERE chain_id = %s", [chain])
        self._conn.execute("DELETE FROM access_log_heads WHERE chain_id = %s", [chain])

    def move(self, sequences: list[int], chain: str) -> None:
        self._conn.execute(
            "UPDATE access_log_records SET chain_id = %s WHERE sequence = ANY(%s)",
            [chain, sequences],
        )

    def delete_epoch(self, number: int) -> None:
        deleted = self._conn.execute(
            "DELETE FROM access_log_epochs WHERE epoch = %s", [number]
        ).rowcount
        assert deleted == 1


@contextmanager
def postgres_attacker(url: str) -> Iterator[PostgresAttacker]:
    """The attacker's connection to the database at `url`; committed on leaving."""
    with psycopg.connect(url) as conn:
        yield PostgresAttacker(conn)
