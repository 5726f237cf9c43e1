"""ReAct and Reflexion prompting (repro.eval.prompting): the turn structure on real ALFWorld games and
real WebShop pages, with the scripted replier, a walkthrough replayed through the reply protocol,
and the tiny model; the CLI's one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("textworld", reason="the ALFWorld text engine (textworld) is not installed")

from repro.config import ModelConfig, SamplingConfig  # noqa: E402
from repro.envs.alfworld import AlfworldEnv  # noqa: E402
from repro.envs.webshop import WebShopConfig, WebShopEnv  # noqa: E402
from repro.errors import ReproError  # noqa: E402
from repro.eval.prompting import (ModelReplier, PromptingConfig, ReplyRequest, ScriptedReplier,  # noqa: E402
                                  parse_turn, reflection_text, run_prompted, shorter_prompts)
from repro.results.compare import infer_row  # noqa: E402
from repro.rollout import EnvPool, RolloutConfig  # noqa: E402


class Recording:
    """Keeps every request a replier answered (prompts included), in order."""

    def __init__(self, replier):
        self.replier, self.requests = replier, []

    def reply(self, requests, round_index):
        self.requests += requests
        return self.replier.reply(requests, round_index)


@pytest.mark.parametrize("reply, turn", [
    ("<think>find the apple</think>", ("thought", "find the apple", True)),
    ("<think>x</think><action>Go To Fridge 1</action>", ("action", "go to fridge 1", True)),
    ("<action>look</action>", ("action", "look", True)),
    ("<action>看</action>", ("action", "看", False)),
    ("I have no tags at all, so: go to fridge 1", ("action", "no tags at all, so: go to fridge 1"[-30:], False)),
])
def test_a_reply_is_a_thought_or_an_action(reply, turn):
    got = parse_turn(reply, 30, may_think=True)
    assert (got.kind, got.text, got.valid) == turn


def test_a_thought_beyond_the_budget_is_an_invalid_action():
    got = parse_turn("<think>still thinking</think>", 20, may_think=False)
    assert (got.kind, got.valid) == ("action", False) and got.text == "<think>still thinking</think>"[-20:]


def test_reflection_memory_keeps_the_text_outside_thoughts():
    assert reflection_text("<think>hm</think>  I looped.\nNext: open the fridge. ") == "I looped. Next: open the fridge."
    assert reflection_text("<think>only a thought</think>") == "<think>only a thought</think>"


def test_a_prompt_too_long_for_the_model_falls_back_to_less_history(tiny_model_dir):
    from repro.policy import load_policy

    assert shorter_prompts(lambda n: "x" * n, 4) == ("xxxx", "xx", "x", "")
    assert shorter_prompts(lambda n: str(n), 0) == ("0",)
    policy = load_policy(ModelConfig(path=str(tiny_model_dir)))
    long, short = "look around " * 200, "look around"
    fits = len(policy.chat_prompt([{"role": "user", "content": short}])) + 5
    replier = ModelReplier(policy, SamplingConfig(max_new_tokens=4, seed=0), max_prompt_tokens=fits)
    (reply,) = replier.reply([ReplyRequest(0, "turn", (long, short), ["look"], True)], 0)
    assert isinstance(reply, str)
    with pytest.raises(ReproError, match="exceeds env.max_prompt_tokens=.* even without history"):
        replier.reply([ReplyRequest(0, "turn", (long, long), ["look"], True)], 0)


def test_config_errors_and_row_names():
    for bad, msg in (({"style": "cot"}, "prompting.style must be one of plain, react, reflexion"),
                     ({"trials": 0}, "prompting.trials must be >= 1"),
                     ({"max_thoughts": -1}, "prompting.max_thoughts must be >= 0")):
        with pytest.raises(ReproError, match=msg):
            PromptingConfig(**bad).validate()
    assert infer_row({"policy": "model", "prompting": {"style": "react"}}, False, False) == "react"
    assert infer_row({"policy": "model", "prompting": {"style": "reflexion"}}, False, False) == "reflexion"
    assert infer_row({"policy": "model", "prompting": {"style": "plain"}}, False, False) == "prompting"
    assert infer_row({"policy": "random", "prompting": {"style": "react"}}, False, False) == "scripted-random-react"


def assert_react_structure(episode, max_thoughts: int, trials: int = 1) -> None:
    """Per trial: each env step is at most ``max_thoughts`` thoughts on one observation, then an
    action; a reflection closes every trial but the last; steps count the actions only."""
    trace = episode.trace
    assert {t["trial"] for t in trace} == set(range(trials))
    actions = [t for t in trace if t["turn"] == "action"]
    assert episode.steps == len(actions) and episode.invalid_steps == sum(not t["valid"] for t in actions)
    for trial in range(trials):
        turns = [t for t in trace if t["trial"] == trial]
        if trial < trials - 1:
            assert turns[-1]["turn"] == "reflection" and turns[-2]["done"]
            turns = turns[:-1]
        assert turns[-1]["turn"] == "action" and turns[-1]["done"]
        run = 0
        for prev, t in zip([None] + turns, turns):
            assert t["turn"] in ("thought", "action")
            if prev is not None and prev["turn"] == "thought":
                assert t["observation"] == prev["observation"]  # a thought took no env step
            run = run + 1 if t["turn"] == "thought" else 0
            assert run <= max_thoughts
            assert (t["action"] is None) == (t["turn"] == "thought")


@pytest.fixture(scope="module")
def seen_ids() -> list[str]:
    return AlfworldEnv(AlfworldEnv.Config()).task_ids("valid_seen")


def test_react_on_alfworld_interleaves_one_thought_per_action(seen_ids):
    cfg = AlfworldEnv.Config(max_steps=3)
    replier = Recording(ScriptedReplier(seed=0))
    with EnvPool(AlfworldEnv, cfg, RolloutConfig(num_workers=1)) as pool:
        episodes = run_prompted(pool, replier, seen_ids[:1], 2, PromptingConfig(style="react"))
    assert [(e.group, e.traj, e.policy) for e in episodes] == [(0, 0, "react"), (0, 1, "react")]
    for e in episodes:
        assert e.failed is None and not e.success and e.steps == 3
        assert [t["turn"] for t in e.trace] == ["thought", "action"] * 3
        assert all(t["action"] in t["admissible_actions"] for t in e.trace if t["turn"] == "action")
        assert_react_structure(e, max_thoughts=1)
    # traj 0's prompts: round 2 repeats step 1 with its thought; step 2 shows step 1's thought and action
    mine = [r for r in replier.requests if r.traj == 0]
    assert [r.may_think for r in mine] == [True, False] * 3
    thought = ScriptedReplier.THOUGHT.removeprefix("<think>").removesuffix("</think>")
    assert "step 1." in mine[0].prompts[0] and "Your thought at this step" not in mine[0].prompts[0]
    assert f"Your thought at this step: {thought}" in mine[1].prompts[0]
    first_action = episodes[0].trace[1]["action"]
    assert f"[Thought: '{thought}']\n[Action 1: '{first_action}']" in mine[2].prompts[0] and "step 2." in mine[2].prompts[0]
    assert "Reflection" not in mine[2].prompts[0]
    # for a model whose context cannot hold it: the same turn with 1 step of history, then none
    assert len(mine[2].prompts) == 3 and "[Action 1:" in mine[2].prompts[1] and "[Action 1:" not in mine[2].prompts[2]


def walkthrough_replier(seen_ids, task):
    """Trial 0 random actions (never thinking), later trials the game's own walkthrough, all as replies."""
    walk = json.loads(AlfworldEnv(AlfworldEnv.Config()).game_file(task).read_text())["walkthrough"]
    random_replier = ScriptedReplier(seed=3)

    class Replier:
        trial, at = 0, 0

        def reply(self, requests, round_index):
            (r,) = requests
            if r.kind == "reflection":
                self.trial, self.at = self.trial + 1, 0
                return ["<think>why</think>I wandered. Next time follow the plan."]
            if self.trial == 0:
                return random_replier.reply([r.__class__(r.traj, r.kind, r.prompts, r.admissible_actions, False)], 0)
            self.at += 1
            return [f"<action>{walk[self.at - 1]}</action>"]

    return Recording(Replier()), len(walk)


