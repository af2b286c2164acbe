"""Scenario: the admin workflow (upload -> manage -> monitor), 12 steps per round."""

import suite  # noqa: F401  (registers the suite's options and listeners)
from journeys import AdminWorkflowUser

__all__ = ["AdminWorkflowUser"]
