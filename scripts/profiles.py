"""Load profiles: the Locust config files under locust/profiles/, read once for runner and docs.

A profile file is what Locust itself reads with --config; this module parses it with the same
parser Locust uses (configargparse) so the runner can size its time limits and apply a scale
without a second copy of any number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import configargparse

from scripts.layout import PROFILES, SUITE

# Locust's own parser cannot be imported here: importing locust monkey-patches the runner process.
_TIMESPAN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class ProfileError(Exception):
    """A profile that does not exist or cannot be read; the message says which and why."""


def parse_timespan(text: str) -> int:
    """Seconds in a Locust time span: 90, 90s, 2m, 1h30m (Locust's own formats)."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    match = _TIMESPAN.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a time span (examples: 90, 90s, 2m, 1h30m)")
    return int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    users: int
    spawn_rate: float
    run_time_s: int
    locustfiles: tuple[Path, ...] = ()
    scale: float = 1.0
    description: str = ""
    settings: tuple[tuple[str, str], ...] = ()  # every line of the file, for docs and fingerprints
    # requests of every endpoint the run must collect (the suite's --sample-target); 0: the seed's think times
    sample_target: int = 0
    # paired A/B (scripts/ab.py): how many rounds of base and head, and how long each round's load runs
    paired_rounds: int = 0
    paired_round_time_s: int = 0
    paired_spawn_rate: float = 0.0
    paired_max_rounds: int = 0  # rounds a required endpoint left UNRESOLVED may extend the run to
    paired_reruns: int = 0  # blocks a run may run again when the A/A control finds one of their rounds disturbed
    paired_sample_target: int = 0  # the rounds' sample target (per run_time_s, as sample_target); 0: sample_target
    # the tasks that ask the model paced to this instead of sample_target (a paired round measuring denser
    # keeps chat at the profile's sample-target); 0: sample_target. Not a setting of the file.
    model_sample_target: int = 0

    def scaled(self, scale: float = 1.0, users: int | None = None, run_time_s: int | None = None) -> Profile:
        """The profile run smaller (or larger) without editing it; explicit figures win over scale.

        A sample target shrinks with the run time: the suite paces each user to the target over the
        run, so the same target in a shorter run would make every client faster (past the gateway's
        per-client rate limits). Each user keeps the profile's pace; the run collects less."""
        if scale <= 0:
            raise ProfileError(f"scale must be above 0, not {scale}")
        new_users = users if users is not None else max(1, round(self.users * scale))
        new_time = run_time_s if run_time_s is not None else max(10, round(self.run_time_s * scale))
        if new_users < 1 or new_time < 1:
            raise ProfileError(f"users ({new_users}) and run time ({new_time} s) must be at least 1")
        return replace(self, users=new_users, run_time_s=new_time, scale=scale,
                       spawn_rate=min(self.spawn_rate, float(new_users)),
                       sample_target=math.ceil(self.sample_target * new_time / self.run_time_s),
                       model_sample_target=math.ceil(self.model_sample_target * new_time / self.run_time_s))


def available() -> list[str]:
    return sorted(path.stem for path in PROFILES.glob("*.conf"))


def load(name: str, folder: Path = PROFILES) -> Profile:
    path = folder / f"{name}.conf"
    if not path.is_file():
        raise ProfileError(f"no profile {name!r} (no {path}); profiles: {', '.join(available()) or 'none'}")
    text = path.read_text()
    try:
        with path.open() as stream:
            settings = configargparse.DefaultConfigFileParser().parse(stream)
        profile = Profile(
            name=name,
            path=path,
            users=int(settings["users"]),
            spawn_rate=float(settings["spawn-rate"]),
            run_time_s=parse_timespan(settings["run-time"]),
            locustfiles=tuple(SUITE / name.strip() for name in settings["locustfile"].split(",")),
            description=_first_comment(text).removeprefix(f"{name}:").strip(),
            settings=tuple((key, str(value)) for key, value in settings.items()),
            sample_target=int(settings.get("sample-target", 0)),
            paired_rounds=int(settings.get("paired-rounds", 0)),
            paired_round_time_s=parse_timespan(settings.get("paired-round-time", "0")),
            paired_spawn_rate=float(settings.get("paired-spawn-rate", 0)),
            paired_max_rounds=int(settings.get("paired-max-rounds", 0)),
            paired_reruns=int(settings.get("paired-reruns", 0)),
            paired_sample_target=int(settings.get("paired-sample-target", 0)),
        )
    except KeyError as missing:
        raise ProfileError(f"profile {path}: the setting {missing} is missing") from None
    except (ValueError, configargparse.ConfigFileParserException) as error:
        raise ProfileError(f"profile {path}: {error}") from None
    if profile.paired_reruns < 0:
        raise ProfileError(f"profile {path}: paired-reruns is how many blocks a paired run may run again, 0 or more, "
                           f"not {profile.paired_reruns}")
    if settings.get("profile") != name:
        raise ProfileError(f"profile {path}: 'profile = {name}' must name the file's own profile")
    missing = [str(file) for file in profile.locustfiles if not file.is_file()]
    if missing:
        raise ProfileError(f"profile {path}: no such locustfile {', '.join(missing)}")
    return profile


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""
