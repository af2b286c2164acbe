"""The seed's four user types, against the real contract.

Weights keep the seed's 70/20/10/5 intent as 14:4:2:1 (the seed's figures summed to 105%): real
shares 66.7% regular, 19.0% power, 9.5% admin, 4.8% WebSocket. Wait times are the seed's,
multiplied by --think-scale. With a sample target (the smoke profile's), users measure instead of
imitating: each runs every task of its type on a timetable (locust/sampling.py).
"""

from __future__ import annotations

import random

import endpoints
import queries
import suite as suite_module
from accounts import self_registered
from chat import Chat
from documents import upload_body
from locust import FastHttpUser, task
from run_metrics import counters
from sampling import Timetable, asks_the_model, every_type, measured_tasks, per_client_limit
from session import ApiSession, envelope_ok, envelope_with, has_keys, healthy, markdown
from task_deck import TaskDeck

# Admin users keep at most this many of their own uploads; older ones are deleted (bounded KB).
KEPT_UPLOADS = 5
# The seed's upload sizes (small ~4 KB, medium ~40 KB, large ~400 KB) in its 3:2:1 proportion.
UPLOAD_SIZES = {"small": 3, "medium": 2, "large": 1}


class VoiceAssistUser(FastHttpUser):
    """A signed-in user: logs in once at start, refreshes before expiry, logs out at the end."""

    abstract = True
    account_kinds: tuple[str, ...] = ("regular", "user")  # accounts-file kinds it may sign in as, in order
    wait_range_s = (2.0, 8.0)

    timetable: Timetable | None = None

    def wait_time(self) -> float:
        if self.timetable is not None:
            return self.timetable.wait()
        low, high = self.wait_range_s
        return random.uniform(low, high) * suite_module.suite.think_scale

    def on_start(self) -> None:
        suite = suite_module.suite
        if suite.sample_target:
            # measuring: every task of the type on its own timetable, paced to the sample target
            periods = suite.task_periods()[type(self).__name__]
            self.tasks = self.timetable = Timetable(
                [(task, periods[task.__name__]) for task in measured_tasks(type(self))])
        else:
            # every task of the type within one pass of its weights, even in a short run
            self.tasks = TaskDeck(type(self).tasks, random.Random())
        account = next(filter(None, (suite.accounts.take(kind) for kind in self.account_kinds)), None) \
            if suite.accounts else None
        if account is None and "regular" in self.account_kinds:
            account = self_registered(suite.worker_index, next(suite.user_numbers))
            self.api = ApiSession(self, account, suite.addresses.next())
            self.api.register()
        elif account is None:
            # No account for this role: every task of this user becomes a counted failure (no token).
            self.api = ApiSession(self, self_registered(suite.worker_index, -1), suite.addresses.next())
            counters.add("auth_failures")
            return
        else:
            self.api = ApiSession(self, account, suite.addresses.next())
        self.api.login()
        self.chat = Chat(self.api, suite.transport(), suite.ws_timeout_s)

    def on_stop(self) -> None:
        if getattr(self, "chat", None):
            self.chat.close()
        if getattr(self, "api", None) and self.api.access_token:
            self.api.logout()

    def ask(self, question: str, conversation_id: str | None = None):
        chat = getattr(self, "chat", None)
        if chat is None:
            self.api.fail_unsent("POST", "chat", RuntimeError("no chat: the user could not sign in"))
            return None
        return chat.ask(question, conversation_id)

    # tasks several user types share

    def new_conversation(self, title: str) -> str | None:
        body = self.api.call("POST", endpoints.CONVERSATIONS, json={"title": title}, expect=(200, 201),
                             check=envelope_with("id"))
        return body["data"]["id"] if body else None

    def list_conversations(self) -> None:
        self.api.call("GET", endpoints.CONVERSATIONS, params={"page": 1, "pageSize": 20},
                      check=envelope_with("items", "total"))

    def health(self) -> None:
        self.api.call("GET", endpoints.HEALTH, auth=False, check=healthy)

    # Every signed-in client renews its token; in the realistic mix only regular users do it as a task
    # (the seed's). Measuring, every user does, and all share the target, each under the gateway's
    # per-client limit on refreshes.
    @every_type
    @per_client_limit(endpoints.PER_CLIENT_LIMITS_PER_MINUTE[endpoints.REFRESH])
    def resume_session(self) -> None:
        """The app comes back from the background and renews its token, as real clients do."""
        if self.api.refresh_token and not self.api.refresh():
            self.api.login()



