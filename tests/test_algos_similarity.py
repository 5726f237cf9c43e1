"""Similarity anchors: the pruned clustering equals the plain greedy difflib definition."""

from __future__ import annotations

from difflib import SequenceMatcher

import numpy as np
from hypothesis import given, settings, strategies as st

from repro.algos.gigpo import GiGPOConfig, gigpo_advantages
from repro.algos.similarity import similarity_clusters
from repro.algos.rows import StepRows, factorize

RECEPTACLES = ["cabinet", "countertop", "drawer", "fridge", "microwave", "sinkbasin", "shelf", "stoveburner"]
OBJECTS = ["apple", "bread", "butterknife", "cup", "egg", "fork", "knife", "lettuce", "mug", "pan", "plate",
           "potato", "saltshaker", "spatula", "spoon", "tomato"]

receptacle = st.builds(lambda r, i: f"{r} {i}", st.sampled_from(RECEPTACLES), st.integers(1, 12))
obj = st.builds(lambda o, i: f"{o} {i}", st.sampled_from(OBJECTS), st.integers(1, 3))
listing = st.lists(obj, max_size=9).map(
    lambda xs: "nothing" if not xs else ", ".join(f"a {x}" for x in xs[:-1]) + (", and " if len(xs) > 1 else "") + f"a {xs[-1]}")

observation = st.one_of(
    st.builds(lambda r, s: f"You arrive at {r}. On the {r}, you see {s}.", receptacle, listing),
    st.builds(lambda r: f"You arrive at {r}. The {r} is closed.", receptacle),
    st.builds(lambda r, s: f"You open the {r}. The {r} is open. In it, you see {s}.", receptacle, listing),
    st.builds(lambda o, r: f"You pick up the {o} from the {r}.", obj, receptacle),
    st.just("Nothing happens."),
    # long welcome texts (>= 200 characters) switch on difflib's autojunk heuristic for the representative
    st.builds(lambda rs, o: "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly "
              f"around you, you see {', '.join('a ' + r for r in rs)}.\n\nYour task is to: put a clean {o} in fridge.",
              st.lists(receptacle, min_size=8, max_size=20), st.sampled_from(OBJECTS)),
)


def greedy_difflib_reference(texts: list[str], threshold: float) -> list[int]:
    """docs/gigpo.md §4.2 step 4 written plainly: each text joins the first cluster whose first member
    is similar enough, else opens a new one."""
    representatives: list[str] = []
    labels = []
    for text in texts:
        for k, rep in enumerate(representatives):
            if SequenceMatcher(None, text, rep).ratio() >= threshold:
                labels.append(k)
                break
        else:
            labels.append(len(representatives))
            representatives.append(text)
    return labels


@settings(max_examples=100, deadline=None)
@given(pool=st.lists(observation, min_size=1, max_size=25), data=st.data(),
       threshold=st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95, 0.99, "boundary"]))
def test_clusters_equal_greedy_difflib(pool, data, threshold):
    # rows revisit the pool's observations in a random order, as trajectories of one task do
    picks = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=60))
    texts = [pool[i] for i in picks]
    if threshold == "boundary":
        # exactly the ratio of the last text against the first: a pair sitting on the threshold must join
        ratio = SequenceMatcher(None, texts[-1], texts[0]).ratio()
        threshold = ratio if 0 < ratio < 1 else 0.9
    assert similarity_clusters(texts, threshold).tolist() == greedy_difflib_reference(texts, threshold)


def test_similarity_grouping_stays_inside_groups():
    texts = ["You arrive at drawer 1. On the drawer 1, you see nothing.",
             "You arrive at drawer 2. On the drawer 2, you see nothing.",
             "You arrive at drawer 1. On the drawer 1, you see nothing."]
    rows = StepRows.from_columns(["g1", "g2", "g2"], ["a", "b", "c"], [1, 1, 1], [0.0, 10.0, 0.0],
                                 [True] * 3, texts)
    out = gigpo_advantages(rows, GiGPOConfig(anchor_match="similarity", similarity_threshold=0.9))
    # g2's two drawer texts (ratio ≈ 0.96) share a step group; g1's identical text does not join it
    expected = [0] + [1 + k for k in greedy_difflib_reference(texts[1:], 0.9)]
    assert factorize(out.anchor_group.tolist()).tolist() == expected == [0, 1, 1]
    np.testing.assert_allclose(out.step_advantage, [0.0, 5.0, -5.0])


@settings(max_examples=60, deadline=None)
@given(first=observation, second=observation)
def test_pair_exactly_on_the_threshold(first, second):
    # a text joins at threshold == its ratio and stays apart just above it, whatever the pruning
    ratio = SequenceMatcher(None, second, first).ratio()
    if first == second or not 0 < ratio < 1:
        return
    assert similarity_clusters([first, second], ratio).tolist() == [0, 0]
    assert similarity_clusters([first, second], float(np.nextafter(ratio, 1.0))).tolist() == [0, 1]


def test_substitution_pairs_on_the_threshold():
    # one changed digit: every bound (lengths, character counts, LCS) equals the ratio itself
    a = "You arrive at cabinet 3. The cabinet 3 is closed."
    b = "You arrive at cabinet 4. The cabinet 4 is closed."
    ratio = SequenceMatcher(None, b, a).ratio()
    assert ratio == 2 * 47 / 98
    assert similarity_clusters([a, b, a], ratio).tolist() == [0, 0, 0]
    assert similarity_clusters([a, b, a], float(np.nextafter(ratio, 1.0))).tolist() == [0, 1, 0]
