"""Shape for the stress profile: staged ramp-up (one shape per locustfile, as Locust requires)."""

from shapes import StressShape

__all__ = ["StressShape"]