class RegularUser(VoiceAssistUser):
    """Simple and moderate questions, profile, history, health."""

    weight = 14
    wait_range_s = (2.0, 8.0)

    @task(4)
    @asks_the_model
    def ask_question(self) -> None:
        self.ask(random.choice(queries.SIMPLE + queries.MODERATE))

    @task(2)
    def view_profile(self) -> None:
        email = self.api.account.email
        self.api.call("GET", endpoints.ME, check=lambda body: _same_email(body, email))

    @task(2)
    def view_history(self) -> None:
        self.list_conversations()

    @task(1)
    @per_client_limit(endpoints.PER_CLIENT_LIMITS_PER_MINUTE[endpoints.HEALTH])
    def check_health(self) -> None:
        self.health()

    @task(1)
    @per_client_limit(endpoints.PER_CLIENT_LIMITS_PER_MINUTE[endpoints.REFRESH])
    def resume_session(self) -> None:
        super().resume_session()


class PowerUser(VoiceAssistUser):
    """Complex questions, multi-turn conversations on one conversation id, export."""

    weight = 4
    account_kinds = ("power", "regular", "user")
    wait_range_s = (3.0, 12.0)

    def on_start(self) -> None:
        super().on_start()
        self.conversation_id: str | None = None

    @task(3)
    @asks_the_model
    def ask_complex(self) -> None:
        self.ask(random.choice(queries.COMPLEX))

    @task(2)
    @asks_the_model
    def multi_turn(self) -> None:
        turns = random.choice(queries.MULTI_TURN)
        conversation_id = self.new_conversation(turns[0][:60])
        if conversation_id is None:
            return
        self.conversation_id = conversation_id
        for question in turns:
            if self.ask(question, conversation_id) is None:
                return

    @task(1)
    def export_conversation(self) -> None:
        conversation_id = self.conversation_id or self.new_conversation("export")
        if conversation_id is None:
            return
        self.api.call("GET", endpoints.conversation_export(conversation_id),
                      name=endpoints.CONVERSATION_EXPORT_NAME, check=markdown)

    @task(1)
    def view_history(self) -> None:
        self.list_conversations()


class AdminBase(VoiceAssistUser):
    """An administrator's operations, without tasks: Locust merges a base class's tasks into its
    subclasses, so the admin workflow scenario must not inherit the mixed population's."""

    abstract = True
    account_kinds = ("admin",)
    wait_range_s = (5.0, 15.0)

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()
        self.uploads: list[str] = []

    def on_stop(self) -> None:
        # an administrator tidies up: the run leaves no test documents behind in the target's KB
        while getattr(self, "uploads", None) and self.api.access_token:
            self.delete_document(self.uploads.pop())
        super().on_stop()

    def upload(self, size: str) -> str | None:
        """Upload a document of the given size; its id, or None when the upload failed (counted)."""
        name, body, content_type = upload_body(size, self.rng)
        reply = self.api.call(
            "POST", endpoints.KB_DOCUMENTS, params={"title": name, "source_type": "guideline"},
            data=body, headers={"Content-Type": content_type}, check=envelope_with("document_id", "chunks_indexed"),
        )
        if reply is None:
            counters.add("document_upload_failures")
            return None
        counters.add("document_uploads")
        document_id = reply["data"]["document_id"]
        self.uploads.append(document_id)
        while len(self.uploads) > KEPT_UPLOADS:
            self.delete_document(self.uploads.pop(0))
        return document_id

    def delete_document(self, document_id: str) -> None:
        self.api.call("DELETE", endpoints.kb_document(document_id), name=endpoints.KB_DOCUMENT_NAME,
                      check=envelope_with("document_id"))

    def monitor(self) -> None:
        self.api.call("GET", endpoints.METRICS, auth=False, check=_prometheus)
        self.api.call("GET", endpoints.HEALTH_DETAILED, auth=False, check=has_keys("status", "components"))


