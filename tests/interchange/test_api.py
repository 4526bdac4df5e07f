"""The API: POST /api/clusters/<slug>/import/ (dry run or commit) and GET /api/clusters/<slug>/export/."""

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from clusters.models import HealthCheck, RealServer, VirtualService
from teams.choices import TeamRole
from tests.factories import make_cluster, make_team
from tests.interchange.helpers import sample, signed_in

LAB = sample("lab-ipvsadm-save.txt")
KEEPALIVED = sample("keepalived.conf")

pytestmark = pytest.mark.django_db


def import_url(cluster):
    return reverse("api:cluster-import", kwargs={"slug": cluster.slug})


def export_url(cluster):
    return reverse("api:cluster-export", kwargs={"slug": cluster.slug})


def test_a_dry_run_answers_the_preview_and_saves_nothing(operator, cluster):
    response = operator.post(import_url(cluster), {"text": KEEPALIVED, "dry_run": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["format"] == "keepalived" and body["dry_run"] and not body["committed"] and body["ok"]
    assert body["counts"]["services_create"] == 19
    assert body["rows"][0] == {
        "line": 22,
        "kind": "service",
        "label": "TCP 198.51.100.10:80",
        "service": "TCP 198.51.100.10:80",
        "change": "create",
        "details": [
            "sched rr persistent 300s mask 255.255.255.0",
            "health check tcp every 6 s, fall 2, weight 0 on failure, quorum 1 → sorry server 192.0.2.250",
        ],
    }
    assert body["not_imported"][0]["line"] == 4 and body["not_imported"][0]["message"].startswith("global_defs:")
    assert not VirtualService.objects.filter(cluster=cluster).exists()
    assert not HealthCheck.objects.exists()


def test_a_commit_of_keepalived_checks_creates_them_audited(operator, cluster):
    response = operator.post(import_url(cluster), {"text": KEEPALIVED}, format="json")
    assert response.status_code == 201, response.json()["errors"]
    shop = VirtualService.objects.get(cluster=cluster, address="198.51.100.10", port=80)
    check = shop.health_check
    assert (check.check_type, check.interval, check.timeout, check.rise, check.fall) == ("tcp", 6.0, 3.0, 1, 2)
    assert (check.on_failure, check.quorum, check.sorry_address, check.sorry_forward_method) == (
        "weight0",
        1,
        "192.0.2.250",
        "tun",
    )
    override = RealServer.objects.get(virtual_service=shop, address="10.20.0.12").health_check
    assert (override.check_type, override.path, override.expect_status_max, override.on_failure) == (
        "http",
        "/health",
        200,
        "remove",
    )
    assert AuditEntry.objects.filter(action="health_check.create").count() == 2
    group = VirtualService.objects.filter(cluster=cluster, description="keepalived virtual_server_group web_group")
    assert group.count() == 4
    exported = operator.get(export_url(cluster), {"format": "keepalived"}).content.decode()
    # The group mixes addresses and a mark, whose real servers differ (no port): one block per service.
    assert "virtual_server 198.51.100.20 80 {\n" in exported and "virtual_server fwmark 12 {\n" in exported
    assert "        inhibit_on_failure\n        TCP_CHECK {\n            connect_port 80\n" in exported
    assert "    quorum 1\n    sorry_server 192.0.2.250 80\n" in exported


def test_a_dry_run_with_errors_answers_400_like_the_commit(operator, cluster):
    text = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -g\n"
    response = operator.post(import_url(cluster), {"text": text, "dry_run": True}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["dry_run"] is True and body["ok"] is False and [e["line"] for e in body["errors"]] == [2]


def test_a_commit_creates_everything_as_one_audited_change(operator, cluster):
    response = operator.post(import_url(cluster), {"text": LAB, "format": "ipvsadm"}, format="json")
    assert response.status_code == 201
    assert response.json()["committed"] is True
    assert VirtualService.objects.filter(cluster=cluster).count() == 8
    assert RealServer.objects.filter(virtual_service__cluster=cluster).count() == 8
    entry = AuditEntry.objects.get(action="cluster.import")
    assert entry.changes["services_create"] == [None, 8] and entry.changes["format"] == [None, "ipvsadm"]
    again = operator.post(import_url(cluster), {"text": LAB, "format": "ipvsadm"}, format="json")
    assert again.status_code == 200 and again.json()["counts"]["services_unchanged"] == 8
    assert AuditEntry.objects.filter(action="cluster.import").count() == 1  # nothing changed, nothing recorded


def test_errors_come_back_by_line_and_nothing_is_saved(operator, cluster):
    text = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -g\n-A -u 10.0.0.1:53 -s rr -o\n"
    response = operator.post(import_url(cluster), {"text": text}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["committed"] is False and body["ok"] is False
    assert [error["line"] for error in body["errors"]] == [2]
    assert "port: In DR mode the real server port must equal the virtual port (80)" in body["errors"][0]["message"]
    assert not VirtualService.objects.filter(cluster=cluster).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"text": LAB, "format": "json"}, "format"), ({"format": "auto"}, "text"), ({"text": "  "}, "text")],
)
def test_bad_bodies_name_the_field(operator, cluster, body, field):
    response = operator.post(import_url(cluster), body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_viewers_cannot_import_and_other_teams_do_not_see_the_cluster(cluster):
    response = signed_in(TeamRole.VIEWER).post(import_url(cluster), {"text": LAB}, format="json")
    assert response.status_code == 403
    assert "operator or owner role" in response.json()["detail"]
    other = make_cluster(team=make_team())
    assert signed_in(TeamRole.OWNER).post(import_url(other), {"text": LAB}, format="json").status_code == 404
    assert not VirtualService.objects.exists()


def test_export_in_both_formats_after_an_import(operator, cluster):
    operator.post(import_url(cluster), {"text": LAB}, format="json")
    response = operator.get(export_url(cluster))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="web-ipvsadm.rules"'
    assert response.content.decode() == LAB
    keepalived = operator.get(export_url(cluster), {"format": "keepalived"})
    assert keepalived["Content-Disposition"] == 'attachment; filename="web-keepalived.conf"'
    assert "virtual_server fwmark 6 {\n    ip_family inet6\n    lb_algo lc\n" in keepalived.content.decode()


def test_export_refuses_an_unknown_format_in_plain_words(operator, cluster):
    response = operator.get(export_url(cluster), {"format": "json"})
    assert response.status_code == 400
    assert response.content.decode() == "format: Give ?format=ipvsadm or ?format=keepalived, not “json”.\n"


def test_the_schema_describes_both_endpoints(operator):
    schema = operator.get(reverse("api-schema"), {"format": "json"}).json()
    assert "post" in schema["paths"]["/api/clusters/{slug}/import/"]
    export = schema["paths"]["/api/clusters/{slug}/export/"]["get"]
    assert "text/plain" in export["responses"]["200"]["content"]
