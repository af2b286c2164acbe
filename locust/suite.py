"""What every locustfile of the suite shares: its command-line options and per-process state.

Importing this module registers the suite's listeners once, whichever locustfile (the mixed
population, a scenario, a shape) Locust loads.
"""

from __future__ import annotations

import itertools
import logging
import signal

import gevent
import gevent.util
import requests
from locust.runners import WorkerRunner

import endpoints
from accounts import AccountPool, ClientAddresses
from locust import events
from reports import RunReports
from run_metrics import RunRecord
from sampling import SamplingError, task_periods

CHAT_TRANSPORTS = ("auto", "rest", "websocket")
# The run time a sample target is paced over, as the master (or standalone process) knows it.
SAMPLED_RUN_TIME = "sampled_run_time_s"
log = logging.getLogger(__name__)


@events.init_command_line_parser.add_listener
def add_suite_options(parser) -> None:
    group = parser.add_argument_group("VoiceAssist suite")
    group.add_argument("--stack-mode", default="external",
                       help="What serves the target (embedded, services, external, ...); recorded in "
                            "metrics.json so baselines compare like with like.")
    group.add_argument("--metrics-file", default="",
                       help="Where the master writes metrics.json (custom counters and run facts) on exit.")
    group.add_argument("--accounts-file", default="",
                       help='JSON of seeded accounts ({"accounts": [{email, password, role}]}); without it '
                            "each virtual user registers a user account of its own, and admin tasks fail.")
    group.add_argument("--scale", type=float, default=1.0,
                       help="The factor the profile was scaled by (users and duration); shapes scale their "
                            "stages by it.")
    group.add_argument("--think-scale", type=float, default=1.0,
                       help="Multiply every user type's wait time (e.g. 0.1 for a short run that must still "
                            "reach every endpoint).")
    group.add_argument("--sample-target", type=int, default=0,
                       help="Measure instead of imitating users: pace every task of each (pinned) user type so "
                            "that the run collects at least this many requests of every endpoint "
                            "(locust/sampling.py); think times then do not apply. 0: the seed's think times.")
    group.add_argument("--model-sample-target", type=int, default=0,
                       help="With --sample-target: pace the tasks that ask the model (chat) to this many requests "
                            "instead (paired rounds measure the short endpoints denser than chat). 0: the sample "
                            "target.")
    group.add_argument("--chat-transport", choices=CHAT_TRANSPORTS, default="auto",
                       help="How users ask questions: REST POST /api/chat, the realtime WebSocket, or auto: "
                            "REST when the target has it, decided once at the start of the run.")
    group.add_argument("--ws-timeout", type=float, default=30.0,
                       help="Seconds to wait for any WebSocket frame before the exchange counts as failed.")
    # paired A/B rounds (scripts/ab.py): the runner reads these from the profile; Locust only accepts them
    group.add_argument("--paired-rounds", type=int, default=0,
                       help="Paired A/B (the runner's --compare-base): rounds of base and head, in balanced "
                            "order B H H B ...; each round is one run of this profile. Not used by Locust itself.")
    group.add_argument("--paired-round-time", default="0",
                       help="Paired A/B: each round's run time (the profile's sample target scales with it). "
                            "Not used by Locust itself.")
    group.add_argument("--paired-max-rounds", type=int, default=0,
                       help="Paired A/B: while a required endpoint (the policy's unresolved: fail) is UNRESOLVED, "
                            "rounds are added up to this many. Not used by Locust itself.")
    group.add_argument("--paired-reruns", type=int, default=0,
                       help="Paired A/B: how many times a block of rounds may run again when the A/A control finds "
                            "one of its rounds disturbed. Not used by Locust itself.")
    group.add_argument("--paired-spawn-rate", type=float, default=0.0,
                       help="Paired A/B: users started per second in a round. Not used by Locust itself.")
    group.add_argument("--paired-sample-target", type=int, default=0,
                       help="Paired A/B: the rounds' sample target, per run time as --sample-target is (a round "
                            "gets its share); 0: the profile's sample-target. Not used by Locust itself.")
    # the staged shapes' parameters live in the stress and spike profiles
    group.add_argument("--stress-step-users", type=int, default=50, help="Stress: users added per stage.")
    group.add_argument("--stress-step-time", default="90s", help="Stress: how long each stage holds.")
    group.add_argument("--spike-base-users", type=int, default=100, help="Spike: users before and after it.")
    group.add_argument("--spike-warmup", default="60s", help="Spike: steady phase before the jump.")
    group.add_argument("--spike-hold", default="60s", help="Spike: how long the spike holds.")


