"""Permission-matrix rows of import and export: importing is operator work, exporting is for every member."""

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    ("cluster-import",                "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-import",                "POST",   302,      404,    403,   200,     200,  200),
    ("cluster-import",                "other",  302,      405,    405,   405,     405,  405),
    ("cluster-export",                "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-export",                "other",  302,      405,    405,   405,     405,  405),
    ("api:cluster-import",            "POST",   401,      404,    403,   200,     200,  200),
    ("api:cluster-import",            "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-export",            "GET",    401,      404,    200,   200,     200,  200),
    ("api:cluster-export",            "other",  401,      405,    405,   405,     405,  405),
]
# fmt: on

RULES = "-A -t 198.51.100.77:80 -s rr\n-a -t 198.51.100.77:80 -r 203.0.113.77:80 -i -w 1\n"


def url_kwargs(world) -> dict:
    """Every URL points at team alpha's cluster."""
    cluster = {"slug": world.alpha.cluster.slug}
    return {name: cluster for name in ("cluster-import", "cluster-export", "api:cluster-import", "api:cluster-export")}


def bodies(world) -> dict:
    """A preview (console) and a dry run (API) of valid rules, so that a refusal is about rights, not input."""
    return {
        ("cluster-import", "POST"): {"text": RULES, "format": "auto", "action": "preview"},
        ("api:cluster-import", "POST"): {"text": RULES, "format": "ipvsadm", "dry_run": True},
    }
