"""Users draw their tasks from a shuffled deck: Locust's weights exactly, every task in each pass."""

import collections
import random
import sys

from scripts import layout

sys.path.insert(0, str(layout.SUITE))
from task_deck import TaskDeck

# an admin's weights: three tasks of weight 1 among 15 (retire, cache, monitoring), as in locust/users.py
WEIGHTS = {"upload": 6, "manage_documents": 2, "retire": 1,
           "dashboard": 2, "cache": 1, "flags": 2, "monitoring": 1}
TASKS = [name for name, weight in WEIGHTS.items() for _ in range(weight)]  # how Locust lists them


def test_every_task_is_dealt_once_per_pass_of_the_deck():
    deck = TaskDeck(TASKS, random.Random(1))
    for _ in range(20):
        one_pass = [random.choice(deck) for _ in range(len(TASKS))]  # how Locust draws the next task
        assert collections.Counter(one_pass) == collections.Counter(TASKS)


def test_passes_are_shuffled_and_the_list_stays_the_list_locust_built():
    deck = TaskDeck(TASKS, random.Random(2))
    passes = {tuple(random.choice(deck) for _ in range(len(TASKS))) for _ in range(5)}
    assert len(passes) == 5
    assert list(deck) == TASKS and len(deck) == 15 and deck[2:4] == TASKS[2:4] and bool(deck)


def test_independent_draws_miss_a_task_in_short_runs_the_deck_never_does():
    """35 draws: about what one admin makes in a 30-s scaled-down run."""
    rng = random.Random(3)
    missed_by_choice = sum("cache" not in {rng.choice(TASKS) for _ in range(35)} for _ in range(1000))
    decks = [TaskDeck(TASKS, random.Random(seed)) for seed in range(1000)]
    missed_by_deck = sum("cache" not in {random.choice(deck) for _ in range(35)} for deck in decks)
    assert missed_by_choice > 50  # (14/15)^35: about 9%
    assert missed_by_deck == 0
