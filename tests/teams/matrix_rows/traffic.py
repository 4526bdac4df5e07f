"""Permission rows of live traffic: the traffic pages and their chart history follow the cluster's team
(404 outside it, every role reads); /metrics needs a token or a session and shows only one's own clusters."""

# fmt: off
# name                        method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("metrics",                   "GET",    401,      200,    200,   200,     200,  200),
    ("metrics",                   "other",  405,      405,    405,   405,     405,  405),
    ("cluster-traffic",           "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-traffic",           "other",  302,      405,    405,   405,     405,  405),
    ("virtual-service-traffic",   "GET",    302,      404,    200,   200,     200,  200),
    ("virtual-service-traffic",   "other",  302,      405,    405,   405,     405,  405),
    ("traffic-history",           "GET",    302,      404,    200,   200,     200,  200),
    ("traffic-history",           "other",  302,      405,    405,   405,     405,  405),
]
# fmt: on


def url_kwargs(world) -> dict:
    """The traffic pages of team alpha's cluster and service."""
    a = world.alpha
    return {
        "cluster-traffic": {"slug": a.cluster.slug},
        "virtual-service-traffic": {"slug": a.cluster.slug, "pk": a.service.pk},
        "traffic-history": {"slug": a.cluster.slug, "pk": a.service.pk},
    }
