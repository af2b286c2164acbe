"""The paired A/B runner (`python -m scripts.run PROFILE --compare-base REF`, scripts/ab.py): the base
commit in a second worktree, base and head rounds in balanced order, each a fresh stack of its own tree.

The live tests run the runner of a throwaway clone of this repository, whose last two commits are a
base and a head made for the test (a broken stack, a route the base lacks), so that the commits are
real and nothing is written to this repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scripts import ab, profiles, run
from scripts.layout import BUNDLE
from scripts.profiles import ProfileError

GIT_AUTHOR = ["-c", "user.name=perf-gate tests", "-c", "user.email=tests@perf-gate.invalid"]


def test_rounds_run_in_balanced_order_in_blocks_of_one_base_and_one_head():
    assert "".join(side[0].upper() for side in ab.round_order(8)) == "BHHBBHHB"
    assert "".join(side[0].upper() for side in ab.round_order(4)) == "BHHB"
    for count in (2, 5, 0):
        with pytest.raises(ProfileError, match="even number of rounds, at least 4"):
            ab.round_order(count)


def test_a_round_is_the_profile_in_short_at_its_paired_spawn_rate():
    smoke = profiles.load("smoke")
    one_round, count = ab.round_profile(smoke)
    assert (count, one_round.run_time_s) == (smoke.paired_rounds, smoke.paired_round_time_s) == (12, 20)
    assert one_round.users == smoke.users
    assert one_round.spawn_rate == smoke.paired_spawn_rate == 2.0  # 10 users in 5 s, not 10
    assert one_round.sample_target == 34  # the profile's 200 per 120 s, per 20-s round
    assert ab.round_profile(smoke, 4, 10)[0].run_time_s == 10
    with pytest.raises(ProfileError, match="no paired A/B settings"):
        ab.round_profile(profiles.load("load"))


def test_the_rounds_measure_at_the_profiles_paired_sample_target_when_it_has_one(tmp_path):
    smoke = (profiles.PROFILES / "smoke.conf").read_text()
    (tmp_path / "smoke.conf").write_text(smoke + "paired-sample-target = 400\n")
    denser = profiles.load("smoke", tmp_path)
    assert (denser.sample_target, denser.paired_sample_target) == (200, 400)
    one_round, _ = ab.round_profile(denser)
    assert one_round.sample_target == 67  # 400 per 120 s, per 20-s round; the smoke's own runs keep 200
    assert one_round.model_sample_target == 34  # chat keeps the sample-target's pace: 200 per 120 s
    assert ab.round_profile(profiles.load("smoke"))[0].model_sample_target == 0  # not measuring denser: one pace
    (tmp_path / "smoke.conf").write_text(smoke + "paired-sample-target = many\n")
    with pytest.raises(ProfileError, match="many"):
        profiles.load("smoke", tmp_path)


@pytest.mark.parametrize("extra", [["--stack", "external"], ["--baseline", "b.json"], ["--compare", "auto"],
                                   ["--accounts", "a.json"]])
def test_compare_base_refuses_options_of_the_baseline_mode(extra, capsys):
    with pytest.raises(SystemExit) as stopped:
        run.parse_args(["smoke", "--compare-base", "HEAD", *extra])
    assert stopped.value.code == 2
    assert "--compare-base measures two reference stacks against each other" in capsys.readouterr().err


def test_rounds_without_compare_base_are_refused(capsys):
    with pytest.raises(SystemExit):
        run.parse_args(["smoke", "--rounds", "4"])
    assert "are paired A/B settings: give --compare-base REF" in capsys.readouterr().err


def test_a_base_ref_that_does_not_exist_cannot_be_judged_and_says_so(tmp_path):
    done = subprocess.run([sys.executable, "-P", "-m", "scripts.run", "smoke", "--compare-base",
                           "no-such-branch-xyz", "--results", str(tmp_path)], check=False, capture_output=True, text=True,
                          cwd=BUNDLE, timeout=120)
    assert done.returncode == 2
    assert "the base ref 'no-such-branch-xyz' does not exist in" in done.stderr
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert (verdict["verdict"], verdict["comparison"]) == ("unjudgeable", "paired")
    assert "no-such-branch-xyz" in (tmp_path / "summary.md").read_text()


def test_a_ref_that_looks_like_an_option_is_refused():
    with pytest.raises(run.RunError, match="give a branch, tag or commit"):
        ab.resolve_commit("--output=/tmp/x")


def test_a_round_gets_a_fresh_database_and_redis_prefix_of_its_own_dropped_afterwards(monkeypatch, services_env):
    import asyncio

    import asyncpg

    monkeypatch.setenv("DATABASE_URL", services_env["postgres"])
    monkeypatch.setenv("REDIS_URL", services_env["redis"])

    async def databases() -> set[str]:
        connection = await asyncpg.connect(services_env["postgres"])
        try:
            return {row["datname"] for row in await connection.fetch("SELECT datname FROM pg_database")}
        finally:
            await connection.close()

    with ab.round_storage("base") as env:
        database = env["DATABASE_URL"].rsplit("/", 1)[1]
        assert database.startswith("voiceassist_ab_base_") and database in asyncio.run(databases())
        assert env["VOICEASSIST_REDIS_PREFIX"].startswith("voiceassist-ab_base-")
    assert database not in asyncio.run(databases())


# -- live: the runner of a throwaway clone, base = HEAD~1 --------------------------------------


def clone_with_base(tmp_path: Path, break_base) -> Path:
    """A clone of this repository's HEAD with two commits on top: the base (HEAD~1 of the clone), changed by
    `break_base(tree)`, and the head, which undoes it (the clone's HEAD, its working tree)."""
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", "--shared", str(BUNDLE), str(clone)], check=True, timeout=120)
    break_base(clone)
    subprocess.run(["git", "-C", str(clone), *GIT_AUTHOR, "commit", "--quiet", "-am", "base"], check=True)
    subprocess.run(["git", "-C", str(clone), *GIT_AUTHOR, "revert", "--quiet", "--no-edit", "HEAD"], check=True)
    return clone


def run_clone(clone: Path, results: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The clone's own runner, gate and stack (its tree first on the path), as `make ab` runs them there."""
    environment = {**os.environ, "PYTHONPATH": str(clone), **(env or {})}
    for name in ("DATABASE_URL", "REDIS_URL"):
        if env is None or name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-P", "-m", "scripts.run", "smoke", "--compare-base", "HEAD~1",
                           "--results", str(results), "--port", str(run_port()), *extra],
                          check=False, capture_output=True, text=True, cwd=clone, env=environment, timeout=600)