def test_reflexion_on_alfworld_reflects_after_a_failure_and_stops_at_a_win(seen_ids):
    task = seen_ids[0]
    replier, steps = walkthrough_replier(seen_ids, task)
    with EnvPool(AlfworldEnv, AlfworldEnv.Config(max_steps=steps), RolloutConfig(num_workers=1)) as pool:
        (episode,) = run_prompted(pool, replier, [task], 1, PromptingConfig(style="reflexion", trials=3))
    assert episode.failed is None and episode.success  # the second trial won: no third
    assert_react_structure(episode, max_thoughts=1, trials=2)
    assert [t["turn"] for t in episode.trace].count("reflection") == 1
    assert episode.episode_return == 10.0 and episode.steps == 2 * steps
    reflection = [r for r in replier.requests if r.kind == "reflection"]
    assert len(reflection) == 1 and "task not completed" in reflection[0].prompts[0]
    assert f"[Action {steps}: '{episode.trace[steps - 1]['action']}']" in reflection[0].prompts[0]
    later = [r for r in replier.requests if r.kind == "turn"][steps:]
    assert later and all("[Reflection 1: 'I wandered. Next time follow the plan.']" in r.prompts[0] for r in later)


def test_reflexion_on_webshop_uses_its_trial_budget():
    env_cfg = WebShopConfig(max_steps=2)
    replier = Recording(ScriptedReplier(seed=1))
    with EnvPool(WebShopEnv, env_cfg, RolloutConfig(num_workers=1)) as pool:
        episodes = run_prompted(pool, replier, ["0", "1"], 1, PromptingConfig(style="reflexion", trials=3, memory=2))
    for e in episodes:
        assert e.failed is None and not e.success and e.steps == 3 * 2
        assert [t["turn"] for t in e.trace] == (["thought", "action"] * 2 + ["reflection"]) * 2 + ["thought", "action"] * 2
        assert_react_structure(e, max_thoughts=1, trials=3)
    last = [r for r in replier.requests if r.traj == 0 and r.kind == "turn"][-1]
    assert "WebShop e-commerce" in last.prompts[0] and "[Reflection 2:" in last.prompts[0] and "[Reflection 3:" not in last.prompts[0]
    assert "'search[<your query>]'," in replier.requests[0].prompts[0]  # WebShop's own action list format


