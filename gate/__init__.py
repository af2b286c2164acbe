"""The gate: reads a Locust run, compares it with a committed baseline and policy, and gives a verdict.

The pipeline is read (run.py, baseline.py, policy.py) -> compare (compare.py, statistics.py)
-> decide (verdict.py) -> render (render.py) -> publish (publish.py). Only publish may touch the network.
"""


class Unjudgeable(Exception):
    """The run (or what it is compared with) cannot be judged; `reason` is one line a user can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = " ".join(str(reason).split())


EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_UNJUDGEABLE = 2

# The policy file, relative to where the gate is run (the repository's root).
DEFAULT_POLICY = "baselines/policy.yml"
# The hidden line that marks the sticky pull-request comment of a profile (render writes it, the
# publisher finds the comment by it).
COMMENT_MARKER = "<!-- voiceassist-perf-gate:{profile} -->"
