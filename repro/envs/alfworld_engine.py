"""Memoised pieces of TextWorld's PDDL engine, for ALFWorld resets and steps (issue 19).

Where the time goes in the plain engine, per ALFWorld game:

* a reset translates the game's PDDL to SAS (Fast Downward's ``pddl2sas``) **four** times:
  ``PddlEnv.load`` builds a ``PddlState`` that ``reset`` throws away, and each state translates
  twice (the second, optimised, translation only serves replanning). 76-92 % of a reset;
* ``load`` parses the game's grammar into a ``GameLogic`` (tatsu);
* a step re-parses the text template of every admissible action and every grammar condition it
  meets (tatsu), ~90 % of a step.

All of these are functions of text only (the game's domain, problem and grammar, or a template),
so this module memoises them at the module attributes TextWorld calls them through, inside
:func:`engine_caches` only, and TextWorld runs otherwise unchanged: the same states, the same
derivations, so the same observations (``tests/test_alfworld.py`` plays seeded episodes of every
task type with the caches on and off). Why not something else:

* copying a reset state for the other trajectories of a group does not work: ``deepcopy`` and
  ``pickle`` fail on a generator and on ctypes pointers, and the state lives in C globals of a
  private copy of ``libdownward.so`` per env;
* a fork of TextWorld would be a second engine to keep in step with upstream for the sake of four
  call sites whose inputs and outputs do not change.

The caches live in the process (one env worker), bounded: ``games`` translations pairs and game
logics, least recently used out, and a fixed number of parsed templates (they come from a grammar
shared by every game). A cached ``GameLogic`` and translated task are shared by the envs of one
game; TextWorld only reads them after construction (``PddlState`` re-adds the domain's types to
the logic's hierarchy, a no-op the second time). Parsed template symbols are handed out as copies,
because a derivation writes its context into them.

``pddl2sas`` also overwrites ``sys.argv`` (for Fast Downward's option parser); it is restored
after every translation, cached or not.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator

TEMPLATE_ENTRIES = 4096  # parsed templates and conditions kept (a grammar has a few hundred)


class _LeastRecentlyUsed:
    """A bounded memo: ``get(key, make)`` returns the kept value or keeps ``make()``'s."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._items:
            self.hits += 1
            self._items.move_to_end(key)
            return self._items[key]
        self.misses += 1
        value = make()
        self._items[key] = value
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


_translations = _LeastRecentlyUsed(0)
_logics = _LeastRecentlyUsed(0)
_templates = _LeastRecentlyUsed(TEMPLATE_ENTRIES)
_queries = _LeastRecentlyUsed(TEMPLATE_ENTRIES)


def cache_stats() -> dict[str, dict[str, int]]:
    """Entries held now, hits and misses so far, per cache (how a test or benchmark sees them used)."""
    caches = {"translations": _translations, "logics": _logics, "templates": _templates, "queries": _queries}
    return {name: {"entries": len(c), "hits": c.hits, "misses": c.misses} for name, c in caches.items()}


def _argv_kept(translate: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        argv = sys.argv
        try:
            return translate(*args, **kwargs)
        finally:
            sys.argv = argv

    return call


@contextlib.contextmanager
def _attributes(replacements: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set ``owner.name = value`` for each triple for the duration, then put the originals back."""
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in replacements]
    try:
        for owner, name, value in replacements:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in originals:
            setattr(owner, name, value)


@contextlib.contextmanager
def engine_caches(games: int) -> Iterator[None]:
    """Run TextWorld's PDDL engine with the memoised translation, game logic and template parses
    (``games`` > 0: that many games' translations and logics kept), or plain (``games`` = 0:
    only ``sys.argv`` is restored after each translation)."""
    import fast_downward
    from textworld.envs.pddl import logic as pddl_logic
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    translate = _argv_kept(fast_downward.pddl2sas)
    if games <= 0:
        with _attributes([(fast_downward, "pddl2sas", translate)]):
            yield
        return
    _translations.capacity = 2 * games  # the plain and the optimised translation of each game
    _logics.capacity = games
    make_logic, parse_symbols = pddl_logic.GameLogic, textgen._parse_and_convert
    parse_query = Rule.__dict__["parse_conjunctive_query"].__func__

    def cached_translation(domain: str, problem: str, verbose: bool = False, optimize: bool = False) -> Any:
        return _translations.get((domain, problem, optimize), lambda: translate(domain, problem, verbose, optimize))

    def cached_logic(domain: str, grammar: str) -> Any:
        return _logics.get((domain, grammar), lambda: make_logic(domain=domain, grammar=grammar))

    def cached_symbols(text: str, **kwargs: Any) -> Any:
        key = (text, tuple(sorted(kwargs.items())))
        return copy.deepcopy(_templates.get(key, lambda: parse_symbols(text, **kwargs)))

    def cached_query(cls: type, expr: str) -> Any:
        return _queries.get(expr, lambda: parse_query(cls, expr))

    with _attributes([(fast_downward, "pddl2sas", cached_translation), (pddl_logic, "GameLogic", cached_logic),
                      (textgen, "_parse_and_convert", cached_symbols),
                      (Rule, "parse_conjunctive_query", classmethod(cached_query))]):
        yield