def run_port() -> int:
    from stack.server import free_port

    return free_port()


def worktrees(clone: Path) -> list[str]:
    listed = subprocess.run(["git", "-C", str(clone), "worktree", "list", "--porcelain"], capture_output=True,
                            text=True, check=True).stdout
    return [line for line in listed.splitlines() if line.startswith("worktree ")]


def test_a_base_whose_stack_does_not_start_cannot_be_judged_and_leaves_nothing_behind(tmp_path):
    def break_stack(tree: Path) -> None:
        app = tree / "stack" / "app.py"
        app.write_text(app.read_text() + '\nraise SystemExit("this base is broken on purpose")\n')

    clone = clone_with_base(tmp_path, break_stack)
    done = run_clone(clone, tmp_path / "results", "--rounds", "4", "--round-time", "5s")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "cannot judge this run: the base round 01-base" in done.stderr
    assert "this base is broken on purpose" in (tmp_path / "results" / "rounds" / "01-base" / "stack.log").read_text()
    verdict = json.loads((tmp_path / "results" / "verdict.json").read_text())
    assert verdict["verdict"] == "unjudgeable" and "the base round 01-base" in verdict["reason"]
    assert len(worktrees(clone)) == 1  # the base's worktree is gone


@pytest.mark.e2e
def test_a_route_the_head_adds_is_new_in_the_head_and_the_rounds_are_judged_paired(tmp_path, services_env):
    """Both sides on the job's PostgreSQL and Redis, each round in a database of its own."""
    def drop_metrics_route(tree: Path) -> None:
        metrics = tree / "stack" / "metrics.py"
        metrics.write_text(metrics.read_text().replace('@router.get("/metrics")', '@router.get("/metrics-later")'))

    clone = clone_with_base(tmp_path, drop_metrics_route)
    results = tmp_path / "results"
    done = run_clone(clone, results, "--rounds", "4", "--round-time", "8s", "--max-rounds", "4",
                     env={"DATABASE_URL": services_env["postgres"], "REDIS_URL": services_env["redis"]})
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["comparison"] == "paired"
    assert [f["severity"] for f in verdict["findings"] if f["kind"] == "new_endpoint"
            and f["endpoint"] == "GET /metrics"] == ["warn"]
    rounds = sorted(path.name for path in (results / "rounds").iterdir())
    assert rounds == ["01-base", "02-head", "03-head", "04-base"]
    base_stats = json.loads((results / "rounds" / "01-base" / "stats.json").read_text())
    base_metrics = [e for e in base_stats if e["name"] == "/metrics"]
    assert base_metrics and base_metrics[0]["num_failures"] == base_metrics[0]["num_requests"] > 0
    judged = [e for e in verdict["endpoints"] if "distribution" in e["metrics"]]
    assert len(judged) >= 15
    summary = (results / "summary.md").read_text()
    assert "Endpoints (base rounds → head rounds)" in summary and "paired with 2 base rounds" in summary
    assert '"stack_mode": "services"' in (results / "rounds" / "02-head" / "metrics.json").read_text()
    assert len(worktrees(clone)) == 1


