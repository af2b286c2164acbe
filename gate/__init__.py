"""The gate: reads a Locust run, compares it with a committed baseline and policy, and gives a verdict.

One sub-package per stage, each importing only from the stages before it: read/ (the run, the
baseline, the policy) -> judge/ (statistics, noise model, comparison, verdict) -> report/ (summary,
charts) -> publish/ (files, job summary, comment); trends/ for soak, spike, stress and nightly
history. Of the verdict's stages only publish/ touches the network (trends/scrape.py samples the
target's /metrics during a soak). See gate/README.md.
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
