"""The dashboard's warning about alert channels that have been failing for an hour (computed only when shown)."""

from alerts.delivery import failing_channels as failing
from teams import policy


def failing_channels(request) -> dict:
    """`failing_alert_channels`: a callable, so the query runs only on a page whose template reads it."""
    user = getattr(request, "user", None)

    def channels() -> list:
        if user is None or not user.is_authenticated:
            return []
        return list(failing(policy.visible_teams(user)))

    return {"failing_alert_channels": channels}