def test_a_required_endpoint_left_unresolved_adds_blocks_of_rounds_up_to_the_budget(tmp_path, monkeypatch):
    """The policy requires GET /api/auth/me (unresolved: fail); the head is 12% slower there, which neither
    crosses the +15% bar nor is excluded: each verdict fails it UNRESOLVED, so rounds are added, two blocks
    at a time, in balanced order, up to --max-rounds; then the failing verdict stands."""
    from benchmarks.synthetic import smoke_shape, write_run

    policy = tmp_path / "policy.yml"
    policy.write_text((BUNDLE / "baselines" / "policy.yml").read_text().replace(  # the last rule wins
        "\nprofiles:\n", '  - endpoint: "GET /api/auth/me"\n    metrics:\n      distribution: {unresolved: fail}\n'
        "\nprofiles:\n", 1))
    ran = []

    def synthetic_round(args, one_round, side, folder):
        ran.append(side.name)
        shape = smoke_shape(minutes=0.5)
        if side.name == ab.HEAD:
            shape.endpoints["GET /api/auth/me"].median_ms *= 1.12
        write_run(folder, shape, seed=len(ran))

    monkeypatch.setattr(ab, "run_round", synthetic_round)
    results = tmp_path / "results"
    args = run.parse_args(["smoke", "--compare-base", "HEAD", "--rounds", "8", "--max-rounds", "16",
                           "--policy", str(policy), "--results", str(results)])
    assert ab.run_paired(args, profiles.load("smoke"), results) == run.REGRESSION
    assert "".join(side[0].upper() for side in ran) == "BHHBBHHB" * 2
    assert ab.open_required(results) == ["GET /api/auth/me"]
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["reason"].startswith("GET /api/auth/me UNRESOLVED") and "rounds (16 now)" in verdict["reason"]
    assert "paired with 8 base rounds on the same machine" in (results / "summary.md").read_text()


def goal_policy(tmp_path: Path, goal: float) -> Path:
    policy = tmp_path / f"goal-{goal:g}.yml"
    text = (BUNDLE / "baselines" / "policy.yml").read_text()
    assert "detectable_goal_pct: 25\n" in text
    policy.write_text(text.replace("detectable_goal_pct: 25\n", f"detectable_goal_pct: {goal:g}\n"))
    return policy