class Suite:
    """Per-process state every virtual user draws on: addresses, accounts, numbering, transport."""

    def __init__(self, environment) -> None:
        options = environment.parsed_options
        self.environment = environment
        self.worker_index = getattr(environment.runner, "worker_index", 0) or 0
        self.addresses = ClientAddresses(self.worker_index)
        self.accounts = AccountPool.from_file(options.accounts_file) if options.accounts_file else None
        self.user_numbers = itertools.count()
        self.ws_timeout_s = options.ws_timeout
        self.think_scale = options.think_scale
        self._task_periods: dict[str, dict[str, float]] | None = None
        self.chat_transport = options.chat_transport if options.chat_transport != "auto" else None

    @property
    def sample_target(self) -> int:
        # read when users start: a worker gets the master's options with its first spawn message
        return getattr(self.environment.parsed_options, "sample_target", 0) or 0

    def task_periods(self) -> dict[str, dict[str, float]]:
        """Each user type's timetable for the sample target (computed once: the population is pinned)."""
        if self._task_periods is None:
            options = self.environment.parsed_options
            self._task_periods = task_periods(self.environment.user_classes, options.sample_target,
                                              getattr(options, SAMPLED_RUN_TIME, None),
                                              getattr(options, "model_sample_target", 0) or 0)
        return self._task_periods

    def transport(self) -> str:
        """REST or WebSocket chat, decided once per process from what the target serves."""
        if self.chat_transport is None:
            self.chat_transport = probe_chat_transport(self.environment.host)
            log.info("chat transport: %s", self.chat_transport)
        return self.chat_transport


def probe_chat_transport(host: str) -> str:
    """REST when the target routes POST /api/chat (401/422 without a token), else the WebSocket."""
    try:
        status = requests.post(host.rstrip("/") + endpoints.CHAT, json={}, timeout=10).status_code
    except requests.RequestException:
        return "websocket"
    return "websocket" if status in (404, 405) else "rest"


suite: Suite | None = None


def log_greenlet_stacks() -> None:
    log.warning("greenlets on SIGUSR1:\n%s", "\n".join(gevent.util.format_run_info()))


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    global suite
    if environment.parsed_options is None:  # a library use of Locust without a command line
        return
    record = RunRecord(environment)
    if not isinstance(environment.runner, WorkerRunner):
        # after RunRecord: quitting's listeners run last-registered first, so the users are stopped
        # (a SIGTERM) before metrics.json is written too
        RunReports.take_over(environment)
    suite = Suite(environment)
    record.facts["chat_transport"] = suite.transport
    model = getattr(environment.parsed_options, "model_sample_target", 0)
    if model and not suite.sample_target:
        raise SystemExit(f"--model-sample-target {model}: paces the tasks that ask the model within a sample "
                         "target; give --sample-target too (without one, users keep the seed's think times)")
    if suite.sample_target and not isinstance(environment.runner, WorkerRunner):
        # Locust gives a worker no run time; this option reaches the workers with the others
        setattr(environment.parsed_options, SAMPLED_RUN_TIME, environment.parsed_options.run_time)
        try:
            periods = suite.task_periods()
        except SamplingError as error:
            raise SystemExit(f"--sample-target {suite.sample_target}: {error}") from None
        log.info("measuring: %d requests of every endpoint%s; seconds between one user's runs of each task: %s",
                 suite.sample_target, f" ({model} of the tasks that ask the model)" if model else "",
                 {name: {task: round(s, 2) for task, s in tasks.items()} for name, tasks in periods.items()})

    # SIGUSR1: every greenlet's stack into the log, so that a Locust that does not finish in time
    # (the runner sends this before it kills one) says where it stands
    gevent.signal_handler(signal.SIGUSR1, log_greenlet_stacks)

    @environment.events.test_start.add_listener
    def decide_transport(**_kw) -> None:
        if not isinstance(environment.runner, WorkerRunner) and environment.host:
            suite.transport()
