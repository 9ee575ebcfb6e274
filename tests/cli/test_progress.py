"""Long jobs show total, done, rate and time left: a bar on a terminal, plain
periodic lines elsewhere (cron, journald)."""

from __future__ import annotations

import io

from tactful.cli.progress import PlainProgress, TerminalProgress, progress_for


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_say_the_total_then_at_most_one_line_per_period_then_the_end() -> None:
    out, clock = io.StringIO(), Ticks()
    progress = progress_for(out, "retention", every_s=10, clock=clock)
    assert isinstance(progress, PlainProgress)
    progress.begin("onboarding: deleting events past retention", 20000)
    progress.advance(5000)  # at once: the first count is said
    clock.now += 2
    progress.advance(5000)  # within the period: quiet
    clock.now += 10
    progress.advance(5000)
    clock.now += 1
    progress.end("onboarding: 15000 events deleted")
    assert out.getvalue().splitlines() == [
        "retention: onboarding: deleting events past retention: 20000 to do",
        "retention: onboarding: deleting events past retention: 5000 of 20000 (25 %)",
        "retention: onboarding: deleting events past retention: 15000 of 20000 (75 %),"
        " 1250/s, about 4 s left",
        "retention: onboarding: 15000 events deleted (13.0 s)",
    ]


def test_a_stage_of_unknown_size_counts_what_it_did() -> None:
    out, clock = io.StringIO(), Ticks()
    progress = PlainProgress(out, "retention", every_s=0, clock=clock)
    progress.begin("identities: examined", None)
    clock.now += 4
    progress.advance(800)
    assert out.getvalue().splitlines()[-1] == "retention: identities: examined: 800 so far, 200/s"


def test_a_terminal_gets_a_bar_with_count_total_rate_and_time_left() -> None:
    out = Terminal()
    progress = progress_for(out, "rekey")
    assert isinstance(progress, TerminalProgress)
    progress.begin("moving subjects to the primary keys", 10)
    progress.advance(4)
    progress.advance(6)
    progress.end("moved 10 subjects; 0 could not be read")
    screen = out.getvalue()
    assert "rekey: moving subjects to the primary keys: 100%" in screen
    assert "10/10 [" in screen and "it/s]" in screen  # done/total [elapsed<left, rate]
    assert screen.endswith("rekey: moved 10 subjects; 0 could not be read\n")
