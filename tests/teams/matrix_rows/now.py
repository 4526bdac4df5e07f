"""Permission rows of Drain now / Enable now / Disable now (the console page and the API): apply's rule, so
operators and owners; viewers see the cluster but are refused; outside the team the real server is not there."""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("real-server-now",               "GET",    302,      404,    403,   200,     200,  200),
    ("real-server-now",               "POST",   302,      404,    403,   302,     302,  302),
    ("real-server-now",               "other",  302,      405,    405,   405,     405,  405),
    ("api:real-server-now",           "POST",   401,      404,    403,   202,     202,  202),
    ("api:real-server-now",           "other",  401,      405,    405,   405,     405,  405),
]
# fmt: on


def url_kwargs(world) -> dict:
    """Alpha's real server, which revision 1 of alpha's cluster holds."""
    a = world.alpha
    return {
        "real-server-now": {"slug": a.cluster.slug, "pk": a.real_server.pk, "verb": "drain"},
        "api:real-server-now": {"pk": a.real_server.pk},
    }


def bodies(world) -> dict:
    return {("api:real-server-now", "POST"): {"state": "draining"}}


def prepare(world) -> None:
    """Alpha's director can take commands (an enrolled agent's key), so that a drain now is sent, not refused."""
    from lvsweb_agent.envelope import generate_private_key, public_key_text

    world.alpha.host.public_key = public_key_text(generate_private_key())
    world.alpha.host.save()
