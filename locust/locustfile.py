"""The VoiceAssist load-test suite: its user types and how they are wired into Locust.

Run it through a profile (`locust --config locust/profiles/smoke.conf`), or through the bundle's
runner (`python -m scripts.run smoke`), which also starts the stack and gates the result.
"""

from __future__ import annotations

import itertools
import random

import endpoints
import queries
from accounts import AccountPool, ClientAddresses, self_registered
from locust import FastHttpUser, between, events, task
from realtime import RealtimeChat
from run_metrics import RunRecord
from session import ApiSession, has_keys


@events.init_command_line_parser.add_listener
def add_suite_options(parser) -> None:
    group = parser.add_argument_group("VoiceAssist suite")
    group.add_argument("--stack-mode", default="external",
                       help="What serves the target (embedded, services, compose, command, external); recorded "
                            "in metrics.json so baselines compare like with like.")
    group.add_argument("--metrics-file", default="",
                       help="Where the master writes metrics.json (custom counters and run facts) on exit.")
    group.add_argument("--accounts-file", default="",
                       help="JSON of seeded accounts ({\"accounts\": [{email, password, role}]}); without it "
                            "each virtual user registers a user account of its own.")
    group.add_argument("--scale", type=float, default=1.0,
                       help="The factor the runner applied to the profile's users and duration (recorded).")
    group.add_argument("--ws-timeout", type=float, default=30.0,
                       help="Seconds to wait for any WebSocket frame before the exchange counts as failed.")


class Suite:
    """Per-process state every virtual user draws on: addresses, accounts, numbering."""

    def __init__(self, environment) -> None:
        options = environment.parsed_options
        self.worker_index = getattr(environment.runner, "worker_index", 0) or 0
        self.addresses = ClientAddresses(self.worker_index)
        self.accounts = AccountPool.from_file(options.accounts_file) if options.accounts_file else None
        self.user_numbers = itertools.count()
        self.ws_timeout_s = options.ws_timeout


suite: Suite | None = None


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    global suite
    RunRecord(environment)
    if environment.parsed_options is not None:
        suite = Suite(environment)


class VoiceAssistUser(FastHttpUser):
    """A signed-in user of the API: logs in once at start, refreshes its token before expiry."""

    abstract = True
    role = "user"

    def on_start(self) -> None:
        account = suite.accounts.take(self.role) if suite.accounts else None
        registered_here = account is None
        if account is None:
            account = self_registered(suite.worker_index, next(suite.user_numbers))
        self.api = ApiSession(self, account, suite.addresses.next())
        if registered_here:
            self.api.register()
        self.api.login()

    def on_stop(self) -> None:
        if getattr(self, "chat", None):
            self.chat.close()


class RegularUser(VoiceAssistUser):
    """The seed's regular user: simple and moderate questions, profile, health."""

    wait_time = between(2, 8)

    def on_start(self) -> None:
        super().on_start()
        self.chat = RealtimeChat(self.api, suite.ws_timeout_s)

    @task(3)
    def ask_question(self) -> None:
        question = random.choice(queries.SIMPLE + queries.MODERATE)
        self.chat.ask(question)
        self.chat.close()  # one conversation per question: every question times a connect too

    @task(2)
    def view_profile(self) -> None:
        email = self.api.account.email
        self.api.call("GET", endpoints.ME, check=lambda body: _same_email(body, email))

    @task(1)
    def check_health(self) -> None:
        self.api.call("GET", endpoints.HEALTH, auth=False, check=_healthy)


def _healthy(body) -> str | None:
    reason = has_keys("status")(body)
    return reason or (None if body["status"] == "healthy" else f"status is {body['status']!r}")


def _same_email(body, email: str) -> str | None:
    reason = has_keys("email")(body)
    return reason or (None if body["email"] == email else f"me is {body['email']!r}, not {email!r}")
