"""Qt-free machinery shared by every tab: events, run control, device policy, run cards."""

from lab_app.core.control import Cancelled, Control
from lab_app.core.events import Message, Progress, Snapshot

__all__ = ["Cancelled", "Control", "Message", "Progress", "Snapshot"]
