"""The connectivity guard's verdicts (pure)."""

from __future__ import annotations

from sitewatch.alerts.guard import GuardPolicy, judge, unreachable


def test_most_websites_unreachable_means_it_is_us() -> None:
    policy = GuardPolicy(failure_ratio=0.5, min_websites=5)
    six_of_ten = {i: i < 6 for i in range(10)}
    assert judge(six_of_ten, policy, None).offline
    assert "6 of 10" in (judge(six_of_ten, policy, None).reason or "")
    four_of_ten = {i: i < 4 for i in range(10)}
    assert not judge(four_of_ten, policy, None).offline


def test_few_websites_prove_nothing_but_a_failing_canary_does() -> None:
    policy = GuardPolicy(failure_ratio=0.5, min_websites=5)
    assert not judge({1: True, 2: True}, policy, None).offline
    assert judge({1: False}, policy, canary_ok=False).offline
    assert not judge({1: False}, policy, canary_ok=True).offline


def test_only_failures_without_an_answer_count() -> None:
    """A website that answered (503, a failed assertion, a slow answer, a bad
    certificate) proves the network works."""
    for kind in ("dns", "refused", "timeout", "connection"):
        assert unreachable(False, kind)
    for kind in ("status", "assertion", "slow", "tls", "http", "too_large", "internal", None):
        assert not unreachable(False, kind)
    assert not unreachable(True, None)


def test_the_defaults_suit_a_small_installation() -> None:
    """With 7 websites, 4 (or even all 7) failing at once never hold a DOWN:
    below 10 websites only the canary can."""
    policy = GuardPolicy()
    assert (policy.failure_ratio, policy.min_websites) == (0.8, 10)
    assert not judge({i: i < 4 for i in range(7)}, policy, None).offline
    assert not judge(dict.fromkeys(range(7), True), policy, None).offline
    assert judge({i: i < 8 for i in range(10)}, policy, None).offline
    assert not judge({i: i < 7 for i in range(10)}, policy, None).offline
