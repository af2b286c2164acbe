"""Each user draws its tasks from a shuffled deck instead of independently at random.

Locust picks a user's next task with `random.choice(user.tasks)`, where `tasks` holds each task as
many times as its weight. Independent draws keep the weights only on average: an admin task of
weight 1 in 15 is missed altogether by one admin in ten over 35 draws, which a short run (a pull
request's smoke, a scaled-down spike) cannot afford, since an endpoint that was never called
cannot be judged. A deck deals every card once, in a fresh random order, before it is shuffled
again: the same weights exactly, and every task within one pass of the deck.
"""

from __future__ import annotations

import random


class TaskDeck(list):
    """A user's `tasks` list (one entry per unit of weight) that deals its cards in shuffled passes.

    It stays the list Locust built, for anything that reads it as one; only indexing by a single
    position, which is how `random.choice` takes an element, deals the next card instead.
    """

    def __init__(self, tasks: list, rng: random.Random) -> None:
        super().__init__(tasks)
        self._rng = rng
        self._pass: list = []

    def __getitem__(self, index):
        if isinstance(index, slice):
            return super().__getitem__(index)
        if not self._pass:
            self._pass = list(self)
            self._rng.shuffle(self._pass)
        return self._pass.pop()
