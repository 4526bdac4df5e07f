"""Permission-matrix rows of adopting a live host (console pages and API): operators and owners of the host's team."""

from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text

from clusters.models import Host
from dispatch.models import KernelReading

SERVICE = "tcp 198.51.100.77:80"
READING = {
    "format": 1,
    "services": [{"protocol": "tcp", "address": "198.51.100.77", "port": 80, "scheduler": "wlc", "real_servers": []}],
    "links": [],
    "addresses": [],
    "sysctls": {},
    "files": {},
}

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    # Reading a kernel to adopt it, its proposal and the confirmation are operator work; viewers are refused.
    ("host-adopt-read",               "POST",   302,      404,    403,   302,     302,  302),
    ("host-adopt-read",               "other",  302,      405,    405,   405,     405,  405),
    ("host-adopt",                    "GET",    302,      404,    403,   200,     200,  200),
    ("host-adopt",                    "POST",   302,      404,    403,   200,     200,  200),
    ("host-adopt",                    "other",  302,      405,    405,   405,     405,  405),
    ("api:host-adopt-read",           "POST",   401,      404,    403,   202,     202,  202),
    ("api:host-adopt-read",           "other",  401,      405,    405,   405,     405,  405),
    ("api:host-adopt",                "GET",    401,      404,    403,   200,     200,  200),
    ("api:host-adopt",                "other",  401,      405,    405,   405,     405,  405),
    ("api:host-adopt-preview",        "POST",   401,      404,    403,   200,     200,  200),
    ("api:host-adopt-preview",        "other",  401,      405,    405,   405,     405,  405),
    ("api:host-adopt-commit",         "POST",   401,      404,    403,   201,     201,  201),
    ("api:host-adopt-commit",         "other",  401,      405,    405,   405,     405,  405),
]
# fmt: on


def prepare(world) -> None:
    """An enrolled host of team alpha and a reading of its kernel (one service)."""
    world.adopt_host = Host.objects.create(
        team=world.alpha.team,
        hostname="adopt.alpha.example.net",
        management_address="192.0.2.77",
        public_key=public_key_text(generate_private_key()),
    )
    world.adopt_reading = KernelReading.objects.create(
        host=world.adopt_host, status="read", reading=READING, finished_at=timezone.now(), expires_at=timezone.now()
    )


def url_kwargs(world) -> dict:
    host = {"pk": world.adopt_host.pk}
    reading = {**host, "reading": world.adopt_reading.pk}
    return {
        "host-adopt-read": host,
        "host-adopt": reading,
        "api:host-adopt-read": host,
        "api:host-adopt": reading,
        "api:host-adopt-preview": reading,
        "api:host-adopt-commit": reading,
    }


def bodies(world) -> dict:
    new = {"team": world.alpha.team.slug, "name": "adopted", "slug": "adopted"}
    form = {"team": world.alpha.team.pk, "name": "adopted", "slug": "adopted", "services": SERVICE, "action": "preview"}
    return {
        ("host-adopt", "POST"): form,
        ("api:host-adopt-preview", "POST"): {"new_cluster": new},
        ("api:host-adopt-commit", "POST"): {"new_cluster": new},
    }
