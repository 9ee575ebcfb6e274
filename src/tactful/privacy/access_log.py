"""The access log: one record per access, chained, with signed checkpoints.

Each record carries the SHA-256 of the previous record's hash and its own
canonical encoding, so changing, removing, inserting or reordering a record
breaks the chain from that point on. Every N records (or T seconds) a
checkpoint (sequence, record hash, time) is signed with the keyring's Ed25519
key and written both to the database and to a file outside it: whoever holds
only the database cannot recompute history to match.

Old records leave only through a signed truncation checkpoint naming the first
record kept and the hash it chains from, so verification still passes after.

A record is stored as its canonical encoding, a compact JSON array of its
fields in a fixed order; the columns used for queries are generated from it by
the database, so they cannot disagree with what the hash covers, and
verification only has to hash what it reads.

Two encodings exist. Version 1 (14 fields) named at most one subject. Version 2
(18 fields) appends where the request id came from, how the caller
authenticated, the SHA-256 of its client certificate if it presented one, and
the subjects after the first, for a call about several people (a RecordEvents
batch): the first keeps version 1's place, so the one-subject query column and
its index serve both, and only the rare further subjects need an index of their
own. Version 3 (19 fields) appends the key that authenticates the record,
"hmac-sha256:v<N>": a MAC of its record hash under a key derived from signing key
version N, stored beside it (`mac`). Whoever holds the database but not the keyring
cannot write a record that verifies, nor strip a record's MAC (its content names
the key). Records are written in version 3 and read in any: what a hash covers is
never re-encoded. A record written before version 3 carries no MAC; verification
counts it as unauthenticated and says so, and fails on one that follows an
authenticated record of its chain.

A chain may end with a closing record (method CLOSE_METHOD, principal "tactful"):
a record after it was appended to a closed chain, and verification names it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from tactful.privacy import _crypto
from tactful.privacy.errors import PrivacyError
from tactful.privacy.keyring import Keys
from tactful.timestamps import from_us

GENESIS_HASH = "0" * 64
ANONYMOUS = "anonymous"
CLOSE_METHOD = "tactful.access_log/CloseChain"  # a chain's last record
_MAC_ALGORITHM = "hmac-sha256"


class AccessLogUnavailable(PrivacyError):
    """The record could not be written durably; nothing may be released."""


class AccessLogBusy(AccessLogUnavailable):
    """Another writer held the log's write lock longer than the caller would wait."""