def synthetic_rounds(monkeypatch) -> list[str]:
    """Rounds written from the smoke's shape instead of run: the same code on both sides."""
    from benchmarks.synthetic import smoke_shape, write_run
    ran: list[str] = []

    def synthetic_round(args, one_round, side, folder):
        ran.append(side.name)
        write_run(folder, smoke_shape(minutes=0.5), seed=len(ran))

    monkeypatch.setattr(ab, "run_round", synthetic_round)
    return ran


@pytest.mark.parametrize("goal, rounds", [(1, "BHHBBHHB" + "BHHBBHHB"), (0, "BHHBBHHB"), (1000, "BHHBBHHB")])
def test_an_endpoint_short_of_the_policys_goal_adds_blocks_of_rounds_up_to_the_budget(tmp_path, monkeypatch, capsys,
                                                                                      goal, rounds):
    """+1% is beyond any endpoint's reach (the bar alone is +15%): two blocks at a time up to --max-rounds,
    then the pass stands and the summary names what it could not see. A goal that is off (0) or reached
    adds nothing."""
    ran = synthetic_rounds(monkeypatch)
    results = tmp_path / "results"
    args = run.parse_args(["smoke", "--compare-base", "HEAD", "--rounds", "8", "--max-rounds", "16",
                           "--policy", str(goal_policy(tmp_path, goal)), "--results", str(results)])
    assert ab.run_paired(args, profiles.load("smoke"), results) == run.PASS
    assert "".join(side[0].upper() for side in ran) == rounds
    verdict = json.loads((results / "verdict.json").read_text())
    summary = (results / "summary.md").read_text()
    if goal == 1:
        assert "endpoint(s) could not have seen +1% (" in capsys.readouterr().out
        assert verdict["short_of_goal"] and ab.short_of_goal(results)[0].startswith(verdict["short_of_goal"][0]["endpoint"])
        assert "**Could not have seen +1%**" in summary and "paired with 8 base rounds" in summary
    else:
        assert verdict["short_of_goal"] == [] and ab.wanting_rounds(results) is None
        assert "Could not have seen" not in summary


def test_a_run_that_cannot_be_judged_wants_no_more_rounds(tmp_path):
    """More rounds do not mend a run the A/A control refused; only a judged verdict's shortfall adds them."""
    short = [{"endpoint": "GET /api/auth/me", "detectable_pct": 31.0}]
    for exit_code, wanted in ((0, ["GET /api/auth/me +31%"]), (1, ["GET /api/auth/me +31%"]), (2, [])):
        (tmp_path / "verdict.json").write_text(json.dumps(
            {"exit_code": exit_code, "findings": [], "short_of_goal": short, "policy": {"detectable_goal_pct": 25}}))
        assert ab.short_of_goal(tmp_path) == wanted
        assert ab.wanting_rounds(tmp_path) == (
            "1 endpoint(s) could not have seen +25% (GET /api/auth/me +31%)" if wanted else None)
    (tmp_path / "verdict.json").write_text("{not json")
    assert ab.short_of_goal(tmp_path) == [] and ab.wanting_rounds(tmp_path) is None


def disturbed_rounds(monkeypatch, disturbed: str, every_time: bool) -> list[str]:
    """Rounds written from the smoke's shape; the round in folder `disturbed` (e.g. 03-head) two and a half
    times as slow across the board, the first time it runs or `every_time`."""
    from benchmarks.synthetic import smoke_shape, write_run
    ran: list[str] = []
    seen: set[str] = set()

    def synthetic_round(args, one_round, side, folder):
        ran.append(side.name)
        hit = folder.name == disturbed and (every_time or folder.name not in seen)
        seen.add(folder.name)
        write_run(folder, smoke_shape(minutes=0.5, run_factor=2.5 if hit else 1.0), seed=len(ran))

    monkeypatch.setattr(ab, "run_round", synthetic_round)
    return ran


