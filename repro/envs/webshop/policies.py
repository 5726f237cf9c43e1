"""Scripted WebShop shoppers (factories ``make(env, task, seed, **kwargs)``, see repro.rollout.scripted).

* ``oracle``: searches the goal's instruction, pages through the results until the target ASIN
  shows up, selects the goal's option values and buys (docs/envs.md §3.2: the original environment with
  this search gives reward 1.0 on 142 of goals 0-199). If the target is not among the hits it
  searches again and buys the first result.
* ``replay``: sends recorded actions in order (then no-ops until the step cap).
"""

from __future__ import annotations

from typing import Any

NOOP = "click[<end of recorded actions>]"


class OracleShopper:
    def __init__(self, goal: dict[str, Any], product_ids: set[str]):
        self.goal = goal
        self.target = goal["asin"].lower()
        self.pending_options = [f"click[{v}]" for v in goal["goal_options"].values()]
        self.fallback: str | None = None  # the first result, bought if the target never shows up
        self.exhausted = False
        self.product_ids = product_ids

    def act(self, observation: str, info: dict[str, Any]) -> str:
        actions = info["admissible_actions"]
        search = f"search[{self.goal['instruction_text']}]"
        if "search[<your query>]" in actions:
            return search
        if "click[buy now]" in actions:  # on an item page
            while self.pending_options:
                option = self.pending_options.pop(0)
                if option in actions:
                    return option
            return "click[buy now]"
        wanted = self.fallback if self.exhausted else f"click[{self.target}]"
        if wanted in actions:
            return wanted
        products = [a for a in actions if a.startswith("click[") and a[6:-1] in self.product_ids]
        if self.fallback is None and products:
            self.fallback = products[0]
        if products:
            return "click[next >]"
        # past the last hit without the target: search again and buy the first result
        self.exhausted = self.fallback is not None
        return search


class ReplayShopper:
    def __init__(self, actions: list[str]):
        self.actions = list(actions)
        self.position = 0

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if self.position >= len(self.actions):
            return NOOP
        self.position += 1
        return self.actions[self.position - 1]


def make_oracle(env: Any, task: Any, seed: int, **kwargs: Any) -> OracleShopper:
    return OracleShopper(env.resolve_goal(task), {a.lower() for a in env.catalog.order})


def make_replay(env: Any, task: Any, seed: int, actions: list[str] | None = None, **kwargs: Any) -> ReplayShopper:
    return ReplayShopper(actions or [])
