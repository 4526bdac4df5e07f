"""Permission-matrix rows of director high availability: VIP groups and draining are operator work; the
directors' roles are for every member."""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    # Naming a cluster outside one's teams is “does not exist” (400), as if it did not.
    ("api:vipgroup-list",             "GET",    401,      200,    200,   200,     200,  200),
    ("api:vipgroup-list",             "POST",   401,      400,    403,   201,     201,  201),
    ("api:vipgroup-list",             "other",  401,      405,    405,   405,     405,  405),
    ("api:vipgroup-detail",           "GET",    401,      404,    200,   200,     200,  200),
    ("api:vipgroup-detail",           "PUT",    401,      404,    403,   200,     200,  200),
    ("api:vipgroup-detail",           "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:vipgroup-detail",           "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:vipgroup-detail",           "other",  401,      405,    405,   405,     405,  405),
    ("api:directorrole-list",         "GET",    401,      200,    200,   200,     200,  200),
    ("api:directorrole-list",         "other",  401,      405,    405,   405,     405,  405),
    ("api:directorrole-detail",       "GET",    401,      404,    200,   200,     200,  200),
    ("api:directorrole-detail",       "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-ha",                "GET",    401,      404,    200,   200,     200,  200),
    ("api:cluster-ha",                "other",  401,      405,    405,   405,     405,  405),
    ("api:director-drain",            "POST",   401,      404,    403,   202,     202,  202),
    ("api:director-drain",            "other",  401,      405,    405,   405,     405,  405),
    ("api:director-undrain",          "POST",   401,      404,    403,   202,     202,  202),
    ("api:director-undrain",          "other",  401,      405,    405,   405,     405,  405),
    # A director's VRRP priority is changed by PATCH (its role stays as it is).
    ("api:clusterhost-detail",        "PATCH",  401,      404,    403,   200,     200,  200),
    ("vip-group-create",              "GET",    302,      404,    403,   200,     200,  200),
    ("vip-group-create",              "POST",   302,      404,    403,   302,     302,  302),
    ("vip-group-create",              "other",  302,      405,    405,   405,     405,  405),
    ("vip-group-edit",                "GET",    302,      404,    403,   200,     200,  200),
    ("vip-group-edit",                "POST",   302,      404,    403,   302,     302,  302),
    ("vip-group-edit",                "other",  302,      405,    405,   405,     405,  405),
    ("cluster-ha-drain",              "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-ha-drain",              "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-ha-drain",              "other",  302,      405,    405,   405,     405,  405),
    ("cluster-ha-undrain",            "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-ha-undrain",            "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-ha-undrain",            "other",  302,      405,    405,   405,     405,  405),
]
# fmt: on


def prepare(world) -> None:
    """A VIP group in alpha and its director's reported role in it."""
    from django.utils import timezone

    from clusters.models import VipGroup
    from dispatch.models import DirectorRole

    a = world.alpha
    world.vip_group = VipGroup.objects.create(cluster=a.cluster, name="web", vrid=51)
    world.director_role = DirectorRole.objects.create(
        host=a.host, cluster=a.cluster, vip_group=world.vip_group, instance="web", state="master", since=timezone.now()
    )


def url_kwargs(world) -> dict:
    a = world.alpha
    return {
        "api:vipgroup-detail": {"pk": world.vip_group.pk},
        "api:directorrole-detail": {"pk": world.director_role.pk},
        "api:cluster-ha": {"slug": a.cluster.slug},
        "api:director-drain": {"pk": a.cluster_host.pk},
        "api:director-undrain": {"pk": a.cluster_host.pk},
        "cluster-ha-drain": {"slug": a.cluster.slug, "pk": a.cluster_host.pk},
        "vip-group-create": {"slug": a.cluster.slug},
        "vip-group-edit": {"slug": a.cluster.slug, "pk": world.vip_group.pk},
        "cluster-ha-undrain": {"slug": a.cluster.slug, "pk": a.cluster_host.pk},
    }


def bodies(world) -> dict:
    group = {"cluster": world.alpha.cluster.slug, "name": "api", "vrid": 52}
    return {
        ("api:vipgroup-list", "POST"): group,
        ("api:vipgroup-detail", "PUT"): {**group, "name": "web", "vrid": 51, "preempt": False},
        ("api:vipgroup-detail", "PATCH"): {"advert_int": 0.5},
        ("api:clusterhost-detail", "PATCH"): {"vrrp_priority": 120},
        ("vip-group-create", "POST"): {"name": "api", "vrid": 52, "advert_int": 1, "preempt_delay": 0, "preempt": "on"},
        ("vip-group-edit", "POST"): {"name": "web", "vrid": 51, "advert_int": 2, "preempt_delay": 0, "preempt": "on"},
    }
