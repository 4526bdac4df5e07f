"""Permission-matrix rows of alerts: owners manage channels and rules (and see delivery logs); operators silence
and acknowledge; viewers read."""

from datetime import timedelta

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("alerts-team",                   "GET",    302,      404,    200,   200,     200,  200),
    ("alerts-team",                   "other",  302,      405,    405,   405,     405,  405),
    ("alerts-channel-create",         "POST",   302,      404,    403,   403,     201,  201),
    ("alerts-channel-create",         "other",  302,      405,    405,   405,     405,  405),
    ("alerts-rule-create",            "POST",   302,      404,    403,   403,     302,  302),
    ("alerts-rule-create",            "other",  302,      405,    405,   405,     405,  405),
    ("alerts-silence-create",         "POST",   302,      404,    403,   302,     302,  302),
    ("alerts-silence-create",         "other",  302,      405,    405,   405,     405,  405),
    ("alerts-channel-test",           "POST",   302,      404,    403,   403,     302,  302),
    ("alerts-channel-test",           "other",  302,      405,    405,   405,     405,  405),
    ("alerts-channel-rotate",         "POST",   302,      404,    403,   403,     302,  302),
    ("alerts-channel-rotate",         "other",  302,      405,    405,   405,     405,  405),
    ("alerts-channel-delete",         "POST",   302,      404,    403,   403,     302,  302),
    ("alerts-channel-delete",         "other",  302,      405,    405,   405,     405,  405),
    ("alerts-rule-delete",            "POST",   302,      404,    403,   403,     302,  302),
    ("alerts-rule-delete",            "other",  302,      405,    405,   405,     405,  405),
    ("alerts-silence-end",            "POST",   302,      404,    403,   302,     302,  302),
    ("alerts-silence-end",            "other",  302,      405,    405,   405,     405,  405),
    ("alerts-alert-detail",           "GET",    302,      404,    200,   200,     200,  200),
    ("alerts-alert-detail",           "other",  302,      405,    405,   405,     405,  405),
    ("alerts-alert-ack",              "POST",   302,      404,    403,   302,     302,  302),
    ("alerts-alert-ack",              "other",  302,      405,    405,   405,     405,  405),
    # REST API. Naming a team outside one's own is "does not exist" (400).
    ("api:alertchannel-list",         "GET",    401,      200,    200,   200,     200,  200),
    ("api:alertchannel-list",         "POST",   401,      400,    403,   403,     201,  201),
    ("api:alertchannel-list",         "other",  401,      405,    405,   405,     405,  405),
    ("api:alertchannel-detail",       "GET",    401,      404,    200,   200,     200,  200),
    ("api:alertchannel-detail",       "PATCH",  401,      404,    403,   403,     200,  200),
    ("api:alertchannel-detail",       "DELETE", 401,      404,    403,   403,     204,  204),
    ("api:alertchannel-detail",       "other",  401,      405,    405,   405,     405,  405),
    ("api:alertchannel-send-test",    "POST",   401,      404,    403,   403,     202,  202),
    ("api:alertchannel-send-test",    "other",  401,      405,    405,   405,     405,  405),
    ("api:alertchannel-rotate-secret", "POST",  401,      404,    403,   403,     200,  200),
    ("api:alertchannel-rotate-secret", "other", 401,      405,    405,   405,     405,  405),
    ("api:alertrule-list",            "GET",    401,      200,    200,   200,     200,  200),
    ("api:alertrule-list",            "POST",   401,      400,    403,   403,     201,  201),
    ("api:alertrule-list",            "other",  401,      405,    405,   405,     405,  405),
    ("api:alertrule-detail",          "GET",    401,      404,    200,   200,     200,  200),
    ("api:alertrule-detail",          "PATCH",  401,      404,    403,   403,     200,  200),
    ("api:alertrule-detail",          "DELETE", 401,      404,    403,   403,     204,  204),
    ("api:alertrule-detail",          "other",  401,      405,    405,   405,     405,  405),
    ("api:alertsilence-list",         "GET",    401,      200,    200,   200,     200,  200),
    ("api:alertsilence-list",         "POST",   401,      400,    403,   201,     201,  201),
    ("api:alertsilence-list",         "other",  401,      405,    405,   405,     405,  405),
    ("api:alertsilence-detail",       "GET",    401,      404,    200,   200,     200,  200),
    ("api:alertsilence-detail",       "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:alertsilence-detail",       "other",  401,      405,    405,   405,     405,  405),
    ("api:alert-list",                "GET",    401,      200,    200,   200,     200,  200),
    ("api:alert-list",                "other",  401,      405,    405,   405,     405,  405),
    ("api:alert-detail",              "GET",    401,      404,    200,   200,     200,  200),
    ("api:alert-detail",              "other",  401,      405,    405,   405,     405,  405),
    ("api:alert-acknowledge",         "POST",   401,      404,    403,   200,     200,  200),
    ("api:alert-acknowledge",         "other",  401,      405,    405,   405,     405,  405),
]
# fmt: on