class AdminUser(AdminBase):
    """Document uploads (small, medium, large), document management, dashboard, cache, flags, metrics."""

    weight = 2

    def on_start(self) -> None:
        super().on_start()
        # the sizes dealt like the tasks: the seed's proportion exactly, every size within one pass
        self.upload_sizes = TaskDeck([size for size, weight in UPLOAD_SIZES.items() for _ in range(weight)],
                                     self.rng)

    @task(sum(UPLOAD_SIZES.values()))
    def upload_document(self) -> None:
        self.upload(self.upload_sizes[0])

    @task(2)
    def manage_documents(self) -> None:
        self.api.call("GET", endpoints.KB_DOCUMENTS, params={"skip": 0, "limit": 20},
                      check=envelope_with("documents", "total"))
        if self.uploads:
            self.api.call("GET", endpoints.kb_document(self.uploads[-1]), name=endpoints.KB_DOCUMENT_NAME,
                          check=envelope_with("document_id"))

    @task(1)
    def retire_document(self) -> None:
        if self.uploads:
            self.delete_document(self.uploads.pop(0))

    @task(2)
    def dashboard(self) -> None:
        self.api.call("GET", endpoints.DASHBOARD, check=envelope_with("total_users"))
        self.api.call("GET", endpoints.ADMIN_USERS, params={"offset": 0, "limit": 20}, check=envelope_ok)

    @task(1)
    def manage_cache(self) -> None:
        self.api.call("GET", endpoints.CACHE_STATS, check=envelope_ok)
        self.api.call("POST", endpoints.CACHE_CLEAR, check=envelope_ok)

    @task(2)
    def manage_feature_flags(self) -> None:
        listing = self.api.call("GET", endpoints.FEATURE_FLAGS, check=envelope_with("flags"))
        flags = (listing or {}).get("data", {}).get("flags") or []
        if not flags:
            return
        flag = random.choice(flags)
        self.api.call("GET", endpoints.feature_flag(flag["name"]), name=endpoints.FEATURE_FLAG_NAME,
                      check=envelope_ok)
        # write the flag's own state back: exercises PATCH without changing the target's behaviour
        self.api.call("PATCH", endpoints.feature_flag(flag["name"]), name=endpoints.FEATURE_FLAG_NAME,
                      json={"enabled": flag["enabled"], "description": flag.get("description") or ""},
                      check=envelope_ok)

    @task(1)
    @per_client_limit(endpoints.PER_CLIENT_LIMITS_PER_MINUTE[endpoints.HEALTH_DETAILED])
    def check_monitoring(self) -> None:
        self.monitor()


class WebSocketUser(VoiceAssistUser):
    """Realtime chat on one long-lived socket, with pings between questions."""

    weight = 1
    wait_range_s = (1.0, 5.0)

    @task(3)
    @asks_the_model
    def realtime_question(self) -> None:
        if getattr(self, "chat", None) is None:
            self.ask("")  # counted failure: no sign-in
            return
        self.chat.realtime.ask(random.choice(queries.SIMPLE + queries.MODERATE))

    @task(1)
    def ping(self) -> None:
        if getattr(self, "chat", None) is not None:
            self.chat.realtime.ping()

    @task(1)
    def reconnect(self) -> None:
        """A voice client on a phone drops and reopens its socket (network change, app resumed)."""
        if getattr(self, "chat", None) is not None:
            self.chat.realtime.close()
            self.chat.realtime.connect()


def _same_email(body, email: str) -> str | None:
    reason = has_keys("email")(body)
    return reason or (None if body["email"] == email else f"me is {body['email']!r}, not {email!r}")


def _prometheus(body) -> str | None:
    return None if isinstance(body, str) and "# TYPE" in body else "not Prometheus text"
