"""WebShop env: goals, pages and actions (docs/envs.md §3), observation format (docs/gigpo.md §2.2), oracle."""

from __future__ import annotations

import json

import pytest

from repro.envs.webshop import WebShopConfig, WebShopEnv
from repro.envs.webshop.catalog import goal_list_hash, synthetic_goals
from repro.envs.webshop.prompt import PROMPT_FALLBACK_CHARS
from repro.rollout.scripted import run_scripted_episode


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(WebShopConfig())


def product_clicks(env, info) -> list[str]:
    return [a for a in info["admissible_actions"] if a[6:-1].upper() in env.catalog.products]


def test_goal_count_split_and_instruction_format(env):
    assert len(env.goals) == 6910
    assert len(env.task_ids("test")) == 500 and env.task_ids("test")[0] == "0"
    assert len(env.task_ids("train")) == 6410 and env.task_ids("train")[0] == "500"
    goal = env.goals[0]
    text = goal["instruction_text"]
    options = ", and ".join(f"{k}: {v}" for k, v in goal["goal_options"].items())
    assert f" with {options}, and price lower than {goal['price_upper']:.2f} dollars" in text
    assert list(goal["goal_options"]) == sorted(goal["goal_options"])
    price = env.prices[goal["asin"]]
    assert price < goal["price_upper"] <= price + 40 and goal["price_upper"] % 10 == 0


def test_goal_list_is_a_function_of_the_seed(env):
    again, _ = synthetic_goals(env.catalog, 233)
    other, _ = synthetic_goals(env.catalog, 1)
    assert goal_list_hash(again) == goal_list_hash(env.goals) == env.provenance()["goal_list_sha256"]
    assert goal_list_hash(other) != goal_list_hash(env.goals)
    assert env.provenance()["goal_seed"] == 233 and env.provenance()["goal_count"] == 6910


def test_search_page_and_noops(env):
    obs, info = env.reset("3")
    assert info["admissible_actions"] == ["search[<your query>]"]
    assert info["raw_observation"] == f"WebShop [SEP] Instruction: [SEP] {info['task']} [SEP] Search"
    assert obs == info["anchor"] == "'Search'"
    for action in ["click[search]", "search[]", "click[buy now]", "nonsense", "click[b000000000]"]:
        obs2, reward, done, info2 = env.step(action)
        assert (obs2, reward, done) == (obs, 0.0, False)
        assert info2["raw_observation"] == info["raw_observation"]


def test_results_paging_item_and_sub_pages(env):
    env.reset("3")
    obs, _, _, info = env.step("search[Pillow COVER]")
    raw = info["raw_observation"]
    assert raw.split(" [SEP] ")[2:5] == ["Back to Search", "Page 1 (Total results: 50)", "Next >"]
    assert obs.startswith("'Back to Search' [SEP] 'Page 1 (Total results: 50)' [SEP] 'Next >' [SEP] 'B")
    products = product_clicks(env, info)
    assert info["admissible_actions"][:2] == ["click[back to search]", "click[next >]"] and len(products) == 10
    page1 = products
    _, _, _, info = env.step("click[next >]")
    assert "Page 2 (Total results: 50)" in info["raw_observation"]
    assert info["admissible_actions"][:3] == ["click[back to search]", "click[< prev]", "click[next >]"]
    _, _, _, info = env.step("click[< prev]")
    assert product_clicks(env, info) == page1
    _, _, _, info = env.step(page1[0])
    asin = page1[0][6:-1].upper()
    product = env.catalog.products[asin]
    assert f"Price: {product['Price']} [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now" \
        in info["raw_observation"]
    assert info["admissible_actions"][:6] == ["click[back to search]", "click[< prev]", "click[description]",
                                              "click[features]", "click[reviews]", "click[buy now]"]
    _, _, _, info = env.step("click[features]")
    assert info["raw_observation"].endswith(product["BulletPoints"][-1].strip())
    assert info["admissible_actions"] == ["click[back to search]", "click[< prev]"]
    _, _, _, info = env.step("click[< prev]")
    assert "click[buy now]" in info["admissible_actions"]
    _, _, _, info = env.step("click[< prev]")  # item page -> its results page
    assert "Page 1 (Total results: 50)" in info["raw_observation"]
    _, _, _, info = env.step("search[pillow cover]")  # search works from any page
    _, _, _, info = env.step("click[back to search]")
    assert info["admissible_actions"] == ["search[<your query>]"]


def test_option_selection_and_purchase(env):
    goal = next(g for g in env.goals if len(g["goal_options"]) == 2)
    env.reset(json.loads(json.dumps(goal)))  # an explicit goal dict works like its id
    env.step(f"search[{goal['instruction_text']}]")
    _, _, _, info = env.step(f"click[{goal['asin'].lower()}]")
    for value in goal["goal_options"].values():
        assert f"click[{value}]" in info["admissible_actions"]
        _, _, _, info = env.step(f"click[{value}]")
    obs, reward, done, info = env.step("click[buy now]")
    assert done and info["task_score"] == env.reward
    assert reward == (10.0 if info["won"] else 0.0)
    assert env.state.options == {k: v for k, v in goal["goal_options"].items()}


def test_step_cap_ends_episode(env):
    env.reset("0")
    for i in range(14):
        assert not env.step("click[nothing]")[2]
    _, reward, done, info = env.step("click[nothing]")
    assert done and reward == 0.0 and not info["won"]


def test_prompt_uses_history_and_falls_back_when_long(env):
    cfg = env.cfg
    p0 = WebShopEnv.render_prompt(cfg, "buy a hat", "'Search'", ["search[<your query>]"], [], 0)
    assert "Your task is to: buy a hat." in p0 and "'search[<your query>]'," in p0 and "Prior to" not in p0
    hist = [("'Search'", "search[hat]"), ("'a'", "click[x]"), ("'b'", "click[y]")]
    p3 = WebShopEnv.render_prompt(cfg, "buy a hat", "'c'", ["click[z]"], hist, 3)
    assert "already taken 3 step(s). Below are the most recent 2 observations" in p3
    assert "[Observation 2: ''a'', Action 2: 'click[x]']\n[Observation 3: ''b'', Action 3: 'click[y]']" in p3
    long_hist = [("x" * PROMPT_FALLBACK_CHARS, "click[x]")]
    assert "Prior to" not in WebShopEnv.render_prompt(cfg, "t", "'c'", ["click[z]"], long_hist, 1)


def test_oracle_buys_the_goal_on_first_goals(env):
    records = [run_scripted_episode(env, "oracle", str(i), 0, {}, 0, i) for i in range(5)]
    assert all(r.success and r.task_score == 1.0 for r in records)
    assert all(r.trace[-1]["action"] == "click[buy now]" and r.steps <= 15 for r in records)
