"""Sign-in lockouts: after `after` refused sign-ins a key is locked out, each lockout in
a row twice as long up to `max_s`; failures drain as they age, and the backoff starts
over after `max_s` without a lockout. Time is a parameter: nobody sleeps."""

from __future__ import annotations

from tactful.app.lockout import EVERYONE, Lockout, LockoutPolicy, Lockouts, address_key

POLICY = LockoutPolicy(after=3, everyone_after=5, first_s=10, max_s=35)
A, B = address_key("10.0.0.1"), address_key("10.0.0.2")


def fail(
    lockouts: Lockouts, times: int, *, now_s: float, keys: tuple[str, ...] = (A,)
) -> list[Lockout]:
    return [lockout for _ in range(times) for lockout in lockouts.fail(keys, now_s=now_s)]


def test_a_key_is_locked_out_after_its_threshold_for_ever_longer_up_to_the_cap() -> None:
    lockouts = Lockouts(POLICY)
    seconds = []
    now = 0.0
    for _ in range(4):
        (lockout,) = fail(lockouts, 3, now_s=now)
        assert lockouts.locked([A, B], now_s=lockout.until_s - 0.001) == lockout
        assert lockouts.locked([A, B], now_s=lockout.until_s) is None
        assert lockouts.locked([B], now_s=now) is None  # other keys are apart
        seconds.append(lockout.seconds)
        now = lockout.until_s
    assert seconds == [10, 20, 35, 35]


def test_everyone_is_locked_out_by_failures_from_many_addresses() -> None:
    lockouts = Lockouts(POLICY)
    started = [
        lockout
        for i in range(5)
        for lockout in lockouts.fail([address_key(f"10.0.1.{i}"), EVERYONE], now_s=0.0)
    ]
    assert [lockout.key for lockout in started] == [EVERYONE]
    assert lockouts.locked([address_key("10.9.9.9"), EVERYONE], now_s=9.0) == started[0]


def test_failures_drain_as_they_age_and_the_backoff_is_forgiven() -> None:
    lockouts = Lockouts(POLICY)
    assert fail(lockouts, 2, now_s=0.0) == []
    assert fail(lockouts, 2, now_s=35.0) == []  # the two before drained (3 per 35 s)
    (first,) = fail(lockouts, 1, now_s=35.0)
    assert first.seconds == 10
    (second,) = fail(lockouts, 3, now_s=first.until_s)
    assert second.seconds == 20
    (again,) = fail(lockouts, 3, now_s=second.until_s + 35)  # quiet for max_s
    assert again.seconds == 10 and again.level == 0


def test_a_sign_in_forgives_its_address_but_not_everyone() -> None:
    lockouts = Lockouts(POLICY)
    assert fail(lockouts, 2, now_s=0.0, keys=(A, EVERYONE)) == []
    lockouts.succeed([A, EVERYONE], now_s=0.0)
    assert fail(lockouts, 2, now_s=0.0, keys=(A, EVERYONE)) == []
    (everyone,) = fail(lockouts, 1, now_s=0.0, keys=(B, EVERYONE))
    assert everyone.key == EVERYONE
