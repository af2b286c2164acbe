"""The VoiceAssist load-test suite: the seed's mixed population of four user types.

Run it through a profile (`locust --config profiles/smoke.conf` from this folder), or through
the bundle's runner (`python -m scripts.run smoke`), which also starts the stack and gates the
result. Scenario and shape locustfiles beside this one reuse the same user types and options.
"""

import suite  # noqa: F401  (registers the suite's options and listeners)
from users import AdminUser, PowerUser, RegularUser, WebSocketUser

__all__ = ["AdminUser", "PowerUser", "RegularUser", "WebSocketUser"]
