"""The retention job: every purpose loses exactly its events older than its retention,
in chunks, with activity kept true, idle identities shredded, nothing left in the files,
a receipt in the access log, and a run killed at any point finished by the next."""

from __future__ import annotations

import getpass
import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tactful.app.domain import Domain, open_domain
from tactful.app.settings import EXAMPLE_CONTRACT
from tactful.cli.main import main
from tactful.lifecycle.retention import CHUNK_ROWS, RetentionJob
from tactful.privacy.consent import ConsentChange
from tactful.privacy.contract import load_contract
from tactful.privacy.vault import Identity
from tactful.segments.store import Activity, StoredEvent
from tactful.timestamps import to_us
from tests.conftest import T0, Tactful, email, make_settings, page_view

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract(EXAMPLE_CONTRACT)
PURPOSES = sorted(CONTRACT.purposes)  # from the contract: a new purpose is tested too
NOW = T0 + timedelta(days=500)
US = timedelta(microseconds=1)
SECOND_US = 1_000_000
TAG = "rtn-7d1e"  # marker prefix: these strings exist only in the events that carry them
ACTIVITY_FROM_EVENTS = """
    SELECT subject_id, purpose, min(occurred_at_us), max(occurred_at_us), count(*)
    FROM events GROUP BY subject_id, purpose"""


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def domain(data_dir: Path) -> Iterator[Domain]:
    opened = open_domain(make_settings(data_dir))
    yield opened
    opened.close()


def cutoff(purpose: str, now: datetime = NOW) -> datetime:
    return now - CONTRACT.purposes[purpose].retention


def collected(purpose: str) -> str:
    """An event type the purpose collects (any one will do)."""
    return sorted(CONTRACT.purposes[purpose].collects)[0]


def subject(domain: Domain, name: str, *, first_seen: datetime | None = None) -> str:
    """The pseudonym of name@example.com; in the vault since `first_seen`, if given."""
    normalized = f"{name}@example.com"
    pseudonym = domain.pseudonymizer.pseudonymize("email", normalized)
    if first_seen is not None:
        domain.vault.remember([Identity(pseudonym, "email", normalized)], now=first_seen)
    return pseudonym


def add(domain: Domain, pseudonym: str, purpose: str, at: datetime, marker: str = "") -> None:
    event = StoredEvent(
        pseudonym, purpose, collected(purpose), to_us(at), {"note": marker} if marker else {}
    )
    domain.store.append([event], received_at_us=to_us(at))


def job(
    domain: Domain, identity_retention: timedelta = timedelta(days=400), **options: Any
) -> RetentionJob:
    options.setdefault("sleep", lambda _seconds: None)
    return RetentionJob(
        domain.contract, domain.subject_data, domain.vault, identity_retention, **options
    )


def rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql, params).fetchall()


def events(data_dir: Path) -> list[tuple[str, str, int]]:
    return sorted(
        rows(
            data_dir / "behavior.db",
            "SELECT s.pseudonym, e.purpose, e.occurred_at_us"
            " FROM events e JOIN subjects s ON s.id = e.subject_id",
        )
    )


def activity_matches_events(data_dir: Path) -> bool:
    db = data_dir / "behavior.db"
    derived = sorted(rows(db, ACTIVITY_FROM_EVENTS))
    return derived == sorted(rows(db, "SELECT * FROM purpose_activity"))


def vault_pseudonyms(data_dir: Path) -> list[str]:
    return sorted(r[0] for r in rows(data_dir / "vault.db", "SELECT pseudonym FROM identities"))


def files_holding(data_dir: Path, needles: list[str]) -> dict[str, list[str]]:
    """Which files of the data folder hold which needles, as raw bytes."""
    hits: dict[str, list[str]] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        found = [n for n in needles if n.encode() in content]
        if found:
            hits[path.name] = found
    return hits


def found_anywhere(data_dir: Path, needles: list[str]) -> set[str]:
    return {n for found in files_holding(data_dir, needles).values() for n in found}


# -- the job over real stores -------------------------------------------------------------


