"""Every page of the follow-up's admin: importing this registers them on the admin site."""

from . import checkpoints_and_alerts, integration, lockout, mail, protocols, records  # noqa: F401
