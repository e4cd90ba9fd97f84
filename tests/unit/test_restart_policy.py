"""The restart arithmetic of RestartPolicy: pure, the time passed in. No processes, no sleeps."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from hubcore.app._spec import RestartPlan, RestartPolicy

POLICY = RestartPolicy(backoff=0.1, backoff_max=1.0, max_restarts=5, within=30.0)


def crash_at(policy: RestartPolicy, times: Iterable[float]) -> list[RestartPlan]:
    """Plan a crash at each time in turn, carrying the history as the supervisor does."""
    plans: list[RestartPlan] = []
    history: tuple[float, ...] = ()
    for now in times:
        plan = policy.plan(history, now)
        plans.append(plan)
        history = plan.history
    return plans


def test_restart_policy_delay_doubles_per_restart_up_to_backoff_max() -> None:
    assert [POLICY.delay(k) for k in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_restart_policy_default_delays_match_the_docs() -> None:
    """docs/lifecycle.md: with the defaults the delays are 0.1, 0.2, 0.4, 0.8, 1.6 s."""
    assert [RestartPolicy().delay(k) for k in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])


def test_restart_policy_delay_of_a_huge_restart_count_is_backoff_max() -> None:
    assert RestartPolicy(max_restarts=10**6).delay(5000) == 5.0
    assert RestartPolicy(backoff=0.0, backoff_max=0.0).delay(5000) == 0.0


def test_restart_policy_plan_grows_the_delay_within_the_window() -> None:
    plans = crash_at(POLICY, [0.0, 1.0, 2.0, 3.0, 4.0])
    assert [p.delay for p in plans] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0])
    assert [p.crashes for p in plans] == [1, 2, 3, 4, 5]
    assert plans[-1].history == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert not any(p.gives_up for p in plans)


def test_restart_policy_plan_gives_up_after_max_restarts() -> None:
    plans = crash_at(POLICY, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    last = plans[-1]
    assert (last.delay, last.crashes, last.gives_up) == (None, 6, True)
    assert last.history == (0.0, 1.0, 2.0, 3.0, 4.0)  # the failed crash is no restart


def test_restart_policy_plan_window_forgets_old_restarts() -> None:
    """Restarts older than ``within`` no longer count: the delay falls back, no crash loop."""
    plans = crash_at(POLICY, [0.0, 10.0, 20.0, 30.0, 40.0, 45.0, 50.0])
    # at 30 the restart at 0 is exactly `within` old and still counts; at 40 it does not
    assert [len(p.history) for p in plans] == [1, 2, 3, 4, 4, 4, 5]
    assert [p.delay for p in plans] == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.8, 0.8, 1.0])
    assert plans[4].history == (10.0, 20.0, 30.0, 40.0)
    assert plans[6].history == (20.0, 30.0, 40.0, 45.0, 50.0)


def test_restart_policy_plan_after_a_long_quiet_spell_starts_again_from_backoff() -> None:
    first = crash_at(POLICY, [0.0, 1.0, 2.0])
    later = POLICY.plan(first[-1].history, 100.0)
    assert (later.delay, later.crashes, later.history) == (pytest.approx(0.1), 1, (100.0,))


def test_restart_policy_crash_loop_needs_the_crashes_within_the_window() -> None:
    """Crashes spread wider than the window restart for ever, never a crash loop."""
    plans = crash_at(POLICY, [n * 7.0 for n in range(50)])
    assert not any(p.gives_up for p in plans)
    assert max(p.crashes for p in plans) == 5  # 0, 7, 14, 21, 28 fit in 30 s


@pytest.mark.parametrize("max_restarts", [0, 1, 3])
def test_restart_policy_max_restarts_restarts_then_fails(max_restarts: int) -> None:
    policy = RestartPolicy(backoff=0.5, backoff_max=10.0, max_restarts=max_restarts)
    plans = crash_at(policy, [float(n) for n in range(max_restarts + 1)])
    assert [p.gives_up for p in plans] == [False] * max_restarts + [True]
    assert plans[-1].crashes == max_restarts + 1


def test_restart_policy_plan_does_not_change_its_inputs() -> None:
    history = [0.0, 1.0]
    plan = POLICY.plan(history, 2.0)
    assert history == [0.0, 1.0]
    assert plan.history == (0.0, 1.0, 2.0)
    assert POLICY.plan(history, 2.0) == plan  # same inputs, same plan: no clock inside