@pytest.mark.parametrize("purpose", PURPOSES)
def test_a_purpose_loses_exactly_its_events_older_than_its_retention(
    domain: Domain, data_dir: Path, purpose: str
) -> None:
    edge = cutoff(purpose)
    gone, kept = subject(domain, "gone"), subject(domain, "kept")
    add(domain, gone, purpose, edge - US)
    for at in (edge - US, edge, edge + timedelta(seconds=1)):
        add(domain, kept, purpose, at)
    others = [p for p in PURPOSES if p != purpose]
    for other in others:  # at their own cut-off: kept, and often far older than `edge`
        add(domain, kept, other, cutoff(other))

    receipt = job(domain).run(now=NOW)

    assert receipt.cutoffs == {p: cutoff(p) for p in PURPOSES}
    assert receipt.events == {p: 2 if p == purpose else 0 for p in PURPOSES}
    assert events(data_dir) == sorted(
        [
            (kept, purpose, to_us(edge)),  # exactly at the cut-off: "older than" is strict
            (kept, purpose, to_us(edge) + SECOND_US),
            *((kept, other, to_us(cutoff(other))) for other in others),
        ]
    )
    # Every event of `gone` expired: no activity, so no segments and no signals.
    assert domain.store.consent_and_activity([gone], purpose)[1] is None
    assert domain.releaser.held([gone], purpose, NOW) == ([], {})
    # `kept` is first seen at its oldest remaining event now.
    assert domain.store.consent_and_activity([kept], purpose)[1] == Activity(
        to_us(edge), to_us(edge) + SECOND_US, 2
    )
    for other in others:
        at = to_us(cutoff(other))
        assert domain.store.consent_and_activity([kept], other)[1] == Activity(at, at, 1)
    new = CONTRACT.purposes[purpose].retention <= timedelta(hours=24)
    segments, _ = domain.releaser.held([kept], purpose, NOW)
    # (Rule-based segments may hold too: a quiet person first seen 90 days ago is at
    # risk of churn. The visitor segment is what the purge moves.)
    visitor = [s for s in segments if s in ("new_visitor", "returning_visitor")]
    assert visitor == ["new_visitor" if new else "returning_visitor"]
    assert activity_matches_events(data_dir)


def test_deleted_values_are_in_no_file_of_the_data_folder(domain: Domain, data_dir: Path) -> None:
    person = subject(domain, "ada")
    expired = [f"{TAG}:{p}:expired" for p in PURPOSES]
    kept = [f"{TAG}:{p}:at-cutoff" for p in PURPOSES]
    for purpose, old, edge in zip(PURPOSES, expired, kept, strict=True):
        add(domain, person, purpose, cutoff(purpose) - US, old)
        add(domain, person, purpose, cutoff(purpose), edge)
    assert found_anywhere(data_dir, expired) == set(expired)  # the scan sees them first

    receipt = job(domain).run(now=NOW)

    assert receipt.events == dict.fromkeys(PURPOSES, 1)
    assert {"behavior.db", "behavior.db-wal"} <= {p.name for p in data_dir.iterdir()}
    assert files_holding(data_dir, expired) == {}  # not in free pages, not in the WAL
    assert found_anywhere(data_dir, kept) == set(kept)


def test_the_purge_goes_in_chunks_and_pauses_between_full_ones(
    domain: Domain, data_dir: Path
) -> None:
    people = [subject(domain, f"p{i}") for i in range(3)]
    for i in range(10):
        add(domain, people[i % 3], "onboarding", cutoff("onboarding") - timedelta(minutes=i + 1))
    for i in range(4):
        add(domain, people[i % 3], "analytics", cutoff("analytics") - timedelta(hours=i + 1))
    add(domain, people[0], "onboarding", cutoff("onboarding"))
    sleeps: list[float] = []
    progress = Recorded()

    receipt = job(domain, chunk=3, pause_s=0.25, sleep=sleeps.append).run(
        now=NOW, progress=progress
    )

    assert receipt.events["onboarding"] == 10 and receipt.events["analytics"] == 4
    assert sleeps == [0.25] * 4  # after 3, 6, 9 onboarding and after 3 analytics
    # Each purpose's total up front, then a count per chunk.
    stages = progress.stages()
    assert stages["analytics: deleting events past retention"] == (
        4,
        [3, 1],
        "analytics: 4 events deleted",
    )
    assert stages["onboarding: deleting events past retention"] == (
        10,
        [3, 3, 3, 1],
        "onboarding: 10 events deleted",
    )
    assert events(data_dir) == [(people[0], "onboarding", to_us(cutoff("onboarding")))]
    assert activity_matches_events(data_dir)


