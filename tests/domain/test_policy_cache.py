"""`policy_of` caches validated policies by their config, never a refusal."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.domain.campaign_policy import CampaignPolicy, policy_of

CONFIG: dict[str, Any] = {
    "calling_hours": {"days": ["mon", "tue"], "start": "10:00", "end": "18:00"},
    "retry": {"max_attempts": 4, "delay_secs": {"busy": 60.0, "no_answer": 120.0}},
    "burst": {"mode": "budget", "max_burst_calls_per_day": 10},
    "max_concurrency": 7,
    "default_variables": {"region": "west", "tier": 2},
}


def reordered(value: Any) -> Any:
    """The same document with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return value


def test_the_same_config_gives_the_same_policy_object() -> None:
    first = policy_of(CONFIG)
    again = policy_of(copy.deepcopy(CONFIG))
    assert again is first
    assert first == CampaignPolicy.model_validate(CONFIG)
    assert first.max_concurrency == 7 and first.retry.max_attempts == 4


def test_key_order_does_not_matter() -> None:
    flipped = reordered(CONFIG)
    assert list(flipped) != list(CONFIG)
    assert list(flipped["retry"]["delay_secs"]) != list(CONFIG["retry"]["delay_secs"])
    assert policy_of(flipped) is policy_of(CONFIG)


def test_no_config_is_the_default_policy() -> None:
    assert policy_of(None) is policy_of({})
    assert policy_of(None) == CampaignPolicy()


def test_different_configs_give_different_policies() -> None:
    base = policy_of(CONFIG)
    other = policy_of({**CONFIG, "max_concurrency": 8})
    nested = policy_of({**CONFIG, "retry": {**CONFIG["retry"], "max_attempts": 5}})
    assert other is not base and other != base and other.max_concurrency == 8
    assert nested is not base and nested != base and nested.retry.max_attempts == 5
    assert policy_of(CONFIG) is base


def test_a_changed_dict_is_read_again() -> None:
    config = copy.deepcopy(CONFIG)
    assert policy_of(config).max_concurrency == 7
    config["max_concurrency"] = 3
    assert policy_of(config).max_concurrency == 3


@pytest.mark.parametrize(
    "invalid",
    [
        {"max_concurrency": 0},
        {"retry": {"delay_secs": {"sometimes": 5}}},
        {"calling_hours": {"start": "06:00", "end": "07:45"}},
        {"unknown_field": True},
    ],
)
def test_an_invalid_config_is_refused_every_time(invalid: dict[str, Any]) -> None:
    for _ in range(3):
        with pytest.raises(ValidationError):
            policy_of(invalid)
    # A refusal is not cached in place of anything: valid configs still resolve.
    assert policy_of(CONFIG).max_concurrency == 7


def test_policies_stay_right_past_the_cache_size() -> None:
    policies = [policy_of({"max_concurrency": n}) for n in range(1, 601)]
    assert [p.max_concurrency for p in policies] == list(range(1, 601))
    assert [policy_of({"max_concurrency": n}).max_concurrency for n in (1, 300, 600)] == [
        1,
        300,
        600,
    ]


@pytest.mark.parametrize(
    ("valid", "invalid"),
    [
        ({"default_variables": {"1": "x"}}, {"default_variables": {1: "x"}}),
        (
            {"burst": {"max_extra_credits_per_day": None}},
            {"burst": {"max_extra_credits_per_day": float("nan")}},
        ),
    ],
)
def test_an_invalid_config_that_keys_like_a_cached_one_is_still_refused(
    valid: dict[str, Any], invalid: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        CampaignPolicy.model_validate(invalid)
    policy_of(valid)
    with pytest.raises(ValidationError):
        policy_of(invalid)
