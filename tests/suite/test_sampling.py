"""The measuring load: timetables paced so that every endpoint gets the sample target."""

import collections
import json
import random
import subprocess
import sys

import pytest

from scripts import layout, profiles

sys.path.insert(0, str(layout.SUITE))
import itertools

from sampling import (
    HEADROOM,
    LIMIT_SHARE,
    SamplingError,
    Timetable,
    asks_the_model,
    every_type,
    measured_tasks,
    per_client_limit,
    task_periods,
)

# The suite's user types are read in a child process: importing locust monkey-patches this one.
SMOKE_PLAN = """
import json, sys
import locust, sampling, users
pins = json.load(open("profiles/smoke.users.json"))
for pin in pins:
    getattr(users, pin["user_class_name"]).fixed_count = pin["fixed_count"]
classes = [getattr(users, pin["user_class_name"]) for pin in pins]
json.dump({"pins": {pin["user_class_name"]: pin["fixed_count"] for pin in pins},
           "tasks": {cls.__name__: [task.__name__ for task in sampling.measured_tasks(cls)] for cls in classes},
           "periods": sampling.task_periods(classes, int(sys.argv[1]), int(sys.argv[2]))}, sys.stdout)
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(timetable: Timetable, clock: Clock, until_s: float, busy_s=lambda task: 0.0) -> list:
    """What a Locust user does: take the next task, run it (taking busy_s), wait; until the run ends."""
    done = []
    while clock.now < until_s:
        task = random.choice(timetable)  # how Locust takes the next task
        done.append(task)
        clock.now += busy_s(task)
        clock.now += timetable.wait()
    return done


@pytest.fixture(scope="module")
def smoke_plan() -> dict:
    """The smoke's user types, pinned as Locust's --config-users pins them, and their timetables."""
    smoke = profiles.load("smoke")
    done = subprocess.run([sys.executable, "-c", SMOKE_PLAN, str(smoke.sample_target), str(smoke.run_time_s)],
                          cwd=layout.SUITE, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def user_type(name: str, pinned: int, *tasks, base=object):
    """A user class as Locust builds it: `tasks` lists each task as often as its weight."""
    return type(name, (base,), {"fixed_count": pinned, "tasks": list(tasks)})


def upload(user): ...
def read(user): ...
def history(user): ...
def ask(user): ...


@per_client_limit(20)
def refresh(user): ...


class Signed:
    @every_type
    def renew(self): ...


def test_each_task_comes_due_at_its_own_period_in_declaration_order():
    clock = Clock()
    timetable = Timetable([("upload", 1.5), ("read", 1.5), ("delete", 1.5), ("renew", 5.0)], clock=clock)
    done = run(timetable, clock, 30.0)
    assert collections.Counter(done) == {"upload": 20, "read": 20, "delete": 20, "renew": 6}
    rounds = [task for task in done if task != "renew"]
    assert rounds == ["upload", "read", "delete"] * 20  # an upload always before the read and delete it feeds


def test_a_user_that_falls_behind_catches_up_instead_of_losing_samples():
    clock = Clock()
    timetable = Timetable([("slow", 1.0), ("fast", 1.0)], clock=clock)
    # one reply takes 10 s: the overdue tasks then run back to back until the user is on time again
    stalled = iter([10.0])
    done = run(timetable, clock, 30.0, busy_s=lambda task: next(stalled, 0.0) if task == "slow" else 0.0)
    assert collections.Counter(done) == {"slow": 30, "fast": 30}


def test_the_mix_weights_do_not_count_when_measuring_and_every_type_gets_the_marked_tasks():
    admin = user_type("Admin", 1, upload, upload, upload, read, base=Signed)
    assert [task.__name__ for task in measured_tasks(admin)] == ["upload", "read", "renew"]
    regular = user_type("Regular", 1, ask, Signed.renew, base=Signed)  # its own task of the name: once
    assert [task.__name__ for task in measured_tasks(regular)] == ["ask", "renew"]


def test_periods_share_a_task_by_name_between_the_users_of_every_type_that_has_it():
    regular = user_type("Regular", 2, ask, history, base=Signed)
    power = user_type("Power", 3, history, base=Signed)
    admin = user_type("Admin", 5, upload, base=Signed)
    periods = task_periods([regular, power, admin], 200, 120)
    unit = 120 / (200 * HEADROOM)
    assert periods["Regular"] == {"ask": pytest.approx(2 * unit), "history": pytest.approx(5 * unit),
                                  "renew": pytest.approx(10 * unit)}
    assert periods["Admin"]["upload"] == pytest.approx(5 * unit)


@asks_the_model
def chat(user): ...


def test_the_tasks_that_ask_the_model_keep_their_own_target_when_the_run_gives_one():
    """Paired rounds measure the short endpoints denser than chat: a chat reply is the server's heaviest work,
    and several tasks sample it already."""
    regular = user_type("Regular", 2, chat, history)
    power = user_type("Power", 3, chat, history)
    denser = task_periods([regular, power], 400, 120, model_target=200)
    assert denser["Regular"]["history"] == pytest.approx(5 * 120 / (400 * HEADROOM))
    assert denser["Regular"]["chat"] == denser["Power"]["chat"] == pytest.approx(5 * 120 / (200 * HEADROOM))
    assert task_periods([regular, power], 400, 120) == {  # no model target: every task at the sample target
        name: {task: pytest.approx(5 * 120 / (400 * HEADROOM)) for task in ("chat", "history")}
        for name in ("Regular", "Power")}
    with pytest.raises(SamplingError, match="model sample target"):
        task_periods([regular], 400, 120, model_target=-1)


def test_a_task_under_a_per_client_limit_runs_at_most_its_share_of_the_limit_however_high_the_target():
    regular = user_type("Regular", 2, ask, refresh)
    periods = task_periods([regular], 100, 20)  # 100 of each in 20 s: 3 a second from each of two users
    assert periods["Regular"]["ask"] == pytest.approx(2 * 20 / (100 * HEADROOM))
    assert periods["Regular"]["refresh"] == pytest.approx(60 / (20 * LIMIT_SHARE))  # 16 a minute, not 180
    assert task_periods([regular], 10, 120)["Regular"]["refresh"] == pytest.approx(2 * 120 / (10 * HEADROOM))


def test_a_limited_task_does_not_burst_when_its_user_catches_up():
    clock = Clock()
    timetable = Timetable([(ask, 1.0), (refresh, 3.75)], clock=clock)
    stalled = iter([20.0])  # one reply takes 20 s: the user is five refreshes behind
    done = []
    while clock.now < 60.0:
        task = random.choice(timetable)
        done.append((clock.now, task))
        clock.now += next(stalled, 0.0) if task is ask else 0.0
        clock.now += timetable.wait()
    asks = [when for when, task in done if task is ask]
    refreshes = [when for when, task in done if task is refresh]
    assert len(asks) == 60  # the unlimited task catches up in full
    assert min(b - a for a, b in itertools.pairwise(refreshes)) >= 3.0 - 1e-9  # never closer than the limit's gap
    assert max(sum(1 for when in refreshes if window <= when < window + 60) for window in range(60)) <= 20


def test_a_per_client_limit_is_a_positive_rate():
    with pytest.raises(SamplingError, match="positive"):
        per_client_limit(0)


def test_a_sample_target_needs_every_type_pinned():
    with pytest.raises(SamplingError, match="Power"):
        task_periods([user_type("Regular", 2, ask), user_type("Power", 0, ask)], 200, 120)


def test_every_task_of_the_smoke_is_asked_for_the_target_with_headroom(smoke_plan):
    asked = collections.Counter()
    for name, tasks in smoke_plan["periods"].items():
        for task, period in tasks.items():
            asked[task] += smoke_plan["pins"][name] * 120 / period  # the type's users, each once a period
    assert all(count == pytest.approx(200 * HEADROOM) for count in asked.values()), asked
    assert smoke_plan["tasks"]["AdminUser"][:3] == ["upload_document", "manage_documents", "retire_document"]
    assert all("resume_session" in tasks for tasks in smoke_plan["tasks"].values())


@pytest.mark.parametrize("pace", [1, 3], ids=["smoke", "smoke-paced-3x"])
def test_the_smoke_population_stays_within_the_gateways_per_client_limits(pace):
    """Each client's rate, per minute, of the rate-limited endpoints, against the stack's own limits
    (stack/ratelimit.py): the smoke's target, and three times it, more than the limits allow."""
    from stack.ratelimit import DEFAULT_LIMITS
    smoke = profiles.load("smoke")
    target = pace * smoke.sample_target
    done = subprocess.run([sys.executable, "-c", SMOKE_PLAN, str(target), str(smoke.run_time_s)],
                          cwd=layout.SUITE, capture_output=True, text=True, timeout=60, check=True)
    per_minute = {name: {task: 60 / period for task, period in tasks.items()}
                  for name, tasks in json.loads(done.stdout)["periods"].items()}
    assert max(tasks["resume_session"] for tasks in per_minute.values()) <= DEFAULT_LIMITS["refresh"].count
    assert per_minute["RegularUser"]["check_health"] <= DEFAULT_LIMITS["health"].count
    assert per_minute["AdminUser"]["check_monitoring"] <= DEFAULT_LIMITS["health_detailed"].count
    # the unlimited tasks get the whole target
    assert per_minute["RegularUser"]["view_profile"] * 2 * smoke.run_time_s / 60 == pytest.approx(target * HEADROOM)


