"""The seed's two sequential scenarios, step by step as a person would go through them.

UserJourney (11 steps): register, login, profile, health, new conversation, two questions on it,
history, export, token refresh, logout. AdminWorkflow (12 steps): login, upload, list, read,
grounded question, dashboard, users, cache stats and clear, flags, flag update, metrics and detailed
health, delete.
A step that fails ends the journey (counted), and the next iteration starts from the beginning;
except the admin's upload: a document the target failed to take (counted, once) leaves the round
going without it, reading and deleting it skipped, so a target whose indexing breaks still gets
the rest of the workflow.
"""

from __future__ import annotations

import random

import endpoints
import queries
import suite as suite_module
from accounts import self_registered
from chat import Chat
from locust import SequentialTaskSet, task
from session import ApiSession, envelope_ok, envelope_with, has_keys, healthy, markdown
from users import AdminBase, VoiceAssistUser


class UserJourneySteps(SequentialTaskSet):
    def on_start(self) -> None:
        suite = suite_module.suite
        # a fresh account every journey: register is part of what is measured
        account = self_registered(suite.worker_index, 1_000_000 + next(suite.user_numbers))
        self.api = ApiSession(self.user, account, suite.addresses.next())
        self.user.api = self.api
        self.conversation_id = None

    def step(self, ok) -> None:
        if not ok:
            self.interrupt(reschedule=False)

    @task
    def register(self):
        self.step(self.api.register())

    @task
    def login(self):
        self.step(self.api.login())
        self.chat = Chat(self.api, suite_module.suite.transport(), suite_module.suite.ws_timeout_s)
        self.user.chat = self.chat

    @task
    def profile(self):
        self.step(self.api.call("GET", endpoints.ME, check=has_keys("email")) is not None)

    @task
    def health(self):
        self.step(self.api.call("GET", endpoints.HEALTH, auth=False, check=healthy) is not None)

    @task
    def new_conversation(self):
        self.conversation_id = self.user.new_conversation("journey")
        self.step(self.conversation_id is not None)

    @task
    def first_question(self):
        turns = random.choice(queries.MULTI_TURN)
        self.follow_up = turns[1]
        self.step(self.chat.ask(turns[0], self.conversation_id) is not None)

    @task
    def follow_up_question(self):
        self.step(self.chat.ask(self.follow_up, self.conversation_id) is not None)

    @task
    def history(self):
        self.step(self.api.call("GET", endpoints.CONVERSATIONS, params={"page": 1, "pageSize": 20},
                                check=envelope_with("items")) is not None)

    @task
    def export(self):
        self.step(self.api.call("GET", endpoints.conversation_export(self.conversation_id),
                                name=endpoints.CONVERSATION_EXPORT_NAME, check=markdown) is not None)

    @task
    def refresh(self):
        self.step(self.api.refresh())

    @task
    def logout(self):
        self.api.logout()
        self.chat.close()
        self.interrupt(reschedule=False)  # the journey is over; the next one registers anew


class JourneyUser(VoiceAssistUser):
    """A new user going through the whole journey, again and again."""

    tasks = [UserJourneySteps]
    wait_range_s = (1.0, 3.0)

    def on_start(self) -> None:  # the journey signs in itself
        pass


class AdminWorkflowSteps(SequentialTaskSet):
    def on_start(self) -> None:
        self.admin: AdminBase = self.user

    def step(self, ok) -> None:
        if not ok:
            self.interrupt(reschedule=False)

    @task
    def login(self):
        self.step(self.admin.api.access_token is not None or self.admin.api.login())

    @task
    def upload(self):
        self.document_id = self.admin.upload(random.choice(("small", "medium")))  # None: failed, counted

    @task
    def list_documents(self):
        self.step(self.admin.api.call("GET", endpoints.KB_DOCUMENTS, params={"skip": 0, "limit": 20},
                                      check=envelope_with("documents")) is not None)

    @task
    def read_document(self):
        if self.document_id is None:
            return
        self.step(self.admin.api.call("GET", endpoints.kb_document(self.document_id),
                                      name=endpoints.KB_DOCUMENT_NAME, check=envelope_ok) is not None)

    @task
    def grounded_question(self):
        self.step(self.admin.ask(random.choice(queries.MODERATE)) is not None)

    @task
    def dashboard(self):
        self.step(self.admin.api.call("GET", endpoints.DASHBOARD, check=envelope_ok) is not None)

    @task
    def users(self):
        self.step(self.admin.api.call("GET", endpoints.ADMIN_USERS, params={"offset": 0, "limit": 20},
                                      check=envelope_ok) is not None)

    @task
    def cache(self):
        self.step(self.admin.api.call("GET", endpoints.CACHE_STATS, check=envelope_ok) is not None
                  and self.admin.api.call("POST", endpoints.CACHE_CLEAR, check=envelope_ok) is not None)

    @task
    def flags(self):
        listing = self.admin.api.call("GET", endpoints.FEATURE_FLAGS, check=envelope_with("flags"))
        self.flags = (listing or {}).get("data", {}).get("flags") or []
        self.step(bool(self.flags) and self.admin.api.call(
            "GET", endpoints.feature_flag(self.flags[0]["name"]), name=endpoints.FEATURE_FLAG_NAME,
            check=envelope_ok) is not None)

    @task
    def update_flag(self):
        flag = random.choice(self.flags)
        self.step(self.admin.api.call(
            "PATCH", endpoints.feature_flag(flag["name"]), name=endpoints.FEATURE_FLAG_NAME,
            json={"enabled": flag["enabled"]}, check=envelope_ok) is not None)

    @task
    def monitor(self):
        self.admin.monitor()

    @task
    def delete_document(self):
        if self.document_id in self.admin.uploads:  # else not uploaded, or retired by a later upload
            self.admin.uploads.remove(self.document_id)
            self.admin.delete_document(self.document_id)
        self.interrupt(reschedule=False)


class AdminWorkflowUser(AdminBase):
    """An administrator going through upload, management and monitoring, again and again."""

    tasks = [AdminWorkflowSteps]
