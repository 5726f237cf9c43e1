"""The WebShop text environment: pages, actions and purchase reward of docs/envs.md §3, rendered
directly as WebShop's "simple" text observation (visible text pieces joined with " [SEP] ").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from repro.envs.base import AgentEnv, EnvConfig
from repro.envs.webshop import prompt as prompts
from repro.envs.webshop.catalog import Catalog, goal_from_record, goal_list_hash, load_catalog, synthetic_goals
from repro.envs.webshop.reward import purchase_reward
from repro.envs.webshop.search import ProductSearch
from repro.errors import ReproError
from repro.io import read_jsonl
from repro.paths import data_dir as resolve_data_dir

RESULTS_PER_PAGE = 10
BUY_NOW, NEXT_PAGE, PREV_PAGE, BACK_TO_SEARCH = "Buy Now", "Next >", "< Prev", "Back to Search"
SUB_PAGES = ("Description", "Features", "Reviews")
# WebShop's action syntax: greedy "name[arg]" anchored at the start only
ACTION_PATTERN = re.compile(r"(.+)\[(.+)\]")


@dataclass
class WebShopConfig(EnvConfig):
    name: str = "webshop"
    max_steps: int = 15  # GiGPO's env.max_steps for WebShop
    history_length: int = 2
    max_prompt_tokens: int = 4096
    goal_seed: int = 233  # seeds the price draws, price caps and goal shuffle (docs/envs.md §4 item 6)
    test_goals: int = 500  # goals [0, test_goals) are the test split, the rest train
    success_reward: float = 10.0  # training reward of a purchase with WebShop reward 1.0 (docs/gigpo.md §2.2)
    bm25_k1: float = 0.9
    bm25_b: float = 0.4

    def validate(self, prefix: str = "env") -> None:
        if self.max_steps < 1:
            raise ReproError(f"{prefix}.max_steps must be >= 1, got {self.max_steps}")
        if self.history_length < 0:
            raise ReproError(f"{prefix}.history_length must be >= 0, got {self.history_length}")
        if not 0 < self.test_goals < 6910:
            raise ReproError(f"{prefix}.test_goals must be in [1, 6909], got {self.test_goals}")


@dataclass
class Page:
    """Where the shopper is; everything a page render and a click need."""

    kind: str = "search"  # search | results | item | sub | done
    keywords: str = ""
    page: int = 1
    asin: Optional[str] = None
    options: dict[str, str] = field(default_factory=dict)  # option name -> chosen value
    sub: str = ""  # Description | Features | Reviews


@dataclass
class Rendered:
    text: str
    has_search_bar: bool
    clickables: dict[str, tuple[str, str]]  # lower-cased text -> (kind, payload)


def parse_action(action: str) -> tuple[str, Optional[str]]:
    m = ACTION_PATTERN.match(action)
    return (action, None) if m is None else (m.group(1), m.group(2))


class WebShopEnv(AgentEnv):
    Config = WebShopConfig
    EVAL_SPLIT = "test"
    TRAIN_SPLIT = "train"
    ACTION_FALLBACK_CHARS = prompts.ACTION_FALLBACK_CHARS
    PROMPT_FIRST = prompts.TEMPLATE_NO_HISTORY
    PROMPT_HISTORY = prompts.TEMPLATE
    SCRIPTED_POLICIES: ClassVar[dict[str, str]] = {
        "oracle": "repro.envs.webshop.policies:make_oracle",
        "replay": "repro.envs.webshop.policies:make_replay",
    }

    def __init__(self, cfg: WebShopConfig, data_dir: str | None = None):
        super().__init__(cfg, data_dir)
        # loaded on first use: the constructor stays cheap (base.py contract)
        self._catalog: Optional[Catalog] = None
        self._goals: list[dict[str, Any]] = []
        self._prices: dict[str, float] = {}
        self._search: Optional[ProductSearch] = None
        self.goal: Optional[dict[str, Any]] = None
        self.state = Page()
        self.steps = 0
        self._rendered: Optional[Rendered] = None

    # ---- data ---------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = load_catalog(resolve_data_dir(self.data_dir))
            self._goals, self._prices = synthetic_goals(self._catalog, self.cfg.goal_seed)
        return self._catalog

    @property
    def goals(self) -> list[dict[str, Any]]:
        _ = self.catalog
        return self._goals

    @property
    def prices(self) -> dict[str, float]:
        _ = self.catalog
        return self._prices

    @property
    def search_engine(self) -> ProductSearch:
        if self._search is None:
            self._search = ProductSearch(self.catalog.contents, k1=self.cfg.bm25_k1, b=self.cfg.bm25_b)
        return self._search

    def provenance(self) -> dict[str, Any]:
        """Recorded in results.json: the goal list is a pure function of the seed."""
        return {"goal_seed": self.cfg.goal_seed, "goal_count": len(self.goals),
                "goal_list_sha256": goal_list_hash(self.goals)}

    def task_ids(self, split: str) -> list[str]:
        n, cut = len(self.goals), self.cfg.test_goals
        if split == "test":
            return [str(i) for i in range(cut)]
        if split == "train":
            return [str(i) for i in range(cut, n)]
        if split == "all":
            return [str(i) for i in range(n)]
        raise ReproError(f"unknown WebShop split '{split}'; known: test, train, all")

    def resolve_goal(self, task: Any) -> dict[str, Any]:
        """A goal id (index into the seeded goal list, as str or int) or an explicit goal dict."""
        if isinstance(task, dict):
            return goal_from_record(task, self.catalog)
        try:
            return self.goals[int(task)]
        except (ValueError, TypeError, IndexError):
            raise ReproError(f"unknown WebShop goal {task!r}: give a goal index in "
                             f"[0, {len(self.goals) - 1}] or a goal dict") from None

    # ---- episode ------------------------------------------------------------------------------

    def reset(self, task: Any) -> tuple[str, dict[str, Any]]:
        self.goal = self.resolve_goal(task)
        _ = self.search_engine
        self.state = Page()
        self.steps = 0
        self.reward = 0.0
        self.reward_details: dict[str, Any] = {}
        return self._observe()

    def step(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        if self.goal is None:
            raise RuntimeError("step() before reset()")
        if self.state.kind == "done":
            obs, info = self._observe()
            return obs, 0.0, True, info
        self.steps += 1
        name, arg = parse_action(action)
        arg = arg.lower() if arg is not None else None
        clickables = self._rendered.clickables
        if name == "search" and arg:
            self.state = Page(kind="results", keywords=arg, page=1)
        elif name == "click" and arg in clickables and arg != "search":
            self._click(*clickables[arg])
        obs, info = self._observe()
        won = self.state.kind == "done" and self.reward == 1.0
        reward = self.cfg.success_reward if won else 0.0
        done = self.state.kind == "done" or self.steps >= self.cfg.max_steps
        return obs, reward, done, info

    def _click(self, kind: str, payload: str) -> None:
        s = self.state
        if kind == "buy":
            product = self.catalog.products[s.asin]
            self.reward, self.reward_details = purchase_reward(product, self.prices[s.asin], s.options, self.goal)
            s.kind = "done"
        elif kind == "back_to_search":
            self.state = Page()
        elif kind == "next":
            s.page += 1
        elif kind == "prev" and s.kind == "results":
            s.page -= 1
        elif kind == "prev" and s.kind == "sub":
            s.kind = "item"
        elif kind == "prev":  # item page -> its results page (the re-search clears the selection)
            self.state = Page(kind="results", keywords=s.keywords, page=s.page)
        elif kind == "sub":
            s.kind, s.sub = "sub", payload
        elif kind == "product":
            s.kind, s.asin, s.options = "item", payload, {}
        elif kind == "option":
            name, value = payload.split("\0")
            s.options[name] = value

    def _observe(self) -> tuple[str, dict[str, Any]]:
        self._rendered = self._render()
        instruction = self.goal["instruction_text"]
        observation = prompts.format_page(self._rendered.text, instruction)
        won = self.state.kind == "done" and self.reward == 1.0
        info = {
            "admissible_actions": prompts.available_actions(self._rendered.has_search_bar,
                                                            list(self._rendered.clickables)),
            "anchor": observation,
            "won": won,
            "task": instruction,
            "task_score": self.reward,
            "raw_observation": self._rendered.text,
            "goal_asin": self.goal["asin"],
        }
        if self.state.kind == "done":
            info["reward_details"] = self.reward_details
        return observation, info

    # ---- pages --------------------------------------------------------------------------------

    def _results(self) -> list[str]:
        hits = self.search_engine.search(self.state.keywords)
        return [self.catalog.order[i] for i in hits]

    def _render(self) -> Rendered:
        s, instruction = self.state, self.goal["instruction_text"]
        head = ["Instruction:", instruction]
        clickables: dict[str, tuple[str, str]] = {}
        if s.kind == "search":
            return Rendered(prompts.SEP.join(["WebShop", *head, "Search"]), True, {})
        if s.kind == "done":
            text = prompts.SEP.join(["Thank you for shopping with us!", "Your score (min 0.0, max 1.0)",
                                     str(self.reward)])
            return Rendered(text, False, {})
        pieces = [*head, BACK_TO_SEARCH]
        buttons = [(BACK_TO_SEARCH, ("back_to_search", ""))]
        if s.kind == "results":
            asins = self._results()
            pieces.append(f"Page {s.page} (Total results: {len(asins)})")
            if s.page > 1:
                pieces.append(PREV_PAGE)
                buttons.append((PREV_PAGE, ("prev", "")))
            pieces.append(NEXT_PAGE)
            buttons.append((NEXT_PAGE, ("next", "")))
            for asin in asins[(s.page - 1) * RESULTS_PER_PAGE:s.page * RESULTS_PER_PAGE]:
                product = self.catalog.products[asin]
                pieces += [asin, product["Title"].strip(), product["Price"]]
            clickables = {text.lower(): target for text, target in buttons}
            for asin in asins[(s.page - 1) * RESULTS_PER_PAGE:s.page * RESULTS_PER_PAGE]:
                clickables[asin.lower()] = ("product", asin)
        else:
            product = self.catalog.products[s.asin]
            pieces.append(PREV_PAGE)
            buttons.append((PREV_PAGE, ("prev", "")))
            if s.kind == "item":
                options = []
                for name, values in product["options"].items():
                    pieces.append(name)
                    pieces += values
                    options += [(value, ("option", f"{name}\0{value}")) for value in values]
                pieces += [product["Title"].strip(), f"Price: {product['Price']}", f"Rating: {product['Rating']}",
                           *SUB_PAGES, BUY_NOW]
                buttons += [(sub, ("sub", sub)) for sub in SUB_PAGES] + [(BUY_NOW, ("buy", ""))]
                clickables = {text.lower(): target for text, target in buttons}
                # radio values come after the buttons and win a name clash, as in WebShop's page scan
                clickables.update(options)
            else:
                pieces += self._sub_page_text(product, s.sub)
                clickables = {text.lower(): target for text, target in buttons}
        return Rendered(prompts.SEP.join(p for p in pieces if p), False, clickables)

    @staticmethod
    def _sub_page_text(product: dict[str, Any], sub: str) -> list[str]:
        if sub == "Description":
            return [product["Description"].strip()]
        if sub == "Features":
            return [b.strip() for b in product["BulletPoints"]]
        return []  # Reviews: WebShop never loads its review file, so every review page is empty

    # ---- prompt and metrics hooks (repro.envs.base) --------------------------------------------

    @classmethod
    def format_actions(cls, actions: list[str]) -> str:
        return "\n".join(f"'{a}'," for a in actions)

    @classmethod
    def render_prompt(cls, cfg: Any, task: str, observation: str, actions: list[str],
                      history: list[tuple[str, str]], step: int) -> str:
        return prompts.render_prompt(task, observation, actions, history, cfg.history_length)

    @classmethod
    def summarize(cls, episodes: list[Any]) -> dict[str, float]:
        """Adds the paper's WebShop Score: mean raw reward x 100."""
        metrics = super().summarize(episodes)
        metrics["score"] = 100.0 * metrics["mean_task_score"]
        return metrics

    @classmethod
    def sample_row(cls, episode: Any) -> dict[str, Any]:
        """The episode plus ``reward``: WebShop's raw [0, 1] purchase reward (0 without a purchase)."""
        return {**episode.to_json(), "reward": episode.task_score}

    @classmethod
    def replay_episodes(cls, path: str) -> list[tuple[Any, dict]]:
        """Recorded episodes, one JSON object a line: {"goal": {...}, "actions": [...]}, or the episode
        records repro itself writes (an eval's samples.jsonl, a training run's samples/iter_N.jsonl:
        "task" and the "trace" of actions; a task id names a goal of the replaying env's goal list)."""
        try:
            rows = read_jsonl(path)
        except OSError as e:
            raise ReproError(f"cannot read episodes file {path}: {e.strerror}") from None
        except ValueError as e:
            raise ReproError(f"episodes file {path} is not JSONL: {e}") from None
        products = load_catalog(resolve_data_dir(None)).products  # reject unknown ASINs before any work
        out = []
        for i, row in enumerate(rows, 1):
            if isinstance(row, dict) and "task" in row and isinstance(row.get("trace"), list):  # repro's own record
                task, actions = row["task"], [step.get("action") for step in row["trace"] if isinstance(step, dict)]
            elif isinstance(row, dict) and isinstance(row.get("goal"), dict) and isinstance(row.get("actions"), list):
                task, actions = row["goal"], row["actions"]
            else:
                raise ReproError(f"{path} line {i}: expected {{\"goal\": {{\"asin\": ...}}, \"actions\": [...]}} "
                                 f"or an episode record of repro's samples (\"task\", \"trace\")")
            if isinstance(task, dict) and task.get("asin") not in products:
                raise ReproError(f"{path} line {i}: asin {task.get('asin')!r} is not a WebShop product")
            if not isinstance(task, (dict, str, int)) or isinstance(task, bool):
                raise ReproError(f"{path} line {i}: task must be a goal id or a goal dict, got {task!r}")
            out.append((task, {"actions": [str(a) for a in actions if a is not None]}))
        return out
