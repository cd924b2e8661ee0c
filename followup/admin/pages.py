"""Every page of the follow-up's admin: importing this registers them on the admin site."""

from . import (  # noqa: F401
    checkpoints_and_alerts,
    dicom,
    feeds,
    integration,
    lockout,
    mail,
    protocols,
    records,
)
