"""Scenario: the user journey (register -> login -> questions -> logout), 11 steps per journey."""

import suite  # noqa: F401  (registers the suite's options and listeners)
from journeys import JourneyUser

__all__ = ["JourneyUser"]
