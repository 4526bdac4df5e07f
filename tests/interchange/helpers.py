"""Helpers of the import/export tests: the samples, and clients signed in with a role in the default team."""

from pathlib import Path

from rest_framework.test import APIClient

from tests.factories import make_member, make_user

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    """The text of a sample under samples/."""
    return (SAMPLES / name).read_text()


def signed_in(role: str) -> APIClient:
    """A client with the session of a new member of the default team with `role` (pages and API alike)."""
    user = make_user(staff=False)
    make_member(user, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def large_site(services: int, dests: int, *, first_octet: int = 198) -> str:
    """keepalived.conf of a large site: `services` TUN services x `dests` real servers, each checked by TCP
    (one health check per service), with the last real server of each service checked by HTTP (its own)."""
    blocks = []
    for s in range(services):
        vip = f"{first_octet}.51.{100 + s // 250}.{s % 250 + 1}"
        lines = [
            f"virtual_server {vip} 80 {{",
            "    delay_loop 6",
            "    lb_algo wlc",
            "    lb_kind TUN",
            "    protocol TCP",
        ]
        for d in range(dests):
            rip = f"10.{20 + s // 250}.{s % 250}.{d + 1}"
            if d == dests - 1:
                check = "        HTTP_GET {\n            url {\n                path /healthz\n            }\n        }"
            else:
                check = "        TCP_CHECK {\n            connect_timeout 3\n        }"
            lines.append(f"    real_server {rip} 80 {{\n        weight {d % 5 + 1}\n{check}\n    }}")
        lines.append("}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
