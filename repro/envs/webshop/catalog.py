"""WebShop's small product set and its synthetic goals (docs/envs.md §3 "Sessions and goals").

Products come from ``webshop/documents_1k.jsonl`` (records already in WebShop's ``load_products``
form), goal material from ``webshop/items_ins_v2_1000.json``. The original draws product prices
and price caps with the unseeded global ``random`` and then shuffles with seed 233, so its goal
list differs between runs (docs/envs.md §4 item 6); here one seeded ``random.Random`` makes the draws
and is re-seeded with the same seed for the shuffle, so the list is a pure function of the seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro.errors import ReproError

DOCUMENTS_FILE = "webshop/documents_1k.jsonl"
INSTRUCTIONS_FILE = "webshop/items_ins_v2_1000.json"

# price caps are drawn from this ladder: 10, 20, ..., 990 dollars
PRICE_LADDER = [10.0 * i for i in range(1, 100)]
NO_PRICE_CAP = 1000000.0


@dataclass
class Catalog:
    products: dict[str, dict[str, Any]]  # ASIN -> product record
    order: list[str]  # ASINs in file order (the search index's doc ids)
    contents: list[str]  # the searchable text of each product, in ``order``
    instructions: dict[str, dict[str, Any]]  # ASIN -> items_ins_v2 entry


def load_catalog(data_root: Path) -> Catalog:
    docs_path = data_root / DOCUMENTS_FILE
    ins_path = data_root / INSTRUCTIONS_FILE
    for path in (docs_path, ins_path):
        if not path.is_file():
            raise ReproError(f"missing WebShop data file {path}; set data_dir=PATH or REPRO_DATA")
    products: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    contents: list[str] = []
    with open(docs_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            doc = json.loads(line)
            products[doc["id"]] = doc["product"]
            order.append(doc["id"])
            contents.append(doc["contents"])
    with open(ins_path, encoding="utf-8") as f:
        instructions = json.load(f)
    return Catalog(products=products, order=order, contents=contents, instructions=instructions)


def draw_prices(catalog: Catalog, rng: random.Random) -> dict[str, float]:
    """One price per product: the fixed price, or a uniform draw inside a "$a to $b" range."""
    prices = {}
    for asin in catalog.order:
        pricing = catalog.products[asin]["pricing"]
        if not pricing:
            prices[asin] = 100.0
        elif len(pricing) == 1:
            prices[asin] = float(pricing[0])
        else:
            prices[asin] = rng.uniform(*pricing[:2])
    return prices


def draw_price_cap(price: float, rng: random.Random) -> float:
    """The larger of two draws from the first four ladder steps above ``price`` (no cap if < 2)."""
    above = [p for p in PRICE_LADDER if p > price][:4]
    if len(above) < 2:
        return NO_PRICE_CAP
    return max(rng.sample(above, 2))


def goal_instruction(instruction: str, goal_options: dict[str, str], price_upper: float) -> str:
    options = ", and ".join(f"{name}: {value}" for name, value in goal_options.items())
    option_text = f" with {options}" if options else ""
    price_text = f", and price lower than {price_upper:.2f} dollars" if price_upper != NO_PRICE_CAP else ""
    return f"{instruction}{option_text}{price_text}"


def make_goal(product: dict[str, Any], instruction: str, attributes: list[str],
              goal_options: dict[str, str], price_upper: float) -> dict[str, Any]:
    """A goal: the target product's type fields plus what the shopper is asked for."""
    return {
        "asin": product["asin"],
        "category": product["category"],
        "query": product["query"],
        "product_category": product["product_category"],
        "name": product["Title"],
        "instruction_text": goal_instruction(instruction, goal_options, price_upper),
        "attributes": list(attributes),
        "goal_options": dict(goal_options),
        "price_upper": float(price_upper),
    }


def synthetic_goals(catalog: Catalog, seed: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """All synthetic goals (one per combination of option values) in shuffled order, and the prices."""
    rng = random.Random(seed)
    prices = draw_prices(catalog, rng)
    goals = []
    for asin in catalog.order:
        entry = catalog.instructions.get(asin, {})
        if entry.get("instruction") is None:
            continue
        product = catalog.products[asin]
        cap = draw_price_cap(prices[asin], rng)
        options = product["options"]
        names = sorted(options)
        for values in itertools.product(*(options[n] for n in names)):
            goals.append(make_goal(product, entry["instruction"], entry["instruction_attributes"],
                                   dict(zip(names, values)), cap))
    random.Random(seed).shuffle(goals)
    return goals, prices


def goal_list_hash(goals: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of the goal list (recorded in results for provenance)."""
    blob = json.dumps(goals, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def goal_from_record(record: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """An explicit goal (replay files, custom tasks): the type fields come from the product of ``asin``."""
    try:
        asin = record["asin"]
        product = catalog.products[asin]
    except KeyError as e:
        raise ReproError(f"goal needs an 'asin' of a product in the catalog, got {record.get('asin')!r}") from e
    goal = make_goal(product, "", record.get("attributes", []), record.get("goal_options", {}),
                     float(record.get("price_upper", NO_PRICE_CAP)))
    goal["instruction_text"] = str(record.get("instruction_text", ""))
    return goal
