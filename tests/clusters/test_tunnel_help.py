"""Where the forwarding method and the tunnel are chosen, the console explains the real-server side of each
tunnel type, what each encapsulation costs (MTU, MSS) and the reply path of TUN and DR."""

import re

import pytest

from tests.factories import make_cluster, make_virtual_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, team_owner):
    client.force_login(team_owner)
    return client


def cost_rows(html: str, tunnel_type: str) -> list[tuple[str, ...]]:
    """The cost table of one tunnel type's box, as (label, overhead, inner MTU, MSS) rows."""
    box = html.split(f'<div data-method="{tunnel_type}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\d+) B</td><td>(\d+)</td><td>(\d+)</td></tr>", box)
    return rows


def test_the_real_server_form_explains_each_tunnel_type_and_its_cost(staff_client):
    service = make_virtual_service(cluster=make_cluster(slug="web"), forward_method="tun")
    response = staff_client.get(f"/clusters/web/services/{service.pk}/real-servers/new/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-method-help="tunnel-types"' in html
    assert "ip fou add port PORT gue" in html and "<code>ip6tnl0</code>" in html and "<code>icsum</code>" in html
    assert cost_rows(html, "ipip") == [("IPv4", "20", "1480", "1440"), ("IPv6", "40", "1460", "1400")]
    assert cost_rows(html, "gue") == [
        ("IPv4", "32", "1468", "1428"),
        ("IPv6", "52", "1448", "1388"),
        ("IPv4 with remcsum", "36", "1464", "1424"),
        ("IPv6 with remcsum", "56", "1444", "1384"),
    ]
    assert cost_rows(html, "gre") == [
        ("IPv4", "24", "1476", "1436"),
        ("IPv6", "44", "1456", "1396"),
        ("IPv4 with csum", "28", "1472", "1432"),
        ("IPv6 with csum", "48", "1452", "1392"),
    ]


def test_the_reply_path_is_explained_where_the_forwarding_method_is_chosen(staff_client):
    make_cluster(slug="web")
    html = staff_client.get("/clusters/web/services/new/").content.decode()
    for method in ("tun", "dr"):
        box = html.split(f'<div data-method="{method}">', 1)[1].split("</div>", 1)[0]
        assert "Reply path:" in box and "VIP as source" in box and "reverse-path filtering" in box
    nat = html.split('<div data-method="nat">', 1)[1].split("</div>", 1)[0]
    assert "Reply path:" not in nat
