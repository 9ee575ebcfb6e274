"""Invariant: the streamed copy of the access log (`tactful audit stream`) holds every
record once, each chain in order, with the signed checkpoint lines after the records
they pin; it verifies on its own and against the store, whatever engine keeps it; a
restart resumes from the cursor; and every corruption of the copy is caught at its
first bad line, for the right reason.

On PostgreSQL two writers append (two chains, sequences interleaved, closing records
at the end); on SQLite one does.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tactful.app import stores
from tactful.app.log_follower import Follower, load_cursor, save_cursor
from tactful.app.log_sinks import FileSink
from tactful.app.settings import Settings
from tactful.privacy.access_log_export import Cursor
from tactful.privacy.access_log_export_verify import (
    CopyVerdict,
    compare_with_store,
    verify_copy,
)
from tactful.privacy.keyring import Keys, load_keyring
from tests.storage.contract.test_contract_access_log import NEVER_BY_TIME, SECOND, T0_US, entry
from tests.storage.engines import Engine

RECORDS = 40


@dataclass
class Copy:
    settings: Settings
    keys: Keys
    path: Path
    cursor: Path

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def verify(self, lines: list[str] | None = None, *, keyed: bool = True) -> CopyVerdict:
        chosen = self.lines() if lines is None else lines
        return verify_copy(lambda: iter(chosen), self.keys if keyed else None)

    def follower(self, log: stores.AccessLog, *, batch: int = 3) -> Follower:
        return Follower(log, FileSink(self.path), self.cursor, batch=batch)


def writers_of(settings: Settings, keys: Keys) -> list[stores.AccessLog]:
    """Two chains where servers share the log; one where a single server writes it."""
    count = 2 if stores.engine_of(settings).shared_by_servers else 1
    return [stores.open_access_log(settings, keys) for _ in range(count)]


def follow_while_writing(engine: Engine, tmp_path: Path, *, seed: int = 7) -> Copy:
    """RECORDS records from the writers in a seeded order, checkpoints now and then,
    the follower stepping in between; the writers closed, the follower caught up."""
    settings = engine.settings(
        tmp_path / "data", checkpoint_every=5, checkpoint_seconds=NEVER_BY_TIME
    )
    keys = load_keyring(settings.keyring_path).signing
    copy = Copy(settings, keys, tmp_path / "siem" / "access.jsonl", tmp_path / "siem" / "cursor")
    chance = random.Random(seed)
    writers = writers_of(settings, keys)
    reader = stores.open_access_log(settings, keys)
    try:
        follower = copy.follower(reader)
        for i in range(1, RECORDS + 1):
            writer = chance.choice(writers)
            writer.append([entry(i)], now_us=T0_US + i * SECOND)
            if i % 6 == 0:
                writer.checkpoint(now_us=T0_US + i * SECOND)
            if chance.random() < 0.15:  # behind by more than a batch, now and then
                follower.step()
        for writer in writers:
            writer.close()
        writers = []
        closer = stores.open_access_log(settings, keys)  # signs the closing records' epoch
        closer.checkpoint(now_us=T0_US + (RECORDS + 1) * SECOND)
        closer.close()
        while follower.step():
            pass
    finally:
        for writer in writers:
            writer.close()
        reader.close()
    return copy


@pytest.fixture
def copy(engine: Engine, tmp_path: Path) -> Copy:
    return follow_while_writing(engine, tmp_path)


def records_of(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(x) for x in lines if json.loads(x)["type"] == "access_record"]


def test_the_copy_holds_every_record_once_in_order_and_verifies(copy: Copy) -> None:
    verdict = copy.verify()
    assert verdict.intact, verdict.problem
    assert verdict.duplicates == 0 and verdict.checkpoints > 0
    records = records_of(copy.lines())
    assert verdict.records == len(records)
    shown = sorted(str(r["record"]["request_id"]) for r in records if r["record"]["request_id"])  # type: ignore[index]
    assert shown == sorted(f"req-{i:04d}" for i in range(1, RECORDS + 1))
    for chain in {r["chain"] for r in records}:
        sequences = [r["sequence"] for r in records if r["chain"] == chain]
        assert sequences == sorted(sequences)
    log = stores.open_access_log(copy.settings, copy.keys)
    try:
        compared = compare_with_store(iter(copy.lines()), log)
    finally:
        log.close()
    assert compared.problem == "" and compared.matched == len(records) and compared.behind == 0


def test_a_checkpoint_line_follows_the_records_it_pins(copy: Copy) -> None:
    written: dict[str, int] = {}
    for line in map(json.loads, copy.lines()):
        if line["type"] == "access_record":
            written[line["chain"]] = line["sequence"]
            continue
        signed = json.loads(line["line"])
        heads = signed["heads"] if "heads" in signed else [["", signed["sequence"], ""]]
        assert all(written.get(c, 0) >= s for c, s, _ in heads), line


def test_a_restart_after_the_sink_flushed_but_before_the_cursor_moved_repeats_nothing(
    copy: Copy,
) -> None:
    before = copy.lines()
    cursor = load_cursor(copy.cursor)
    # As if every batch was flushed and the process died before saving a cursor.
    save_cursor(copy.cursor, Cursor())
    log = stores.open_access_log(copy.settings, copy.keys)
    try:
        follower = copy.follower(log)
        assert follower.cursor == cursor  # read back from the file's last lines
        assert follower.step() == 0
    finally:
        log.close()
    assert copy.lines() == before


def test_a_lost_cursor_with_a_sink_that_cannot_be_read_back_repeats_exactly(
    copy: Copy,
) -> None:
    """A socket or syslog cannot be read back: the batch comes again, and the verifier
    counts the repeats instead of failing."""
    lines = copy.lines()
    repeated = lines + lines[-5:]
    verdict = copy.verify(repeated)
    assert verdict.intact, verdict.problem
    assert verdict.duplicates == 5


# -- the corruption matrix: what a person editing the copy in the SIEM can do -----------


def first_record_at(lines: list[str], at: int = 10) -> int:
    """The index of the first record line from `at` on."""
    return next(i for i in range(at, len(lines)) if json.loads(lines[i])["type"] == "access_record")


def _edit(lines: list[str], index: int, change: Callable[[dict[str, object]], None]) -> None:
    line = json.loads(lines[index])
    change(line)
    lines[index] = json.dumps(line)


def edit_a_shown_field(lines: list[str]) -> int:
    i = first_record_at(lines)
    _edit(lines, i, lambda r: r["record"].update(principal="mallory"))  # type: ignore[attr-defined]
    return i


def edit_the_content(lines: list[str]) -> int:
    i = first_record_at(lines)
    _edit(lines, i, lambda r: r.update(content=str(r["content"]).replace("req-", "rex-")))
    return i


def edit_content_and_shown_alike(lines: list[str]) -> int:
    """Both say the same: only the hash can tell."""
    i = first_record_at(lines)

    def change(r: dict[str, object]) -> None:
        r["content"] = str(r["content"]).replace("req-", "rex-")
        r["record"]["request_id"] = str(r["record"]["request_id"]).replace("req-", "rex-")  # type: ignore[index]

    _edit(lines, i, change)
    return i


def drop_a_record(lines: list[str]) -> int:
    i = first_record_at(lines)
    chain = json.loads(lines[i])["chain"]
    later = next(j for j in range(i + 1, len(lines)) if json.loads(lines[j]).get("chain") == chain)
    del lines[i]
    return later - 1


def reorder_two_records(lines: list[str]) -> int:
    i = first_record_at(lines)
    chain = json.loads(lines[i])["chain"]
    j = next(j for j in range(i + 1, len(lines)) if json.loads(lines[j]).get("chain") == chain)
    lines[i], lines[j] = lines[j], lines[i]
    return i


def repeat_a_record_altered(lines: list[str]) -> int:
    i = first_record_at(lines)
    again = json.loads(lines[i])
    again["record_hash"] = "0" * 64
    lines.insert(i + 3, json.dumps(again))
    return i + 3


def cut_a_line(lines: list[str]) -> int:
    i = first_record_at(lines)
    lines[i] = lines[i][: len(lines[i]) // 2]
    return i


def edit_a_checkpoint_line(lines: list[str]) -> int:
    i = next(i for i, x in enumerate(lines) if json.loads(x)["type"] == "checkpoint")
    _edit(lines, i, lambda c: c.update(sequence=int(c["sequence"]) + 1))  # type: ignore[call-overload]
    return i


def forge_a_record_consistently(lines: list[str]) -> int:
    """Content edited and every hash after recomputed: chain-consistent, but its MAC
    (and the checkpoint that pins it) say otherwise."""
    from tactful.privacy.access_log import chain_hash

    i = first_record_at(lines)
    line = json.loads(lines[i])
    line["content"] = line["content"].replace("req-", "rex-")
    line["record"]["request_id"] = line["record"]["request_id"].replace("req-", "rex-")
    line["record_hash"] = chain_hash(line["previous_hash"], line["content"])
    lines[i] = json.dumps(line)
    previous = {line["chain"]: line["record_hash"]}
    for j in range(i + 1, len(lines)):
        later = json.loads(lines[j])
        if later["type"] == "access_record" and later["chain"] in previous:
            later["previous_hash"] = previous[later["chain"]]
            later["record_hash"] = chain_hash(later["previous_hash"], later["content"])
            previous[later["chain"]] = later["record_hash"]
            lines[j] = json.dumps(later)
    return i


Corruption = Callable[[list[str]], int]
# (corruption, what the verifier says); the line it names is the one the corruption returns
CORRUPTIONS: list[tuple[Corruption, str]] = [
    (edit_a_shown_field, "fields differ from its content"),
    (edit_the_content, "fields differ from its content"),
    (edit_content_and_shown_alike, "hash does not match its content"),
    (drop_a_record, "does not link to record"),
    (reorder_two_records, "does not link to record"),
    (repeat_a_record_altered, "out of order or altered"),
    (cut_a_line, "is not JSON"),
    (edit_a_checkpoint_line, "checkpoint fields differ from the signed line"),
    (forge_a_record_consistently, "does not authenticate"),
]


@pytest.mark.parametrize(
    ("corrupt", "reason"), CORRUPTIONS, ids=[c.__name__ for c, _ in CORRUPTIONS]
)
def test_every_corruption_of_the_copy_is_caught_at_its_line(
    copy: Copy, corrupt: Corruption, reason: str
) -> None:
    lines = copy.lines()
    index = corrupt(lines)
    verdict = copy.verify(lines)
    assert not verdict.intact
    assert reason in verdict.problem
    assert verdict.line == index + 1, verdict.problem


def test_without_the_keyring_a_consistent_forgery_is_caught_by_the_store_comparison(
    copy: Copy,
) -> None:
    lines = copy.lines()
    index = forge_a_record_consistently(lines)
    log = stores.open_access_log(copy.settings, copy.keys)
    try:
        compared = compare_with_store(iter(lines), log)
    finally:
        log.close()
    assert compared.line == index + 1 and "differs from the store's" in compared.problem


def test_records_truncated_before_they_were_exported_leave_a_gap_the_copy_explains(
    engine: Engine, tmp_path: Path
) -> None:
    settings = engine.settings(
        tmp_path / "data", checkpoint_every=5, checkpoint_seconds=NEVER_BY_TIME
    )
    keys = load_keyring(settings.keyring_path).signing
    copy = Copy(settings, keys, tmp_path / "access.jsonl", tmp_path / "cursor")
    log = stores.open_access_log(settings, keys)
    try:
        follower = copy.follower(log, batch=100)
        for i in range(1, 21):
            log.append([entry(i)], now_us=T0_US + i * SECOND)
            if i == 8:
                follower.step()  # 1..8 exported, then the stream stops a while
        log.truncate_before(T0_US + 15 * SECOND, now_us=T0_US + 21 * SECOND)
        log.append([entry(21)], now_us=T0_US + 21 * SECOND)
        log.checkpoint(now_us=T0_US + 22 * SECOND)
        follower.step()
    finally:
        log.close()
    verdict = copy.verify()
    assert verdict.intact, verdict.problem
    assert any(
        "were truncated from the log before they were exported" in n for n in verdict.notices
    )
    lines = copy.lines()
    cut = next(
        i
        for i, x in enumerate(lines)
        if json.loads(x)["type"] == "access_record" and json.loads(x)["sequence"] > 8
    )
    assert not copy.verify([*lines[:cut], *lines[cut + 1 :]]).intact  # a gap no truncation explains


def test_the_lag_says_how_many_records_wait_and_how_old_the_oldest_is(
    engine: Engine, tmp_path: Path
) -> None:
    settings = engine.settings(tmp_path / "data")
    keys = load_keyring(settings.keyring_path).signing
    metrics = tmp_path / "lag.prom"
    log = stores.open_access_log(settings, keys)
    try:
        for i in range(1, 11):
            log.append([entry(i)], now_us=T0_US + i * SECOND)
        now = T0_US / 1e6 + 100  # 96 s after the fourth record, the oldest left
        sink = FileSink(tmp_path / "access.jsonl")
        follower = Follower(
            log, sink, tmp_path / "cursor", batch=3, metrics_file=metrics, clock=lambda: now
        )
        follower.step()
        text = metrics.read_text()
        assert "tactful_access_log_export_lag_records 7.0" in text
        assert "tactful_access_log_export_lag_seconds 96.0" in text
        while follower.step():
            pass
        assert "tactful_access_log_export_lag_records 0.0" in metrics.read_text()
        assert "tactful_access_log_export_lag_seconds 0.0" in metrics.read_text()
    finally:
        log.close()
