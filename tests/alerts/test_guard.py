"""The connectivity guard's verdicts (pure)."""

from __future__ import annotations

from sitewatch.alerts.guard import GuardPolicy, judge


def test_most_websites_failing_means_it_is_us() -> None:
    policy = GuardPolicy(failure_ratio=0.5, min_websites=5)
    six_of_ten = {i: i >= 6 for i in range(10)}
    assert judge(six_of_ten, policy, None).offline
    assert "6 of 10" in (judge(six_of_ten, policy, None).reason or "")
    four_of_ten = {i: i >= 4 for i in range(10)}
    assert not judge(four_of_ten, policy, None).offline


def test_few_websites_prove_nothing_but_a_failing_canary_does() -> None:
    policy = GuardPolicy(failure_ratio=0.5, min_websites=5)
    assert not judge({1: False, 2: False}, policy, None).offline
    assert judge({1: True}, policy, canary_ok=False).offline
    assert not judge({1: True}, policy, canary_ok=True).offline
