"""The audit pages: History tabs with readable diffs, filters, pagination, exports, and who may read."""

import csv
import io
import json

import pytest

from audit.models import AuditEntry
from clusters import actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, operator):
    client.force_login(operator)
    return client


def test_cluster_history_shows_a_field_level_diff(signed_in, operator, real_server):
    actions.update_real_server(acting_user=operator, real_server=real_server, changes={"weight": 50})
    response = signed_in.get("/clusters/web/history/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "History of web frontend" in body
    assert "real_server.update" in body
    assert '<th>weight</th><td class="before">100</td><td class="arrow">→</td><td class="after">50</td>' in body


def test_object_history_tab_lists_only_that_object(signed_in, operator, service, real_server):
    actions.update_virtual_service(acting_user=operator, virtual_service=service, changes={"scheduler": "wlc"})
    response = signed_in.get(f"/audit/clusters.virtualservice/{service.pk}/")
    assert response.status_code == 200
    actions_shown = [entry.action for entry in response.context["entries"]]
    assert actions_shown == ["virtual_service.update", "virtual_service.create"]


def test_history_of_a_deleted_object_stays_readable(signed_in, operator, real_server):
    pk = real_server.pk
    actions.delete_real_server(acting_user=operator, real_server=real_server)
    response = signed_in.get(f"/audit/clusters.realserver/{pk}/")
    assert response.status_code == 200
    assert [e.action for e in response.context["entries"]] == ["real_server.delete", "real_server.create"]


def test_unknown_object_history_is_404(signed_in):
    assert signed_in.get("/audit/clusters.realserver/999999/").status_code == 404
    assert signed_in.get("/audit/auth.user/1/").status_code == 404


def test_filters_narrow_by_action_and_search(signed_in, operator, real_server):
    actions.set_real_server_state(acting_user=operator, real_server=real_server, state="draining")
    response = signed_in.get("/clusters/web/history/", {"action": "real_server."})
    assert {e.action for e in response.context["entries"]} == {"real_server.create", "real_server.drain"}
    response = signed_in.get("/clusters/web/history/", {"q": "drain"})
    assert [e.action for e in response.context["entries"]] == ["real_server.drain"]


def test_bad_time_filter_is_named_not_a_500(signed_in, cluster):
    response = signed_in.get("/clusters/web/history/", {"since": "yesterday-ish"})
    assert response.status_code == 200
    assert "Enter a valid date/time." in response.content.decode()


def test_pagination_keeps_the_filter(signed_in, operator, cluster):
    for number in range(60):
        actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": f"v{number}"})
    response = signed_in.get("/clusters/web/history/", {"action": "cluster.update"})
    assert len(response.context["entries"]) == 50
    assert "action=cluster.update&amp;page=2" in response.content.decode()
    page2 = signed_in.get("/clusters/web/history/", {"action": "cluster.update", "page": 2})
    assert len(page2.context["entries"]) == 10


def test_exports_contain_exactly_what_the_filter_shows(signed_in, operator, real_server):
    actions.update_real_server(acting_user=operator, real_server=real_server, changes={"weight": 7})
    expected = list(
        AuditEntry.objects.filter(cluster_id=real_server.virtual_service.cluster_id, action__startswith="real_server.")
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert len(expected) == 2
    response = signed_in.get("/clusters/web/history/", {"action": "real_server.", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(row["id"]) for row in rows] == expected
    assert json.loads(rows[1]["changes"]) == {"weight": [100, 7]}
    response = signed_in.get("/clusters/web/history/", {"action": "real_server.", "export": "json"})
    data = json.loads(response.content)
    assert [row["id"] for row in data] == expected
    assert data[0]["actor_name"] == "olga"


def test_global_audit_is_for_superusers_only(client, django_user_model, cluster):
    staff = django_user_model.objects.create_user(username="sam", password="x" * 12, is_staff=True)
    client.force_login(staff)
    assert client.get("/audit/").status_code == 403
    client.logout()
    assert client.get("/audit/").status_code == 302


def test_global_audit_lists_sign_ins(client, operator):
    client.post("/accounts/login/", {"username": "olga", "password": "a long enough passphrase"})
    response = client.get("/audit/", {"action": "auth."})
    assert [e.action for e in response.context["entries"]] == ["auth.login"]


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_defused(signed_in, operator, cluster, typed):
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "d", "name": typed})
    response = signed_in.get("/clusters/web/history/", {"export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    renamed = rows[-1]
    assert renamed["object_repr"] == "'" + typed  # a leading quote: the spreadsheet shows the text
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row.values())
    # The JSON export is data, not a spreadsheet: it keeps the name as typed.
    data = json.loads(signed_in.get("/clusters/web/history/", {"export": "json"}).content)
    assert data[-1]["object_repr"] == typed


def test_history_names_related_objects_and_folds_internal_fields(signed_in, operator, cluster):
    """A host's creation lists its team by name (not `team 1`), and what only agents and the machinery read
    (facts, drift, key, serials) is behind "details", not in the change list; the record itself is unchanged."""
    host = actions.create_host(
        acting_user=operator,
        fields={"team": cluster.team, "hostname": "lb1", "management_address": "192.0.2.10"},
    )
    response = signed_in.get(f"/audit/clusters.host/{host.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    change_list, _, details = body.partition('<details class="audit-details">')
    team_row = (
        f'<th>team</th><td class="before">—</td><td class="arrow">→</td><td class="after">Ops (#{cluster.team_id})</td>'
    )
    assert team_row in change_list
    for internal in ("<th>facts</th>", "<th>drift</th>", "<th>public key</th>", "<th>document serial</th>"):
        assert internal not in change_list
        assert internal in details
    assert "<summary>details (" in body
    entry = AuditEntry.objects.get(action="host.create", object_id=str(host.pk))
    assert entry.changes["team"] == [None, cluster.team_id]  # the chained record keeps the id


def test_history_marks_a_deleted_related_object(signed_in, operator, cluster, real_server):
    """The id of an object deleted since reads "#N (deleted)", not a bare number."""
    host = actions.create_host(
        acting_user=operator,
        fields={"team": cluster.team, "hostname": "web1", "management_address": "203.0.113.11"},
    )
    actions.update_real_server(acting_user=operator, real_server=real_server, changes={"host": host})
    host_pk = host.pk
    body = signed_in.get(f"/audit/clusters.realserver/{real_server.pk}/").content.decode()
    assert f'<td class="after">web1 (#{host_pk})</td>' in body
    # Unlinked for good (an unlinked real server at a host's address is linked again unless configured by hand),
    # the host's role in the cluster removed, then the host itself.
    changes = {"host": None, "configured_by_hand": True}
    actions.update_real_server(acting_user=operator, real_server=real_server, changes=changes)
    for role in host.cluster_roles.all():
        actions.remove_host_role(acting_user=operator, cluster_host=role)
    actions.delete_host(acting_user=operator, host=host)
    body = signed_in.get(f"/audit/clusters.realserver/{real_server.pk}/").content.decode()
    assert f'<td class="before">#{host_pk} (deleted)</td>' in body
