"""The import action: preview and commit through the inventory actions, all or nothing, audited, by policy."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEntry
from clusters.actions.imports import ImportRejected, commit_import, preview_import
from clusters.exports import cluster_rules, export_text
from clusters.interchange import canonical, parse
from clusters.models import RealServer, VirtualService
from teams.choices import TeamRole
from tests.factories import make_member, make_real_server, make_user, make_virtual_service
from tests.interchange.helpers import sample

LAB = sample("lab-ipvsadm-save.txt")
KEEPALIVED = sample("keepalived.conf")

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_user():
    user = make_user(staff=False)
    make_member(user, role=TeamRole.OPERATOR)
    return user


def rows(result):
    return [(row.line, row.kind, row.label, row.change) for row in result.rows]


def test_preview_shows_what_would_be_created_and_keeps_nothing(operator_user, cluster):
    entries = AuditEntry.objects.count()
    result = preview_import(acting_user=operator_user, cluster=cluster, text=LAB)
    assert result.ok and not result.committed
    assert result.counts["services_create"] == 8 and result.counts["real_servers_create"] == 8
    assert (1, "service", "TCP 10.10.0.100:80", "create") in rows(result)
    assert (4, "real_server", "10.20.0.13:80", "create") in rows(result)
    assert VirtualService.objects.filter(cluster=cluster).count() == 0
    assert AuditEntry.objects.count() == entries


def test_commit_creates_the_rows_and_one_summary_entry(operator_user, cluster):
    result = commit_import(acting_user=operator_user, cluster=cluster, text=LAB)
    assert result.committed
    assert VirtualService.objects.filter(cluster=cluster).count() == 8
    assert RealServer.objects.filter(virtual_service__cluster=cluster).count() == 8
    gue = RealServer.objects.get(virtual_service__cluster=cluster, address="10.20.0.13")
    assert (gue.forward_method, gue.tunnel_type, gue.tunnel_port, gue.tunnel_checksum) == ("tun", "gue", 6080, "csum")
    mark6 = VirtualService.objects.get(cluster=cluster, fwmark=6)
    assert (mark6.address_family, mark6.scheduler, mark6.persistence_timeout, mark6.persistence_netmask) == (
        "ipv6",
        "lc",
        300,
        "64",
    )
    summary = AuditEntry.objects.get(action="cluster.import")
    assert summary.cluster_id == cluster.pk and summary.actor_name == operator_user.username
    assert summary.message == "Imported ipvsadm text: 8 services created, 0 changed; 8 real servers created, 0 changed."
    assert AuditEntry.objects.filter(action="virtual_service.create", cluster_id=cluster.pk).count() == 8
    assert AuditEntry.objects.filter(action="real_server.create", cluster_id=cluster.pk).count() == 8


def test_import_then_export_gives_the_same_rule_set_and_text(operator_user, cluster):
    commit_import(acting_user=operator_user, cluster=cluster, text=LAB)
    assert canonical(cluster_rules(cluster)) == canonical(parse(LAB).services)
    assert export_text(cluster, "ipvsadm") == LAB


def test_keepalived_import_then_export_gives_the_same_rule_set(operator_user, cluster):
    result = commit_import(acting_user=operator_user, cluster=cluster, text=KEEPALIVED, format="keepalived")
    assert result.counts["services_create"] == 19
    # VRRP is imported (VIP group VI_1); its director's own state, interface and priority are named instead.
    assert len(result.not_imported) == 7
    exported = parse(export_text(cluster, "keepalived"))
    assert exported.errors == [] and exported.not_imported == []
    assert canonical(exported.services) == canonical(parse(KEEPALIVED).services)
    assert exported.checks == parse(KEEPALIVED).checks


def test_a_keepalived_lb_kind_becomes_the_default_forwarding_method_of_the_service(operator_user, cluster):
    text = "virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.11 80 {\n  }\n}\n"
    commit_import(acting_user=operator_user, cluster=cluster, text=text)
    assert VirtualService.objects.get(cluster=cluster).forward_method == "dr"
    assert "    lb_kind DR\n" in export_text(cluster, "keepalived")


def test_a_model_rule_fails_the_whole_import_with_the_line(operator_user, cluster):
    text = (
        "-A -t 10.0.0.1:80 -s rr\n"
        "-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i\n"
        "-A -t 10.0.0.2:80 -s rr\n"
        "-a -t 10.0.0.2:80 -r 10.1.0.2:8080 -i\n"  # TUN cannot map ports: the model refuses it
        "-A -t 10.0.0.3:80 -s wlc -p 60 -M 24\n"  # a prefix length is no IPv4 netmask
    )
    with pytest.raises(ImportRejected) as caught:
        commit_import(acting_user=operator_user, cluster=cluster, text=text)
    errors = [(problem.line, problem.message) for problem in caught.value.result.errors]
    assert [line for line, _ in errors] == [4, 5]
    assert errors[0][1].startswith(
        "real server 10.1.0.2:8080 of TCP 10.0.0.2:80 — port: In TUN mode the real server port"
    )
    assert "persistence netmask: “24” is a prefix length" in errors[1][1]
    assert not VirtualService.objects.filter(cluster=cluster).exists()
    assert not AuditEntry.objects.filter(cluster_id=cluster.pk).exists()


def test_parse_errors_and_model_errors_are_listed_together_and_nothing_is_saved(operator_user, cluster):
    text = "-A -t 10.0.0.1:80 -s rr\n-A -t bogus\n-A -t 10.0.0.3:80 -s sh -p 60 -M 0.0.0.255\n"
    with pytest.raises(ImportRejected) as caught:
        commit_import(acting_user=operator_user, cluster=cluster, text=text)
    errors = [str(problem) for problem in caught.value.result.errors]
    assert errors[0] == "line 2: “bogus” is not an IP address"
    assert errors[1].startswith("line 3: TCP 10.0.0.3:80 — persistence netmask: “0.0.0.255” is not a valid IPv4")
    assert len(errors) == 2
    assert not VirtualService.objects.filter(cluster=cluster).exists()


def test_existing_services_are_unchanged_conflicts_or_updates(operator_user, cluster):
    service = make_virtual_service(cluster=cluster, address="10.0.0.1", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.1.0.1", weight=1)
    same = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 1 --tun-type ipip\n"
    result = preview_import(acting_user=operator_user, cluster=cluster, text=same)
    assert result.ok and result.changes == 0
    assert rows(result) == [
        (1, "service", "TCP 10.0.0.1:80", "unchanged"),
        (2, "real_server", "10.1.0.1:80", "unchanged"),
    ]

    different = (
        "-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 4\n-a -t 10.0.0.1:80 -r 10.1.0.2:80 -i\n"
    )
    result = preview_import(acting_user=operator_user, cluster=cluster, text=different)
    assert [row[3] for row in rows(result)] == ["conflict", "conflict", "conflict"]
    assert str(result.errors[0]) == (
        "line 1: TCP 10.0.0.1:80 is already in this cluster with other settings (scheduler: rr → wlc); "
        "choose “update existing services” to change it."
    )

    result = commit_import(acting_user=operator_user, cluster=cluster, text=different, update_existing=True)
    assert [row[3] for row in rows(result)] == ["update", "update", "create"]
    service.refresh_from_db()
    assert service.scheduler == "wlc"
    assert sorted(service.real_servers.values_list("address", "weight")) == [("10.1.0.1", 4), ("10.1.0.2", 1)]


def test_viewers_and_outsiders_may_not_import(cluster):
    viewer = make_user(staff=False)
    make_member(viewer, role=TeamRole.VIEWER)
    with pytest.raises(PermissionDenied, match="you need the operator or owner role"):
        preview_import(acting_user=viewer, cluster=cluster, text=LAB)
    with pytest.raises(PermissionDenied, match="You are not a member"):
        commit_import(acting_user=make_user(staff=False), cluster=cluster, text=LAB)
    assert not VirtualService.objects.filter(cluster=cluster).exists()


@pytest.mark.parametrize(
    ("text", "format", "field"),
    [("  \n", "auto", "text"), (LAB, "yaml", "format"), ("#" * 2_000_001, "auto", "text")],
)
def test_bad_input_is_an_error_on_its_field(operator_user, cluster, text, format, field):
    with pytest.raises(ValidationError) as caught:
        preview_import(acting_user=operator_user, cluster=cluster, text=text, format=format)
    assert list(caught.value.message_dict) == [field]


def test_imported_real_servers_are_linked_to_the_hosts_with_their_addresses(operator_user, cluster):
    from clusters.models import ClusterHost
    from tests.factories import make_host, make_team

    web1 = make_host(hostname="web1", management_address="203.0.113.11")
    web2 = make_host(hostname="web2", management_address="192.0.2.12", other_addresses="203.0.113.12")
    make_host(hostname="elsewhere", management_address="203.0.113.13", team=make_team())
    text = (
        "-A -t 198.51.100.10:80 -s rr\n"
        "-a -t 198.51.100.10:80 -r 203.0.113.11:80 -i -w 1\n"
        "-a -t 198.51.100.10:80 -r 203.0.113.12:80 -g -w 1\n"
        "-a -t 198.51.100.10:80 -r 203.0.113.13:80 -i -w 1\n"
    )

    result = commit_import(acting_user=operator_user, cluster=cluster, text=text)

    hosts = dict(RealServer.objects.filter(virtual_service__cluster=cluster).values_list("address", "host__hostname"))
    assert hosts == {"203.0.113.11": "web1", "203.0.113.12": "web2", "203.0.113.13": None}
    roles = set(ClusterHost.objects.filter(cluster=cluster).values_list("host_id", "role"))
    assert roles == {(web1.pk, "real_server"), (web2.pk, "real_server")}
    assert [row.details[-1] for row in result.rows if row.kind == "real_server"][:2] == [
        "linked to host web1",
        "linked to host web2",
    ]
