"""Where the bundle's parts live, relative to the bundle itself (the repository or the action)."""

from pathlib import Path

BUNDLE = Path(__file__).resolve().parent.parent
SUITE = BUNDLE / "locust"
LOCUSTFILE = SUITE / "locustfile.py"
PROFILES = SUITE / "profiles"
BASELINES = BUNDLE / "baselines"
POLICY = BASELINES / "policy.yml"
RESULTS = Path("results")  # relative to where the runner is called: the caller's workspace


def baseline_for(profile: str) -> Path:
    return BASELINES / f"{profile}.json"