@pytest.mark.parametrize("env_cls, cfg, task", [(AlfworldEnv, AlfworldEnv.Config(max_steps=2), None),
                                                (WebShopEnv, WebShopConfig(max_steps=2), "0")])
def test_tiny_model_turns_follow_the_protocol(tiny_model_dir, seen_ids, env_cls, cfg, task):
    from repro.policy import load_policy

    policy = load_policy(ModelConfig(path=str(tiny_model_dir)))
    replier = Recording(ModelReplier(policy, SamplingConfig(max_new_tokens=16, seed=2), cfg.max_prompt_tokens))
    style = PromptingConfig(style="reflexion", trials=2)
    with EnvPool(env_cls, cfg, RolloutConfig(num_workers=1)) as pool:
        episodes = run_prompted(pool, replier, [task or seen_ids[0]], 2, style)
    for e in episodes:
        assert e.failed is None and not e.success  # a random model never wins
        assert_react_structure(e, max_thoughts=1, trials=2)
        assert e.steps == 2 * 2 and all(t["reply"] is not None for t in e.trace)
        previous = None
        for t in e.trace:
            if t["turn"] != "reflection":  # each turn is what its reply parses to
                may_think = previous is None or previous["turn"] != "thought"
                turn = parse_turn(t["reply"], env_cls.ACTION_FALLBACK_CHARS, may_think)
                assert (t["turn"], t["valid"]) == (turn.kind, turn.valid)
                assert t["action"] == (turn.text if turn.kind == "action" else None)
            previous = t
    assert {r.kind for r in replier.requests} == {"turn", "reflection"}


def run_cli(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "repro", "eval", *args, f"results_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=300)


def test_eval_cli_runs_react_and_rejects_what_it_cannot(tmp_path):
    out = run_cli(["--env", "webshop", "--policy", "random", "--limit", "2", "--run-name", "r",
                   "prompting.style=react", "env.max_steps=2"], tmp_path)
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["details"]["prompting"]["style"] == "react" and results["counts"]["episodes"] == 2
    samples = [json.loads(line) for line in (tmp_path / "r" / "samples.jsonl").read_text().splitlines()]
    assert [t["turn"] for t in samples[0]["trace"]] == ["thought", "action"] * 2
    for args, msg in ((["--env", "alfworld", "--policy", "expert", "prompting.style=react"],
                       "prompting.style=react needs policy model or random"),
                      (["--env", "maze", "--policy", "random", "prompting.style=reflexion"],
                       "no role line for env 'maze'"),
                      (["--env", "gsm8k", "prompting.style=react"], "is for agent envs"),
                      (["--env", "webshop", "prompting.style=cot"], "prompting.style must be one of")):
        out = run_cli(args, tmp_path)
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
