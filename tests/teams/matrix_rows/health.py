"""Permission-matrix rows of health checks: configuring them is operator work; health is for every member."""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("health-service-edit",           "GET",    302,      404,    403,   200,     200,  200),
    ("health-service-edit",           "POST",   302,      404,    403,   302,     302,  302),
    ("health-service-edit",           "other",  302,      405,    405,   405,     405,  405),
    ("health-real-server-edit",       "GET",    302,      404,    403,   200,     200,  200),
    ("health-real-server-edit",       "POST",   302,      404,    403,   302,     302,  302),
    ("health-real-server-edit",       "other",  302,      405,    405,   405,     405,  405),
    # Naming a real server outside one's teams is “does not exist” (400), as if it did not.
    ("api:healthcheck-list",          "GET",    401,      200,    200,   200,     200,  200),
    ("api:healthcheck-list",          "POST",   401,      400,    403,   201,     201,  201),
    ("api:healthcheck-list",          "other",  401,      405,    405,   405,     405,  405),
    ("api:healthcheck-detail",        "GET",    401,      404,    200,   200,     200,  200),
    ("api:healthcheck-detail",        "PUT",    401,      404,    403,   200,     200,  200),
    ("api:healthcheck-detail",        "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:healthcheck-detail",        "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:healthcheck-detail",        "other",  401,      405,    405,   405,     405,  405),
    ("api:realserverhealth-list",     "GET",    401,      200,    200,   200,     200,  200),
    ("api:realserverhealth-list",     "other",  401,      405,    405,   405,     405,  405),
    ("api:realserverhealth-detail",   "GET",    401,      404,    200,   200,     200,  200),
    ("api:realserverhealth-detail",   "other",  401,      405,    405,   405,     405,  405),
    ("api:healthtransition-list",     "GET",    401,      200,    200,   200,     200,  200),
    ("api:healthtransition-list",     "other",  401,      405,    405,   405,     405,  405),
    ("api:healthtransition-detail",   "GET",    401,      404,    200,   200,     200,  200),
    ("api:healthtransition-detail",   "other",  401,      405,    405,   405,     405,  405),
]
# fmt: on

FORM = {
    "check_type": "http",
    "path": "/healthz",
    "expect_status_min": 200,
    "expect_status_max": 399,
    "interval": 5,
    "timeout": 3,
    "rise": 2,
    "fall": 3,
    "on_failure": "weight0",
    "quorum": 0,
    "sorry_forward_method": "dr",
}


def prepare(world) -> None:
    """A service check in alpha, reported health and one transition of alpha's real server."""
    from django.utils import timezone

    from clusters.models import HealthCheck, HealthTransition, RealServerHealth

    a = world.alpha
    world.health_check = HealthCheck.objects.create(virtual_service=a.service, cluster=a.cluster, check_type="tcp")
    world.real_server_health = RealServerHealth.objects.create(
        cluster=a.cluster, real_server=a.real_server, status="up", message="TCP connect succeeded"
    )
    world.health_transition = HealthTransition.objects.create(
        cluster=a.cluster,
        real_server=a.real_server,
        service=f"tcp {a.service.address}:80",
        endpoint=a.real_server.endpoint,
        from_status="unknown",
        to_status="up",
        at=timezone.now(),
        reported_by=a.host.hostname,
    )


def url_kwargs(world) -> dict:
    a = world.alpha
    return {
        "health-service-edit": {"slug": a.cluster.slug, "pk": a.service.pk},
        "health-real-server-edit": {"slug": a.cluster.slug, "pk": a.real_server.pk},
        "api:healthcheck-detail": {"pk": world.health_check.pk},
        "api:realserverhealth-detail": {"pk": world.real_server_health.pk},
        "api:healthtransition-detail": {"pk": world.health_transition.pk},
    }


def bodies(world) -> dict:
    a = world.alpha
    return {
        ("health-service-edit", "POST"): FORM,
        ("health-real-server-edit", "POST"): {key: FORM[key] for key in FORM if key != "quorum"},
        ("api:healthcheck-list", "POST"): {"real_server": a.real_server.pk, "check_type": "tcp"},
        ("api:healthcheck-detail", "PUT"): {"virtual_service": a.service.pk, "check_type": "http", "path": "/x"},
        ("api:healthcheck-detail", "PATCH"): {"fall": 4},
    }