class Decided(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


class RequestIdOrigin(StrEnum):
    """Where a record's request id came from."""

    CALLER = "caller"  # the caller's x-request-id, kept because it looks like an id
    GENERATED = "generated"  # the caller sent none
    REPLACED = "replaced"  # the caller's did not look like an id and was not kept


@dataclass(frozen=True)
class AccessEntry:
    """One access as the edge saw it: names of items, never their values."""

    time_us: int
    principal: str
    role: str
    method: str
    purpose: str
    subjects: tuple[str, ...]  # every subject the call touched: pseudonyms, never identifiers
    requested: tuple[str, ...]
    released: tuple[str, ...]
    decision: Decided
    status: str
    reason: str
    request_id: str
    latency_us: int
    request_id_origin: RequestIdOrigin = RequestIdOrigin.GENERATED
    authenticated_by: str = ""  # "token", "certificate", "certificate+token"; "" if nobody
    certificate_sha256: str = ""  # of the caller's client certificate (mutual TLS), hex


@dataclass(frozen=True)
class AccessQuery:
    """What a compliance query asks for; empty fields match everything."""

    since_us: int | None = None
    until_us: int | None = None
    principal: str = ""
    purpose: str = ""
    method: str = ""
    decision: str = ""
    subjects: tuple[str, ...] = ()  # the subject's pseudonyms under every live key version

    def conditions(self) -> list[tuple[str, str, object]]:
        """(column, operator, value) of every field set but `subjects`, as an engine's
        query columns name them; each engine writes them in its own SQL.

        >>> AccessQuery(since_us=5, principal="analyst").conditions()
        [('principal', '=', 'analyst'), ('time_us', '>=', 5)]
        """
        found: list[tuple[str, str, object]] = [
            (column, "=", value)
            for column, value in (
                ("principal", self.principal),
                ("purpose", self.purpose),
                ("method", self.method),
                ("decision", self.decision),
            )
            if value
        ]
        if self.since_us is not None:
            found.append(("time_us", ">=", self.since_us))
        if self.until_us is not None:
            found.append(("time_us", "<", self.until_us))
        return found

    def matches_subjects(self, records: list[AccessRecord]) -> list[AccessRecord]:
        """Of the records an index found for `subjects`, those the hashed content names
        (the index narrows; the content decides)."""
        if not self.subjects:
            return records
        wanted = set(self.subjects)
        return [r for r in records if wanted.intersection(r.entry.subjects)]


@dataclass(frozen=True)
class AccessRecord:
    sequence: int
    entry: AccessEntry
    previous_hash: str
    record_hash: str
    content: str  # the canonical encoding the hash covers
    mac: str = ""  # hex, under the key the content names; "" before version 3


# Positions in the canonical array (version 2); the store's generated columns use the
# first six, which version 1 shares.
CANONICAL_FIELDS = (
    "sequence",
    "time_us",
    "principal",
    "role",
    "method",
    "purpose",
    "subject",  # the first of the subjects, "" if none
    "requested",
    "released",
    "decision",
    "status",
    "reason",
    "request_id",
    "latency_us",
    "request_id_origin",
    "authenticated_by",
    "certificate_sha256",
    "other_subjects",  # the rest of them
)
_VERSION_1_LENGTH = 14
_VERSION_3_LENGTH = len(CANONICAL_FIELDS) + 1  # and the key that authenticates it


def canonical(sequence: int, entry: AccessEntry, key_label: str = "") -> str:
    """The canonical encoding of a record's content (everything but its hashes): version
    3, naming `key_label`, if given; else version 2."""
    values = [
        sequence,
        entry.time_us,
        entry.principal,
        entry.role,
        entry.method,
        entry.purpose,
        entry.subjects[0] if entry.subjects else "",
        list(entry.requested),
        list(entry.released),
        str(entry.decision),
        entry.status,
        entry.reason,
        entry.request_id,
        entry.latency_us,
        str(entry.request_id_origin),
        entry.authenticated_by,
        entry.certificate_sha256,
        list(entry.subjects[1:]),
    ]
    if key_label:
        values.append(key_label)
    # ASCII with \u escapes: any Python text encodes, lone surrogates included.
    return json.dumps(values, separators=(",", ":"))


def decode(encoded: str) -> tuple[int, AccessEntry]:
    """The sequence and entry of a canonical encoding, of either version."""
    values = json.loads(encoded)
    if len(values) == _VERSION_3_LENGTH:
        values.pop()
    if len(values) == _VERSION_1_LENGTH:
        # Version 1 kept whatever request id was sent, and knew only bearer tokens.
        values += [str(RequestIdOrigin.CALLER), "token" if values[2] != ANONYMOUS else "", "", []]
    (
        sequence,
        time_us,
        principal,
        role,
        method,
        purpose,
        subject,
        requested,
        released,
        decision,
        status,
        reason,
        request_id,
        latency_us,
        origin,
        authenticated_by,
        certificate_sha256,
        other_subjects,
    ) = values
    entry = AccessEntry(
        time_us,
        principal,
        role,
        method,
        purpose,
        (subject, *other_subjects) if subject else (),
        tuple(requested),
        tuple(released),
        Decided(decision),
        status,
        reason,
        request_id,
        latency_us,
        RequestIdOrigin(origin),
        authenticated_by,
        certificate_sha256,
    )
    return sequence, entry


def chain_hash(previous_hash: str, encoded: str) -> str:
    return hashlib.sha256((previous_hash + encoded).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RecordKey:
    """The key that authenticates records, and how a record's content names it."""

    label: str  # "hmac-sha256:v<N>": N is the signing key version it is derived from
    key: bytes = dataclasses.field(repr=False)


@functools.lru_cache(maxsize=16)
def _derived(signing_key: bytes) -> bytes:
    # A key of its own for MACs (domain-separated), never the Ed25519 seed itself.
    return _crypto.hmac_sha256(signing_key, b"tactful-access-log/record-mac/1")


def record_key(keys: Keys) -> RecordKey:
    """The key new records are authenticated with: from the primary signing key."""
    version, key = keys.primary_key()
    return RecordKey(f"{_MAC_ALGORITHM}:v{version}", _derived(key))


def record_keys(keys: Keys) -> dict[str, bytes]:
    """Every key a record may be authenticated with, by its label (every live version)."""
    return {f"{_MAC_ALGORITHM}:v{v}": _derived(k) for v, k in keys.versions.items()}


def record_mac(key: bytes, record_hash: str) -> str:
    return _crypto.hmac_sha256(key, f"tactful-access-record/1|{record_hash}".encode()).hex()


def authenticated_by(content: str) -> str:
    """The label of the key a record's content names ("" before version 3): its last
    field, the only one a record ends with as text.

    >>> authenticated_by('[1,2,"x",[],"hmac-sha256:v2"]'), authenticated_by('[1,[]]')
    ('hmac-sha256:v2', '')
    """
    if not content.endswith('"]'):
        return ""
    return content[content.rfind(',"') + 2 : -2]


def mac_problem(content: str, record_hash: str, mac: str, keys: Mapping[str, bytes]) -> str:
    """Why a version 3 record does not authenticate ("" if it does)."""
    label = authenticated_by(content)
    key = keys.get(label)
    if key is None:
        return f"is authenticated by {label}, a key the keyring does not hold"
    if not hmac.compare_digest(record_mac(key, record_hash), mac):
        return "does not authenticate: its MAC was not made with the keyring"
    return ""


def seal_record(
    sequence: int, entry: AccessEntry, previous_hash: str, key: RecordKey | None = None
) -> AccessRecord:
    """The record, chained from `previous_hash` and authenticated by `key` (version 3);
    without a key, a version 2 record as written before (tests of old logs)."""
    content = canonical(sequence, entry, key.label if key else "")
    record_hash = chain_hash(previous_hash, content)
    mac = record_mac(key.key, record_hash) if key else ""
    return AccessRecord(sequence, entry, previous_hash, record_hash, content, mac)


def closing_entry(time_us: int, reason: str) -> AccessEntry:
    """The last record of a chain: nothing may follow it."""
    return AccessEntry(
        time_us, "tactful", "", CLOSE_METHOD, "", (), (), (), Decided.ALLOWED, "OK", reason, "", 0
    )


def is_closing(content: str) -> bool:
    return f'"{CLOSE_METHOD}"' in content and decode(content)[1].method == CLOSE_METHOD


# The keys of record_as_dict, in order (the columns of a CSV export): the canonical
# fields, with the time as text, then the two hashes.
RECORD_FIELDS = (
    *(
        {"time_us": "time", "subject": "subjects"}.get(f, f)
        for f in CANONICAL_FIELDS
        if f != "other_subjects"
    ),
    "previous_hash",
    "record_hash",
)


def record_as_dict(record: AccessRecord) -> dict[str, object]:
    """A record as plain data, for exports (JSON lines, CSV, a subject's export)."""
    e = record.entry
    return {
        "sequence": record.sequence,
        "time": from_us(e.time_us).isoformat(),
        "principal": e.principal,
        "role": e.role,
        "method": e.method,
        "purpose": e.purpose,
        "subjects": list(e.subjects),
        "requested": list(e.requested),
        "released": list(e.released),
        "decision": str(e.decision),
        "status": e.status,
        "reason": e.reason,
        "request_id": e.request_id,
        "latency_us": e.latency_us,
        "request_id_origin": str(e.request_id_origin),
        "authenticated_by": e.authenticated_by,
        "certificate_sha256": e.certificate_sha256,
        "previous_hash": record.previous_hash,
        "record_hash": record.record_hash,
    }


class CheckpointKind(StrEnum):
    CHECKPOINT = "checkpoint"  # record `sequence` has hash `record_hash`
    TRUNCATION = "truncation"  # records before `sequence` were removed; it chains from hash
    # Many chains (privacy/access_log_epochs.py): `record_hash` is the digest of an
    # epoch binding every chain's head; `sequence` the highest of them.
    EPOCH = "epoch"


@dataclass(frozen=True)
class Checkpoint:
    kind: CheckpointKind
    sequence: int
    record_hash: str
    time_us: int
    key_version: int
    signature: str  # hex

    def message(self) -> bytes:
        return checkpoint_message(self.kind, self.sequence, self.record_hash, self.time_us)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": str(self.kind),
                "sequence": self.sequence,
                "record_hash": self.record_hash,
                "time_us": self.time_us,
                "key_version": self.key_version,
                "signature": self.signature,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        raw = json.loads(line)
        return cls(
            CheckpointKind(raw["kind"]),
            int(raw["sequence"]),
            str(raw["record_hash"]),
            int(raw["time_us"]),
            int(raw["key_version"]),
            str(raw["signature"]),
        )


def checkpoint_message(kind: str, sequence: int, record_hash: str, time_us: int) -> bytes:
    return f"tactful-checkpoint/1|{kind}|{sequence}|{record_hash}|{time_us}".encode()


def sign_checkpoint(
    keys: Keys, kind: CheckpointKind, sequence: int, record_hash: str, time_us: int
) -> Checkpoint:
    version, key = keys.primary_key()
    signature = _crypto.sign(key, checkpoint_message(kind, sequence, record_hash, time_us))
    return Checkpoint(kind, sequence, record_hash, time_us, version, signature.hex())


@dataclass(frozen=True)
class Verification:
    intact: bool
    records: int
    first_bad_sequence: int = 0
    problem: str = ""
    # What an intact verdict must still say: records without a MAC, signed lines the
    # database lacks.
    notices: tuple[str, ...] = ()


# A stored row as verification reads it: sequence, previous hash, record hash,
# canonical, MAC.
StoredRow = tuple[int, str, str, str, str]


def file_only_notice(count: int, first_sequence: int) -> str:
    return (
        f"{count} signed checkpoint(s) from record {first_sequence} on are in the checkpoint"
        " file but not in the database: their rows were deleted, or a crash came between"
        " the file's fsync and the commit; the file's lines still pin what they signed"
    )


def unauthenticated_notice(count: int, first: int, last: int) -> str:
    return (
        f"{count} records ({first}..{last}) carry no MAC: written before records were"
        " authenticated, they are checked by their chain and the signed checkpoints only"
    )
