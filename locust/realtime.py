"""Realtime chat over the WebSocket, timed the way a user feels it.

Three entries in Locust's statistics (method "WS"): connect (until the server's `connected`
frame), first chunk (from sending the question to the first `chunk`), and message.done (from
sending to `message.done`). Error frames, unexpected closes and timeouts are failures.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websocket

import endpoints
from run_metrics import counters
from session import ApiSession, NoToken


class ChatFailed(Exception):
    """The realtime chat did not deliver what the contract promises."""


def websocket_url(host: str, query: dict[str, str]) -> str:
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + endpoints.REALTIME_WS, urlencode(query), ""))


class ReadAheadWebSocket(websocket.WebSocket):
    """A streamed answer is some thirty small text frames. websocket-client reads each with separate
    socket reads for its header and its payload (each a trip through gevent's hub) and builds it
    through several layers of Python; on the load generator that costs more CPU than the rest of a
    chat. This client reads whatever has arrived (up to READ_AHEAD bytes), takes a whole unfragmented
    text frame straight from it, and leaves anything else (a frame still arriving, pings, close,
    fragments) to the library, whose frame parser it serves from the same buffer. (The opening
    handshake reads the socket directly, before any of this.)"""

    READ_AHEAD = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._arrived, self._served = b"", 0
        super().__init__(*args, **kwargs)

    def recv(self) -> str | bytes:
        self._read_when_served()
        text = self._whole_text_frame()
        return super().recv() if text is None else text

    def _whole_text_frame(self) -> str | None:
        """The next frame's text when it is a whole, final, unmasked text frame already read; else None."""
        arrived, start = self._arrived, self._served
        available = len(arrived) - start
        if available < 2 or arrived[start] != 0x81 or arrived[start + 1] & 0x80:  # FIN + text, no mask
            return None
        length, head = arrived[start + 1], 2
        if length == 126:
            length, head = int.from_bytes(arrived[start + 2:start + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(arrived[start + 2:start + 10], "big"), 10
        if available < head or available < head + length:
            return None
        self._served = start + head + length
        return arrived[start + head:self._served].decode("utf-8")

    def _read_when_served(self) -> None:
        if self._served >= len(self._arrived):
            self._arrived, self._served = super()._recv(self.READ_AHEAD), 0

    def _recv(self, bufsize: int) -> bytes:
        self._read_when_served()
        start = self._served
        self._served = min(start + bufsize, len(self._arrived))
        return self._arrived[start:self._served]


class RealtimeChat:
    def __init__(self, session: ApiSession, timeout_s: float) -> None:
        self.session = session
        self.timeout_s = timeout_s
        self.socket: websocket.WebSocket | None = None

    @property
    def events(self):
        return self.session.user.environment.events

    def _record(self, name: str, started: float, length: int = 0, error: Exception | None = None) -> None:
        self.events.request.fire(
            request_type=endpoints.WS_METHOD,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )

    def _receive(self) -> dict[str, Any]:
        raw = self.socket.recv()
        if not raw:
            raise ChatFailed("socket closed by the server")
        try:
            frame = json.loads(raw)
        except ValueError as error:
            raise ChatFailed(f"frame is not JSON: {raw[:80]!r}") from error
        if not isinstance(frame, dict):
            raise ChatFailed(f"frame is not an object: {raw[:80]!r}")
        return frame

    def connect(self, conversation_id: str | None = None) -> bool:
        if not self.session.ensure_token():
            self.session.fail_unsent(endpoints.WS_METHOD, endpoints.WS_CONNECT, NoToken("no access token"))
            counters.add("ws_failures")
            return False
        query = {"token": self.session.access_token}
        if conversation_id:
            query["conversationId"] = conversation_id
        url = websocket_url(self.session.user.host, query)
        started = time.perf_counter()
        try:
            self.socket = websocket.create_connection(
                url, timeout=self.timeout_s, header=[f"X-Forwarded-For: {self.session.address}"],
                class_=ReadAheadWebSocket,
                # websocket-client checks UTF-8 byte by byte in Python, which costs more CPU than
                # everything else a chat does; json.loads below refuses bad text anyway
                skip_utf8_validation=True,
            )
            frame = self._receive()
            if frame.get("type") != "connected":
                raise ChatFailed(f"first frame is {frame.get('type')!r}, not 'connected': {_error_text(frame)}")
        except (ChatFailed, websocket.WebSocketException, OSError) as error:
            self._record(endpoints.WS_CONNECT, started, error=_as_failure(error))
            counters.add("ws_failures")
            self.close()
            return False
        self._record(endpoints.WS_CONNECT, started)
        counters.add("ws_connections")
        return True

    def ask(self, question: str, conversation_id: str | None = None) -> dict[str, Any] | None:
        """Ask one question; the assistant's final message, or None when the exchange failed."""
        if self.socket is None and not self.connect(conversation_id):
            self.session.fail_unsent(endpoints.WS_METHOD, endpoints.WS_DONE, ChatFailed("not connected"))
            return None
        message: dict[str, Any] = {"type": "message", "content": question}
        if conversation_id:
            message["session_id"] = conversation_id
        started = time.perf_counter()
        first_chunk_seen = False
        answer_length = 0
        try:
            self.socket.send(json.dumps(message))
            while True:
                frame = self._receive()
                kind = frame.get("type")
                if kind == "chunk":
                    answer_length += len(frame.get("content") or "")
                    if not first_chunk_seen:
                        first_chunk_seen = True
                        self._record(endpoints.WS_FIRST_CHUNK, started)
                elif kind == "message.done":
                    final = frame.get("message")
                    if not isinstance(final, dict) or not final.get("content"):
                        raise ChatFailed("message.done without an answer")
                    if not first_chunk_seen:
                        raise ChatFailed("message.done before any chunk")
                    self._record(endpoints.WS_DONE, started, length=answer_length)
                    citations = final.get("citations") or []
                    counters.add("queries_with_citations" if citations else "queries_without_citations")
                    return final
                elif kind == "error":
                    raise ChatFailed(f"error frame: {_error_text(frame)}")
                # user_message.created, pong and future frame types carry nothing to time
        except (ChatFailed, websocket.WebSocketException, OSError) as error:
            failure = _as_failure(error)
            if not first_chunk_seen:
                self._record(endpoints.WS_FIRST_CHUNK, started, error=failure)
            self._record(endpoints.WS_DONE, started, error=failure)
            counters.add("ws_failures")
            self.close()
            return None

    def ping(self) -> bool:
        if self.socket is None and not self.connect():
            return False
        started = time.perf_counter()
        try:
            self.socket.send(json.dumps({"type": "ping"}))
            while (frame := self._receive()).get("type") != "pong":
                if frame.get("type") == "error":
                    raise ChatFailed(f"error frame: {_error_text(frame)}")
        except (ChatFailed, websocket.WebSocketException, OSError) as error:
            self._record(endpoints.WS_PING, started, error=_as_failure(error))
            counters.add("ws_failures")
            self.close()
            return False
        self._record(endpoints.WS_PING, started)
        return True

    def close(self) -> None:
        """Send the close frame and drop the connection, without waiting for the server's reply.

        websocket-client's own close() waits up to 3 s for that reply inside a bare `except: pass`,
        which also swallows the GreenletExit Locust stops a user with: a user stopped while closing
        its socket (the reconnect task, a failed exchange) went on with its tasks, and Locust
        waited for it forever at the end of the run."""
        socket, self.socket = self.socket, None
        if socket is None:
            return
        try:
            if socket.connected:
                socket.send_close()
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            socket.shutdown()


def _error_text(frame: dict[str, Any]) -> str:
    error = frame.get("error") or {}
    if isinstance(error, dict):
        return f"{error.get('code', '?')} {error.get('message', '')}".strip()
    return str(error)


def _as_failure(error: Exception) -> Exception:
    # Locust groups failures by their text: keep the class, drop per-request detail like ports.
    return error if isinstance(error, ChatFailed) else ChatFailed(f"{type(error).__name__}: {error}")
