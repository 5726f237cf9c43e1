"""The rollout loop's pure parts: action projection (docs/gigpo.md §2.4), prompts (docs/gigpo.md §2.3), metrics."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from repro.envs.alfworld import AlfworldEnv
from repro.envs.base import summarize_episodes
from repro.rollout import EpisodeRecord, RolloutConfig, project_action
from repro.rollout.loop import reply_seed
from repro.errors import ReproError


@pytest.mark.parametrize(
    "reply, action, valid",
    [
        ("<think>go</think><action>Go To Desk 1</action>", "go to desk 1", True),
        ("<think>x</think> <ACTION>  take mug 1 from desk 1 \n</ACTION>", "take mug 1 from desk 1", True),
        # the first pair of tags wins
        ("<think>a</think><action>look</action><action>inventory</action>", "look", True),
        # tags present but no think block: executed, yet invalid
        ("<action>look</action>", "look", False),
        ("<think>a<action>look</action>", "look", False),
        # a CJK character anywhere makes the step invalid
        ("<think>想</think><action>look</action>", "look", False),
        # no action tags: the last 30 characters of the lower-cased reply, invalid
        ("<think>I will now go to the Countertop number 1</think>", "go to the countertop number 1</think>"[-30:], False),
        ("short", "short", False),
    ],
)
def test_project_action_follows_the_paper(reply, action, valid):
    assert project_action(reply, 30) == (action, valid)


def test_webshop_fallback_is_shorter():
    reply = "I would click on the first product listed"
    assert project_action(reply, 20) == (reply.lower()[-20:], False)


@given(st.text(max_size=200))
def test_projection_takes_its_action_from_the_lower_cased_reply(reply):
    action, valid = project_action(reply, 30)
    assert action in reply.lower()
    if "<action>" not in reply.lower() or "</action>" not in reply.lower():
        assert not valid and action == reply.lower()[-30:]


def test_prompt_shows_only_recent_history_and_the_step_number():
    cfg = AlfworldEnv.Config(history_length=2)
    actions = ["go to desk 1", "look"]
    first = AlfworldEnv.render_prompt(cfg, "put a mug in the sink.", "Welcome", actions, [], 0)
    assert "Observation 1" not in first and "Welcome" in first and "'go to desk 1', 'look'" in first
    assert "<think>" in first and "<action>" in first
    history = [("o1", "a1"), ("o2", "a2"), ("o3", "a3")]
    later = AlfworldEnv.render_prompt(cfg, "put a mug in the sink.", "o4", actions, history, 3)
    assert "Your task is to: put a mug in the sink." in later
    assert "[Observation 2: 'o2', Action 2: 'a2']\n[Observation 3: 'o3', Action 3: 'a3']" in later
    assert "o1" not in later and "step 4" in later and "already taken 3 step(s)" in later
    no_history = AlfworldEnv.render_prompt(AlfworldEnv.Config(history_length=0), "t", "o4", actions, history, 3)
    assert "Observation" not in no_history and "o4" in no_history


def test_summary_counts_failed_episodes_as_losses():
    def ep(task_type, success, steps, invalid, failed=None):
        return EpisodeRecord(group=0, traj=0, task=f"valid_seen/{task_type}-X-None-Y-1/trial_1", policy="x",
                             success=success, steps=steps, invalid_steps=invalid, episode_return=10.0 * success,
                             task_score=float(success), failed=failed)

    eps = [ep("pick_and_place_simple", True, 4, 0), ep("pick_and_place_simple", False, 50, 10),
           ep("look_at_obj_in_light", False, 0, 0, failed="worker crashed")]
    m = AlfworldEnv.summarize(eps)
    assert m["success_rate"] == pytest.approx(1 / 3)
    assert m["success_rate_pick"] == 0.5 and m["success_rate_look"] == 0.0
    assert m["mean_steps"] == pytest.approx(54 / 3) and m["invalid_action_rate"] == pytest.approx(10 / 54)
    assert m["failed_episodes"] == 1 and m["mean_return"] == pytest.approx(10 / 3)
    assert summarize_episodes([], lambda e: None)["success_rate"] == 0.0


def test_reply_seeds_are_distinct_per_trajectory_and_step():
    seeds = {reply_seed(7, t, s) for t in range(50) for s in range(20)}
    assert len(seeds) == 1000 and reply_seed(7, 3, 2) == reply_seed(7, 3, 2) != reply_seed(8, 3, 2)


def test_rollout_config_rejects_bad_values():
    with pytest.raises(ReproError, match="pipeline_stages"):
        RolloutConfig(pipeline_stages=0).validate()
    assert RolloutConfig(num_workers=3).workers() == 3 and RolloutConfig().workers() >= 1
