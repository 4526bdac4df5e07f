"""Permission rows of the console's inventory pages (dashboard and cluster page rows stay in the main MATRIX).

Pages under a cluster answer 404 outside its team, 403 to a viewer (the policy's reason), and let operators
work; deleting a cluster is for owners. Methods a page does not have answer 405 to every signed-in user.
"""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("search",                        "GET",    302,      200,    200,   200,     200,  200),
    ("search",                        "other",  302,      405,    405,   405,     405,  405),
    ("cluster-list",                  "GET",    302,      200,    200,   200,     200,  200),
    ("cluster-list",                  "other",  302,      405,    405,   405,     405,  405),
    ("cluster-create",                "GET",    302,      403,    403,   200,     200,  200),
    ("cluster-create",                "POST",   302,      403,    403,   302,     302,  302),
    ("cluster-create",                "other",  302,      405,    405,   405,     405,  405),
    ("cluster-edit",                  "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-edit",                  "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-edit",                  "other",  302,      405,    405,   405,     405,  405),
    ("cluster-delete",                "GET",    302,      404,    403,   403,     200,  200),
    ("cluster-delete",                "POST",   302,      404,    403,   403,     302,  302),
    ("cluster-delete",                "other",  302,      405,    405,   405,     405,  405),
    ("virtual-service-create",        "GET",    302,      404,    403,   200,     200,  200),
    ("virtual-service-create",        "POST",   302,      404,    403,   302,     302,  302),
    ("virtual-service-create",        "other",  302,      405,    405,   405,     405,  405),
    ("virtual-service-edit",          "GET",    302,      404,    403,   200,     200,  200),
    ("virtual-service-edit",          "POST",   302,      404,    403,   302,     302,  302),
    ("virtual-service-edit",          "other",  302,      405,    405,   405,     405,  405),
    ("virtual-service-delete",        "GET",    302,      404,    403,   200,     200,  200),
    ("virtual-service-delete",        "POST",   302,      404,    403,   302,     302,  302),
    ("virtual-service-delete",        "other",  302,      405,    405,   405,     405,  405),
    ("real-server-create",            "GET",    302,      404,    403,   200,     200,  200),
    ("real-server-create",            "POST",   302,      404,    403,   302,     302,  302),
    ("real-server-create",            "other",  302,      405,    405,   405,     405,  405),
    ("real-server-edit",              "GET",    302,      404,    403,   200,     200,  200),
    ("real-server-edit",              "POST",   302,      404,    403,   302,     302,  302),
    ("real-server-edit",              "other",  302,      405,    405,   405,     405,  405),
    ("real-server-delete",            "GET",    302,      404,    403,   200,     200,  200),
    ("real-server-delete",            "POST",   302,      404,    403,   302,     302,  302),
    ("real-server-delete",            "other",  302,      405,    405,   405,     405,  405),
    ("real-server-connections",       "GET",    302,      404,    200,   200,     200,  200),
    ("real-server-connections",       "other",  302,      405,    405,   405,     405,  405),
    ("real-server-state",             "GET",    302,      404,    403,   200,     200,  200),
    ("real-server-state",             "POST",   302,      404,    403,   302,     302,  302),
    ("real-server-state",             "other",  302,      405,    405,   405,     405,  405),
]
# fmt: on


def url_kwargs(world) -> dict:
    """Every URL points at team alpha's cluster, its service and its real server."""
    a = world.alpha
    cluster = {"slug": a.cluster.slug}
    return {
        "cluster-edit": cluster,
        "cluster-delete": cluster,
        "virtual-service-create": cluster,
        "virtual-service-edit": {**cluster, "pk": a.service.pk},
        "virtual-service-delete": {**cluster, "pk": a.service.pk},
        "real-server-create": {**cluster, "pk": a.service.pk},
        "real-server-edit": {**cluster, "pk": a.real_server.pk},
        "real-server-delete": {**cluster, "pk": a.real_server.pk},
        "real-server-state": {**cluster, "pk": a.real_server.pk, "verb": "drain"},
        "real-server-connections": {**cluster, "pk": a.real_server.pk},
    }


def bodies(world) -> dict:
    """Valid form input, so that a refusal is about rights, not input."""
    a = world.alpha
    service = {
        "protocol": "tcp",
        "address": "198.51.100.99",
        "port": "443",
        "address_family": "ipv4",
        "scheduler": "wlc",
        "persistence_timeout": "0",
        "forward_method": "tun",
        "enabled": "on",
    }
    real_server = {
        "address": "203.0.113.99",
        "port": "",
        "weight": "5",
        "forward_method": "tun",
        "tunnel_type": "ipip",
        "tunnel_checksum": "none",
        "upper_threshold": "0",
        "lower_threshold": "0",
        "state": "active",
    }
    return {
        ("cluster-create", "POST"): {
            "team": a.team.pk,
            "name": "alpha console",
            "slug": "alpha-console",
            "drain_timeout": "300",
        },
        ("cluster-edit", "POST"): {
            "name": "alpha web",
            "slug": a.cluster.slug,
            "description": "edited",
            "drain_timeout": "60",
        },
        ("virtual-service-create", "POST"): service,
        ("virtual-service-edit", "POST"): {**service, "address": a.service.address, "port": "8080"},
        ("real-server-create", "POST"): real_server,
        ("real-server-edit", "POST"): {**real_server, "address": a.real_server.address, "weight": "7"},
    }