def test_a_disturbed_rounds_block_runs_again_and_the_run_is_judged_without_it(tmp_path, monkeypatch):
    """Round 3 (a head round) ran 2.5x slower across the board the first time: the A/A control finds it,
    its block (rounds 3 and 4, H B) runs again in the same order and folders, and the verdict is reached
    on the replacement; the replaced rounds are kept and the summary says why they were replaced."""
    ran = disturbed_rounds(monkeypatch, "03-head", every_time=False)
    results = tmp_path / "results"
    args = run.parse_args(["smoke", "--compare-base", "HEAD", "--rounds", "8", "--max-rounds", "8",
                           "--policy", str(goal_policy(tmp_path, 0)), "--results", str(results)])
    assert ab.run_paired(args, profiles.load("smoke"), results) == run.PASS
    assert "".join(side[0].upper() for side in ran) == "BHHBBHHB" + "HB"
    verdict = json.loads((results / "verdict.json").read_text())
    assert "disturbed_round" not in verdict
    [note] = verdict["replaced"]
    assert note.startswith("rounds 03-head and 04-base (block 2) ran again: round 03-head ran +"), note
    assert "against the other head rounds" in note
    kept = results / "rounds" / "replaced" / "01-rounds-03-04"
    assert (kept / "03-head" / "stats.json").is_file() and (kept / "04-base" / "stats.json").is_file()
    assert (results / "rounds" / "03-head" / "stats.json").is_file()  # the replacement, where the round was
    summary = (results / "summary.md").read_text()
    assert "Run again (1 block of rounds; the rounds replaced are kept in `rounds/replaced/`" in summary and "- rounds 03-head and 04-base (block 2)" in summary


@pytest.mark.parametrize("reruns", [0, 2])
def test_a_round_disturbed_every_time_is_refused_after_the_profiles_reruns(tmp_path, monkeypatch, reruns):
    """A block disturbed each time it runs (here, or a change that slows the head now and then) runs again
    paired-reruns times at most; then the run cannot be judged, and the summary lists every replacement."""
    ran = disturbed_rounds(monkeypatch, "03-head", every_time=True)
    results = tmp_path / "results"
    args = run.parse_args(["smoke", "--compare-base", "HEAD", "--rounds", "8", "--max-rounds", "8",
                           "--policy", str(goal_policy(tmp_path, 0)), "--results", str(results)])
    profile = replace(profiles.load("smoke"), paired_reruns=reruns)
    assert ab.run_paired(args, profile, results) == run.UNJUDGEABLE
    assert "".join(side[0].upper() for side in ran) == "BHHBBHHB" + "HB" * reruns
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["reason"].startswith("the runner was too noisy to judge: round 03-head ran +")
    assert Path(verdict["disturbed_round"]["round"]).name == "03-head"
    assert len(verdict["replaced"]) == reruns == len(ab.replaced_notes(results))
    assert ("Run again" in (results / "summary.md").read_text()) == bool(reruns)


def test_only_a_disturbed_round_is_run_again(tmp_path):
    """A run refused for another reason (the base unlike itself on an endpoint, too few requests) names no
    round, and a judged run none: nothing runs again."""
    done = [(side, tmp_path / "rounds" / f"{number:02d}-{side}") for number, side in
            enumerate(("base", "head", "head", "base"), 1)]
    for verdict, block in (({"exit_code": 2, "disturbed_round": {"round": str(done[2][1]), "what": "w"}}, 2),
                           ({"exit_code": 2, "disturbed_round": {"round": str(done[1][1]), "what": "w"}}, 0),
                           ({"exit_code": 2}, None),
                           ({"exit_code": 0, "disturbed_round": {"round": str(done[2][1]), "what": "w"}}, None),
                           ({"exit_code": 2, "disturbed_round": {"round": str(tmp_path / "elsewhere"), "what": "w"}},
                            None)):
        (tmp_path / "verdict.json").write_text(json.dumps(verdict))
        assert ab.disturbed_block(tmp_path, done) == block, verdict