def prepare(world) -> None:
    """Alpha's webhook channel, a rule, a silence and an alert."""
    from django.utils import timezone

    from alerts import actions
    from alerts.models import Alert

    team = world.alpha.team
    world.alert_channel, _secret = actions.create_channel(
        acting_user=None, team=team, fields={"name": "pager", "kind": "webhook", "url": "https://hooks.example.net/x"}
    )
    world.alert_rule = actions.create_rule(
        acting_user=None, team=team, fields={"name": "on call"}, channels=[world.alert_channel]
    )
    world.alert_silence = actions.create_silence(
        acting_user=None, team=team, ends_at=timezone.now() + timedelta(hours=1)
    )
    now = timezone.now()
    world.alert = Alert.objects.create(
        team=team,
        rule=world.alert_rule,
        rule_name="on call",
        event_type="real_server_down",
        severity="warning",
        kind="problem",
        status="dispatched",
        items=[],
        opened_at=now,
        send_after=now,
    )


def url_kwargs(world) -> dict:
    slug = {"slug": world.alpha.team.slug}
    channel = {"pk": world.alert_channel.pk}
    return {
        "alerts-team": slug,
        "alerts-channel-create": slug,
        "alerts-rule-create": slug,
        "alerts-silence-create": slug,
        "alerts-channel-test": channel,
        "alerts-channel-rotate": channel,
        "alerts-channel-delete": channel,
        "alerts-rule-delete": {"pk": world.alert_rule.pk},
        "alerts-silence-end": {"pk": world.alert_silence.pk},
        "alerts-alert-detail": {"pk": world.alert.pk},
        "alerts-alert-ack": {"pk": world.alert.pk},
        "api:alertchannel-detail": channel,
        "api:alertchannel-send-test": channel,
        "api:alertchannel-rotate-secret": channel,
        "api:alertrule-detail": {"pk": world.alert_rule.pk},
        "api:alertsilence-detail": {"pk": world.alert_silence.pk},
        "api:alert-detail": {"pk": world.alert.pk},
        "api:alert-acknowledge": {"pk": world.alert.pk},
    }


def bodies(world) -> dict:
    from django.utils import timezone

    channel = {"name": "hook", "kind": "webhook", "url": "https://hooks.example.net/y", "rate_limit_per_hour": 30}
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    return {
        ("alerts-channel-create", "POST"): channel,
        ("alerts-rule-create", "POST"): {
            "name": "pages",
            "min_severity": "warning",
            "channels": world.alert_channel.pk,
            "group_seconds": 30,
        },
        ("alerts-silence-create", "POST"): {"minutes": 60, "reason": "maintenance"},
        ("api:alertchannel-list", "POST"): {"team": "alpha", **channel},
        ("api:alertchannel-detail", "PATCH"): {"rate_limit_per_hour": 10},
        ("api:alertrule-list", "POST"): {"team": "alpha", "name": "api rule", "channels": [world.alert_channel.pk]},
        ("api:alertrule-detail", "PATCH"): {"group_seconds": 60},
        ("api:alertsilence-list", "POST"): {"team": "alpha", "ends_at": until},
    }
