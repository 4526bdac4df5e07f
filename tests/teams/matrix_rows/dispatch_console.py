"""Permission-matrix rows of the console's dispatch pages: plan, apply, progress, deployments, hosts, enrollment."""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    # Plan: viewers read the preview; asking the agents, applying and reconciling are operator work.
    ("cluster-plan",                  "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-plan",                  "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-plan",                  "other",  302,      405,    405,   405,     405,  405),
    ("cluster-apply",                 "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-apply",                 "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-apply",                 "other",  302,      405,    405,   405,     405,  405),
    ("cluster-revision-progress",     "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-revision-progress",     "other",  302,      405,    405,   405,     405,  405),
    ("cluster-deployment",            "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-deployment",            "other",  302,      405,    405,   405,     405,  405),
    ("cluster-host-reconcile",        "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-host-reconcile",        "other",  302,      405,    405,   405,     405,  405),
    # Hosts: everyone signed in has a list (of their teams' hosts); registering needs an operator role somewhere.
    ("host-list",                     "GET",    302,      200,    200,   200,     200,  200),
    ("host-list",                     "other",  302,      405,    405,   405,     405,  405),
    ("host-create",                   "GET",    302,      403,    403,   200,     200,  200),
    ("host-create",                   "POST",   302,      403,    403,   302,     302,  302),
    ("host-create",                   "other",  302,      405,    405,   405,     405,  405),
    ("host-detail",                   "GET",    302,      404,    200,   200,     200,  200),
    ("host-detail",                   "other",  302,      405,    405,   405,     405,  405),
    ("host-edit",                     "GET",    302,      404,    403,   200,     200,  200),
    ("host-edit",                     "POST",   302,      404,    403,   302,     302,  302),
    ("host-edit",                     "other",  302,      405,    405,   405,     405,  405),
    ("host-delete",                   "GET",    302,      404,    403,   200,     200,  200),
    ("host-delete",                   "POST",   302,      404,    403,   302,     302,  302),
    ("host-delete",                   "other",  302,      405,    405,   405,     405,  405),
    ("host-role-add",                 "POST",   302,      404,    403,   302,     302,  302),
    ("host-role-add",                 "other",  302,      405,    405,   405,     405,  405),
    ("host-role-remove",              "GET",    302,      404,    403,   200,     200,  200),
    ("host-role-remove",              "POST",   302,      404,    403,   302,     302,  302),
    ("host-role-remove",              "other",  302,      405,    405,   405,     405,  405),
    # Enrollment shows a secret once (200, not a redirect); revoking asks first.
    ("host-enroll",                   "GET",    302,      404,    403,   200,     200,  200),
    ("host-enroll",                   "POST",   302,      404,    403,   200,     200,  200),
    ("host-enroll",                   "other",  302,      405,    405,   405,     405,  405),
    ("host-revoke",                   "GET",    302,      404,    403,   200,     200,  200),
    ("host-revoke",                   "POST",   302,      404,    403,   302,     302,  302),
    ("host-revoke",                   "other",  302,      405,    405,   405,     405,  405),
]
# fmt: on


def url_kwargs(world) -> dict:
    """Team alpha's cluster, its director, its spare host and the director's role."""
    a = world.alpha
    return {
        "cluster-plan": {"slug": a.cluster.slug},
        "cluster-apply": {"slug": a.cluster.slug},
        "cluster-revision-progress": {"slug": a.cluster.slug, "number": world.revision.number},
        "cluster-deployment": {"slug": a.cluster.slug, "pk": world.deployment.pk},
        "cluster-host-reconcile": {"slug": a.cluster.slug, "hostname": a.host.hostname},
        "host-detail": {"pk": a.spare_host.pk},
        "host-edit": {"pk": a.spare_host.pk},
        "host-delete": {"pk": a.spare_host.pk},
        "host-role-add": {"pk": a.spare_host.pk},
        "host-role-remove": {"pk": a.host.pk, "role": a.cluster_host.pk},
        "host-enroll": {"pk": a.spare_host.pk},
        "host-revoke": {"pk": a.spare_host.pk},
    }


def bodies(world) -> dict:
    """Valid form bodies, so that a refusal is about rights, not input."""
    a = world.alpha
    host = {"hostname": "new.alpha.example.net", "management_address": "192.0.2.99", "vip_interface": "lo"}
    return {
        ("host-create", "POST"): {**host, "team": a.team.pk, "uplinks": "eth0"},
        ("host-edit", "POST"): {**host, "hostname": a.spare_host.hostname, "uplinks": "eth0"},
        ("host-role-add", "POST"): {"cluster": a.cluster.slug, "role": "real_server"},
    }
