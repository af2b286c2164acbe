"""Every path the suite calls, in one place.

A target on another version of the VoiceAssist API needs one edit here, not a search through the
tasks. Names follow the contract (shared docs: voiceassist-api.md); the seed's paths that the
gateway does not have are mapped onto the real ones.
"""

# auth: bare JSON replies
REGISTER = "/api/auth/register"
LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"
ME = "/api/auth/me"

# health and metrics: at the root, no auth
HEALTH = "/health"
HEALTH_DETAILED = "/health/detailed"
METRICS = "/metrics"

# The gateway's per-client limits (requests a minute; the contract's "Rate limits"): the measuring
# load keeps each virtual user, its own client address, under them (locust/sampling.py).
PER_CLIENT_LIMITS_PER_MINUTE = {LOGIN: 10, REFRESH: 20, HEALTH: 100, HEALTH_DETAILED: 50}

# conversations: envelope replies
CONVERSATIONS = "/api/conversations"


def conversation_export(conversation_id: str) -> str:
    return f"/api/sessions/{conversation_id}/export/markdown"


CONVERSATION_EXPORT_NAME = "/api/sessions/[id]/export/markdown"

# REST chat: the reference stack and the seed have it, the real gateway does not
CHAT = "/api/chat"

# admin: envelope replies; the seed's /api/admin/dashboard is /api/admin/panel/summary
KB_DOCUMENTS = "/api/admin/kb/documents"
KB_DOCUMENT_NAME = "/api/admin/kb/documents/[id]"
DASHBOARD = "/api/admin/panel/summary"
ADMIN_USERS = "/api/admin/panel/users"
CACHE_STATS = "/api/admin/cache/stats"
CACHE_CLEAR = "/api/admin/cache/clear"
FEATURE_FLAGS = "/api/admin/feature-flags"
FEATURE_FLAG_NAME = "/api/admin/feature-flags/[name]"


def kb_document(document_id: str) -> str:
    return f"{KB_DOCUMENTS}/{document_id}"


def feature_flag(name: str) -> str:
    return f"{FEATURE_FLAGS}/{name}"


# realtime chat: the only chat the real gateway has
REALTIME_WS = "/api/realtime/ws"

# The names under which the WebSocket timings appear in Locust's statistics (method "WS").
WS_METHOD = "WS"
WS_CONNECT = f"{REALTIME_WS} connect"
WS_FIRST_CHUNK = f"{REALTIME_WS} first chunk"
WS_DONE = f"{REALTIME_WS} message.done"
WS_PING = f"{REALTIME_WS} ping"
