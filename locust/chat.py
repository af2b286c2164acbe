"""Asking a question, over whichever transport the target has.

REST `POST /api/chat` (the seed's, served by the reference stack) when the target routes it,
the realtime WebSocket otherwise (the real gateway's only chat). Both count grounded answers
(non-empty citations) in the suite's custom metrics.
"""

from __future__ import annotations

from typing import Any

import endpoints
from realtime import RealtimeChat
from run_metrics import counters
from session import ApiSession, has_keys


class Chat:
    def __init__(self, session: ApiSession, transport: str, ws_timeout_s: float) -> None:
        self.session = session
        self.transport = transport
        self.realtime = RealtimeChat(session, ws_timeout_s)

    def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any] | None:
        """The answer as `{content, citations}`, or None when asking failed (already counted)."""
        if self.transport == "rest":
            return self._ask_rest(question, conversation_id)
        answer = self.realtime.ask(question, conversation_id)
        return answer and {"content": answer["content"], "citations": answer.get("citations") or []}

    def _ask_rest(self, question: str, conversation_id: str | None) -> dict[str, Any] | None:
        payload: dict[str, Any] = {"message": question}
        if conversation_id:
            payload["session_id"] = conversation_id
        body = self.session.call("POST", endpoints.CHAT, json=payload, check=_answered)
        if body is None:
            return None
        citations = body.get("citations") or []
        counters.add("queries_with_citations" if citations else "queries_without_citations")
        return {"content": body["answer"], "citations": citations}

    def close(self) -> None:
        self.realtime.close()


def _answered(body: Any) -> str | None:
    reason = has_keys("answer", "citations")(body)
    return reason or (None if body["answer"] else "empty answer")