def test_the_runner_scales_the_target_with_the_run_time_so_each_client_keeps_its_pace():
    smoke = profiles.load("smoke")
    assert smoke.sample_target == 200
    assert smoke.scaled(1.0, run_time_s=30).sample_target == 50
    assert smoke.scaled(0.5).sample_target == 100
    assert profiles.load("load").sample_target == 0  # the realistic mix keeps its think times


def test_a_model_sample_target_without_a_sample_target_is_refused_by_name():
    done = subprocess.run([sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", "1", "-t", "1s",
                           "--host", "http://127.0.0.1:9", "--model-sample-target", "5"],
                          cwd=layout.SUITE, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "--model-sample-target 5: paces the tasks that ask the model within a sample target; give " \
           "--sample-target too" in done.stderr


def test_a_paired_round_measuring_denser_keeps_chat_at_the_profiles_pace(embedded_stack, tmp_path):
    """A real 20-s round of the smoke at paired-sample-target 400 (67 a round): the short endpoints get their
    67, the tasks that ask the model the sample-target's 34 (POST /api/conversations is multi_turn's alone),
    and the round's metrics say so (its fingerprint: a round without it keeps the committed baselines')."""
    from scripts import ab
    from scripts import run as runner

    (tmp_path / "smoke.conf").write_text((profiles.PROFILES / "smoke.conf").read_text()
                                         + "paired-sample-target = 400\n")
    one_round, _ = ab.round_profile(profiles.load("smoke", tmp_path))
    assert (one_round.sample_target, one_round.model_sample_target) == (67, 34)
    results = tmp_path / "round"
    results.mkdir()
    target = runner.Target(embedded_stack.base_url, "external")
    command = runner.locust_command(one_round, target, results, embedded_stack.accounts_file)
    assert command[command.index("--model-sample-target") + 1] == "34"
    runner.run_locust(command, one_round, target, results)
    counts = {f"{e['method']} {e['name']}": e["num_requests"] for e in json.loads((results / "stats.json").read_text())}
    # (/metrics and /health/detailed share a task under the gateway's per-client limit: 35 at most)
    short = [counts[name] for name in ("GET /api/auth/me", "GET /api/admin/panel/summary", "GET /api/admin/cache/stats")]
    assert min(short) >= 67, counts
    assert 34 <= counts["POST /api/conversations"] < 0.75 * min(short), counts
    settings = json.loads((results / "metrics.json").read_text())["settings"]
    assert (settings["sample_target"], settings["model_sample_target"]) == (67, 34)
