"""Form details of the inventory pages: which choices they offer."""

import pytest

from teams.choices import TeamRole
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_member,
    make_real_server,
    make_team,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


def test_a_real_server_can_be_linked_only_to_hosts_the_user_may_change(client, team_owner):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster)
    own = make_host(hostname="rs1.ours.example.net")
    theirs = make_host(team=make_team(name="Other", slug="other"), hostname="rs9.theirs.example.net")
    make_cluster_host(cluster=cluster, host=theirs, role="real_server")  # visible to us, but not ours to change
    client.force_login(team_owner)
    html = client.get(f"/clusters/web/services/{service.pk}/real-servers/new/").content.decode()
    assert f'<option value="{own.pk}">rs1.ours.example.net</option>' in html
    assert "rs9.theirs.example.net" not in html


def test_editing_keeps_the_host_already_linked_on_offer(client):
    other = make_team(name="Other", slug="other")
    theirs = make_host(team=other, hostname="rs9.theirs.example.net")
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")), host=theirs)
    user = make_user(staff=False)
    make_member(user, role=TeamRole.OPERATOR)
    client.force_login(user)
    html = client.get(f"/clusters/web/real-servers/{rs.pk}/edit/").content.decode()
    assert f'<option value="{theirs.pk}" selected>rs9.theirs.example.net</option>' in html


def test_the_team_choice_lists_only_teams_where_the_user_is_operator_or_owner(client):
    user = make_user(staff=False)
    make_member(user, team=make_team(name="Ops two", slug="ops-two"), role=TeamRole.OPERATOR)
    make_member(user, team=make_team(name="Read only", slug="read-only"), role=TeamRole.VIEWER)
    client.force_login(user)
    html = client.get("/clusters/new/").content.decode()
    assert "Ops two" in html.split('name="team"', 1)[1]
    assert "Read only" not in html.split('name="team"', 1)[1].split("</select>", 1)[0]


def test_the_form_shows_the_same_error_as_the_api_for_the_same_input(client, api, team_owner):
    from django.utils.html import escape

    service = make_virtual_service(cluster=make_cluster(slug="web"), port=80)
    answer = api.post(
        "/api/real-servers/",
        {"virtual_service": service.pk, "address": "203.0.113.5", "port": 8080, "forward_method": "dr"},
        format="json",
    )
    assert answer.status_code == 400
    [message] = answer.json()["port"]
    client.force_login(team_owner)
    page = client.post(
        f"/clusters/web/services/{service.pk}/real-servers/new/",
        {
            "address": "203.0.113.5",
            "port": "8080",
            "weight": "1",
            "forward_method": "dr",
            "tunnel_type": "ipip",
            "tunnel_checksum": "none",
            "upper_threshold": "0",
            "lower_threshold": "0",
            "state": "active",
        },
    )
    assert page.status_code == 400
    field = page.content.decode().split('id="field-port"', 1)[1].split('id="field-weight"', 1)[0]
    assert escape(message) in field
