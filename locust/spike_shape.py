"""Shape for the spike profile: steady, spike, hold, drop (one shape per locustfile)."""

from shapes import SpikeShape

__all__ = ["SpikeShape"]