class Recorded:
    """A Progress that keeps what it was told, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def begin(self, task: str, total: int | None) -> None:
        self.steps.append(f"begin {task}, total {total}")

    def advance(self, count: int) -> None:
        self.steps.append(f"advance {count}")

    def end(self, summary: str) -> None:
        self.steps.append(f"end {summary}")

    def stages(self) -> dict[str, tuple[int | None, list[int], str]]:
        """Each stage by task: its total, the counts it advanced by, its summary."""
        found: dict[str, tuple[int | None, list[int], str]] = {}
        for step in self.steps:
            kind, _, rest = step.partition(" ")
            if kind == "begin":
                task, _, total = rest.rpartition(", total ")
                found[task] = (None if total == "None" else int(total), [], "")
            elif kind == "advance":
                found[task][1].append(int(rest))
            else:
                found[task] = (*found[task][:2], rest)
        return found


def snapshot(data_dir: Path) -> tuple[object, ...]:
    behavior = data_dir / "behavior.db"
    return (
        rows(behavior, "SELECT * FROM events ORDER BY id"),
        rows(behavior, "SELECT * FROM purpose_activity ORDER BY subject_id, purpose"),
        rows(behavior, "SELECT * FROM subjects ORDER BY id"),
        vault_pseudonyms(data_dir),
    )


def test_a_dry_run_deletes_nothing_and_counts_what_a_run_then_deletes(
    domain: Domain, data_dir: Path
) -> None:
    person = subject(domain, "ada", first_seen=NOW - timedelta(days=30))
    for n, purpose in enumerate(PURPOSES, start=1):
        for i in range(n):
            add(domain, person, purpose, cutoff(purpose) - timedelta(seconds=i + 1))
        add(domain, person, purpose, cutoff(purpose) + timedelta(seconds=1))
    subject(domain, "idle", first_seen=NOW - timedelta(days=500))  # its data went long ago
    before = snapshot(data_dir)
    progress = Recorded()

    dry = job(domain).run(now=NOW, dry_run=True, progress=progress)

    assert snapshot(data_dir) == before
    assert "begin support_triage: events past retention, total 7" in progress.steps
    assert "end support_triage: would delete 7 events" in progress.steps
    real = job(domain).run(now=NOW)
    assert dry.dry_run and not real.dry_run
    assert dry.events == real.events == {p: n for n, p in enumerate(PURPOSES, start=1)}
    assert dry.identities == real.identities == 1
    assert len(events(data_dir)) == len(PURPOSES)


def test_a_dry_run_counts_identities_whose_last_activity_expires_in_the_same_run(
    domain: Domain,
) -> None:
    """First seen 401 days ago, last seen 35 days ago under support_triage (kept 30 days):
    the run purges that event, finds no activity left, and shreds the identity. A dry
    run must say so; it judges activity by events the run is about to delete."""
    lapsing = subject(domain, "lapsing", first_seen=NOW - timedelta(days=401))
    add(domain, lapsing, "support_triage", NOW - timedelta(days=35))

    dry = job(domain).run(now=NOW, dry_run=True)
    real = job(domain).run(now=NOW)

    assert real.identities == 1 and domain.vault.reveal(lapsing) is None
    assert dry.identities == real.identities


def test_remaining_names_the_purposes_past_retention_and_a_second_run_deletes_nothing(
    domain: Domain,
) -> None:
    person = subject(domain, "ada", first_seen=NOW - timedelta(days=1))
    add(domain, person, "agent_assist", cutoff("agent_assist") - US)
    add(domain, person, "agent_assist", cutoff("agent_assist") - timedelta(days=3))
    add(domain, person, "support_triage", cutoff("support_triage"))  # at the cut-off: not yet
    retention = job(domain)
    assert retention.remaining(now=NOW) == {"agent_assist": 2}

    first = retention.run(now=NOW)
    second = retention.run(now=NOW)

    assert first.events["agent_assist"] == 2
    assert retention.remaining(now=NOW) == {}
    assert second.events == dict.fromkeys(PURPOSES, 0) and second.identities == 0
    assert retention.remaining(now=NOW + US) == {"support_triage": 1}


def test_idle_identities_are_shredded_with_their_behavior(domain: Domain, data_dir: Path) -> None:
    retention = timedelta(days=60)  # shorter than multilingual_support keeps events
    idle = subject(domain, "idle", first_seen=NOW - timedelta(days=100))
    add(domain, idle, "multilingual_support", NOW - timedelta(days=90), f"{TAG}:idle")
    domain.store.record_consent(
        ConsentChange(
            idle, "multilingual_support", True, "tests/banner", to_us(NOW - timedelta(days=100))
        ),
        [idle],
        [],
    )
    busy = subject(domain, "busy", first_seen=NOW - timedelta(days=100))
    add(domain, busy, "support_triage", NOW - timedelta(days=10), f"{TAG}:busy")
    young = subject(domain, "young", first_seen=NOW - timedelta(days=10))  # no activity yet
    (sealed,) = rows(
        data_dir / "vault.db",
        "SELECT sealed_identifier, sealed_key FROM identities JOIN data_keys USING (pseudonym)"
        " WHERE pseudonym = ?",
        idle,
    )

    receipt = job(domain, retention).run(now=NOW)

    assert receipt.identities == 1 and receipt.identity_cutoff == NOW - retention
    assert receipt.events == dict.fromkeys(PURPOSES, 0)  # nothing was past a purpose's
    assert vault_pseudonyms(data_dir) == sorted([busy, young])
    assert domain.vault.reveal(idle) is None
    assert domain.vault.reveal(busy) == Identity(busy, "email", "busy@example.com")
    behavior = data_dir / "behavior.db"
    for table in ("consent", "consent_history", "subjects"):
        assert rows(behavior, f"SELECT * FROM {table} WHERE pseudonym = ?", idle) == [], table
    assert (
        rows(
            behavior,
            "SELECT * FROM purpose_activity WHERE subject_id NOT IN (SELECT id FROM subjects)",
        )
        == []
    )
    assert [e[0] for e in events(data_dir)] == [busy]
    assert files_holding(data_dir, [f"{TAG}:idle", "idle@example.com"]) == {}
    for blob in sealed:  # crypto-shredded: no copy of the sealed key or identifier left
        assert not [p.name for p in data_dir.rglob("*") if p.is_file() and blob in p.read_bytes()]
    assert found_anywhere(data_dir, [f"{TAG}:busy"]) == {f"{TAG}:busy"}


def test_the_identity_cutoff_compares_moments_not_their_text(domain: Domain) -> None:
    """`--now 2028-01-01T16:00:00+05:00` is the same moment as 11:00 UTC."""
    person = subject(domain, "ada", first_seen=T0)  # remembered at T0, in UTC
    retention = timedelta(days=400)
    east, west = timezone(timedelta(hours=5)), timezone(timedelta(hours=-8))
    not_yet = (T0 + retention - timedelta(hours=1)).astimezone(east)
    past = (T0 + retention + timedelta(hours=1)).astimezone(west)

    first = job(domain, retention).run(now=not_yet).identities
    after_first = domain.vault.reveal(person) is not None
    second = job(domain, retention).run(now=past).identities
    after_second = domain.vault.reveal(person) is not None

    assert (first, after_first, second, after_second) == (0, True, 1, False)


# -- the command line ---------------------------------------------------------------------


def config_for(data_dir: Path, tmp_path: Path) -> Path:
    """A CLI config for `data_dir`, with the development principals (as in test_cli_audit)."""
    development = (ROOT / "examples" / "development.toml").read_text()
    development = development.replace(
        'contract = "contract.toml"', f'contract = "{ROOT / "examples" / "contract.toml"}"'
    ).replace('listen = "127.0.0.1:50051"', "")
    path = tmp_path / "cli.toml"
    path.write_text(f'data_dir = "{data_dir}"\n{development}\n')
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def receipts(capsys: pytest.CaptureFixture[str], config: str) -> list[dict[str, Any]]:
    method = "tactful.cli/retention.run"
    code, out, _ = run(capsys, "audit", "query", "--config", config, "--method", method)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_cli_run_purges_leaves_one_receipt_and_the_log_still_verifies(
    tactful: Tactful, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada = email("ada@example.com")
    expired, kept = f"/{TAG}-expired", f"/{TAG}-at-cutoff"
    tactful.record("support_triage", page_view(ada, T0 - timedelta(seconds=1), expired))
    tactful.record("support_triage", page_view(ada, T0, kept))
    tactful.record("agent_assist", page_view(ada, T0), principal="agent_console")
    tactful.stop()  # the CLI works on the files the server left
    data_dir = tactful.settings.data_dir
    config = str(config_for(data_dir, tmp_path))
    now = (T0 + timedelta(days=30)).isoformat()  # support_triage's cut-off is T0 exactly

    code, out, _ = run(capsys, "retention", "verify", "--config", config, "--now", now)
    assert code == 1
    assert "purpose agent_assist holds 1 events or remembered offers" in out
    assert "purpose support_triage holds 1 events or remembered offers" in out

    before = events(data_dir)
    code, out, err = run(capsys, "retention", "run", "--dry-run", "--config", config, "--now", now)
    assert code == 0 and "would delete 2 events and 0 identities" in out
    assert "support_triage: would delete 1 events" in err
    assert events(data_dir) == before and receipts(capsys, config) == []

    code, out, err = run(capsys, "retention", "run", "--config", config, "--now", now)
    assert code == 0
    lines = err.splitlines()
    assert "retention: support_triage: deleting events past retention: 1 to do" in lines
    assert any(re.fullmatch(r"retention: support_triage: 1 events deleted \([0-9.]+ s\)", line)
               for line in lines), lines  # fmt: skip
    assert "deleted 2 events and 0 identities; receipt written to the access log" in out
    (receipt,) = receipts(capsys, config)
    assert receipt["principal"] == f"cli:{getpass.getuser()}" and receipt["subjects"] == []
    assert receipt["role"] == "admin"
    reason = json.loads(receipt["reason"])
    moment = datetime.fromisoformat(now)
    assert reason["dry_run"] is False and reason["started_at"] == moment.isoformat()
    assert reason["cutoffs"] == {p: cutoff(p, moment).isoformat() for p in PURPOSES}
    assert reason["deleted"]["behavior.events"] == {
        p: int(p in ("agent_assist", "support_triage")) for p in PURPOSES
    }
    assert reason["deleted"]["vault.identities"] == 0
    assert files_holding(data_dir, [expired]) == {}
    assert found_anywhere(data_dir, [kept]) == {kept}

    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact" in out
    code, out, _ = run(capsys, "retention", "verify", "--config", config, "--now", now)
    assert code == 0 and "nothing past its retention" in out


KILL_ROWS = 30_000


def test_a_run_killed_mid_purge_leaves_a_consistent_store_and_the_next_finishes(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(data_dir)
    domain = open_domain(settings)
    people = [subject(domain, f"p{i}") for i in range(300)]
    base = to_us(cutoff("support_triage")) - KILL_ROWS * SECOND_US
    batch = 5000
    for start in range(0, KILL_ROWS, batch):
        domain.store.append(
            [
                StoredEvent(
                    people[i % 300], "support_triage", "page_viewed", base + i * SECOND_US, {}
                )
                for i in range(start, start + batch)
            ],
            received_at_us=base,
        )
    add(domain, people[0], "support_triage", cutoff("support_triage"))  # kept
    domain.close()
    config = str(config_for(data_dir, tmp_path))
    behavior = data_dir / "behavior.db"

    tactful_cli = Path(sys.executable).parent / "tactful"
    argv = [str(tactful_cli), "retention", "run", "--config", config, "--now", NOW.isoformat()]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    watchdog = threading.Timer(30, process.kill)  # never hang the suite on a stuck job
    watchdog.start()
    try:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if "deleting events past retention: " in line and " of " in line:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL, seen

    left = rows(behavior, "SELECT count(*) FROM events")[0][0] - 1
    assert 0 < left < KILL_ROWS and (KILL_ROWS - left) % CHUNK_ROWS == 0, left
    assert activity_matches_events(data_dir)
    assert receipts(capsys, config) == []  # no receipt for a run that did not finish

    code, _, _ = run(capsys, "retention", "run", "--config", config, "--now", NOW.isoformat())
    assert code == 0
    assert rows(behavior, "SELECT count(*) FROM events")[0][0] == 1
    assert activity_matches_events(data_dir)
    (receipt,) = receipts(capsys, config)
    assert json.loads(receipt["reason"])["deleted"]["behavior.events"]["support_triage"] == left
    code, _, _ = run(capsys, "retention", "verify", "--config", config, "--now", NOW.isoformat())
    assert code == 0
    code, out, _ = run(capsys, "audit", "verify", "--config", config)
    assert code == 0 and "intact: 3 records" in out  # the receipt and the two queries
