"""Health-check configuration: the model's rules through the action and the API, audit, and the compiled document."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from lvsweb_agent.document import parse_document

from audit.models import AuditEntry
from clusters import actions
from clusters.choices import Protocol
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.models import HealthCheck
from teams.choices import TeamRole
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_member,
    make_real_server,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def service():
    cluster = make_cluster(slug="web")
    make_cluster_host(cluster=cluster, host=make_host(hostname="director", vip_interface="eth0"))
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11")
    make_real_server(virtual_service=service, address="10.20.0.12")
    return service


def errors_of(**fields):
    """The field errors the action raises for a service check made of `fields`."""
    service = make_virtual_service(port=80)
    make_real_server(virtual_service=service, address="10.20.0.11")
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, virtual_service=service, fields=fields)
    assert not HealthCheck.objects.exists(), "nothing is saved when a value is refused"
    return caught.value.message_dict


def test_a_service_check_is_created_changed_and_audited(service):
    fields = {"check_type": "http", "path": "/healthz", "expect_status_min": 200, "expect_status_max": 204}
    check = actions.set_health_check(acting_user=None, virtual_service=service, fields=fields)
    assert (check.cluster_id, check.path, check.rise, check.fall) == (service.cluster_id, "/healthz", 2, 3)
    again = actions.set_health_check(acting_user=None, virtual_service=service, fields={"fall": 5})
    assert again.pk == check.pk and again.fall == 5
    entries = AuditEntry.objects.filter(object_type="clusters.healthcheck").order_by("pk")
    assert [e.action for e in entries] == ["health_check.create", "health_check.update"]
    assert entries[1].changes == {"fall": [3, 5]}
    assert entries[1].cluster_id == service.cluster_id


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"check_type": "http", "path": "healthz"}, "path", "starting with “/”"),
        ({"check_type": "http", "path": "/a b"}, "path", "without spaces"),
        ({"check_type": "http", "host_header": "a\r\nX: y"}, "host_header", "no spaces or line breaks"),
        ({"check_type": "http", "expect_status_min": 400, "expect_status_max": 200}, "expect_status_max", "below"),
        ({"check_type": "http", "expect_status_min": 99}, "expect_status_min", "greater than or equal to 100"),
        ({"check_type": "tcp", "body_match": "ok"}, "body_match", "only to HTTP and HTTPS"),
        ({"check_type": "tcp", "path": "/x"}, "path", "only to HTTP and HTTPS"),
        ({"interval": 2, "timeout": 3}, "timeout", "must not exceed the interval"),
        ({"interval": 0}, "interval", "greater than or equal to 0.1"),
        ({"interval": float("nan")}, "interval", "Give a number of seconds"),
        ({"rise": 0}, "rise", "greater than or equal to 1"),
        ({"fall": 101}, "fall", "less than or equal to 100"),
        ({"on_failure": "explode"}, "on_failure", "not a valid choice"),
        ({"check_type": "ping"}, "check_type", "not a valid choice"),
        ({"quorum": 1}, "sorry_address", "needs a sorry server"),
        ({"sorry_address": "10.10.0.21"}, "quorum", "Set a quorum"),
        ({"quorum": 1, "sorry_address": "10.20.0.11"}, "sorry_address", "already a real server"),
        ({"quorum": 1, "sorry_address": "10.10.0.21", "sorry_port": 8080}, "sorry_port", "must equal the virtual port"),
        ({"quorum": 1, "sorry_address": "2001:db8::1"}, "sorry_address", "address family"),
        ({"quorum": 1, "sorry_address": "nonsense"}, "sorry_address", "valid IPv4 or IPv6"),
        ({"sorry_port": 80}, "sorry_port", "needs a sorry server address"),
        ({"check_type": "none", "tunnel_path": True}, "tunnel_path", "Choose a check"),
    ],
)
def test_bad_values_name_the_field_and_the_problem(fields, field, words):
    errors = errors_of(**fields)
    assert field in errors, errors
    assert any(words in message for message in errors[field]), errors[field]


def test_a_tunnel_path_check_needs_tcp_and_a_tun_real_server_of_the_vips_family():
    udp = make_virtual_service(protocol=Protocol.UDP, port=53)
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(
            acting_user=None, virtual_service=udp, fields={"check_type": "dns", "tunnel_path": True}
        )
    assert "it needs a TCP service" in caught.value.message_dict["tunnel_path"][0]
    service = make_virtual_service(port=80)
    dr = make_real_server(virtual_service=service, forward_method="dr")
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, real_server=dr, fields={"tunnel_path": True})
    assert "needs a TUN real server" in caught.value.message_dict["tunnel_path"][0]
    mixed = make_real_server(virtual_service=service, address="2001:db8::11", forward_method="tun", tunnel_type="gre")
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, real_server=mixed, fields={"tunnel_path": True})
    assert "in the VIP's address family" in caught.value.message_dict["tunnel_path"][0]
    gue = make_real_server(
        virtual_service=service, address="10.20.0.13", forward_method="tun", tunnel_type="gue", tunnel_port=6080
    )
    assert actions.set_health_check(acting_user=None, real_server=gue, fields={"tunnel_path": True}).tunnel_path


def test_a_real_server_override_has_no_quorum(service):
    rs = service.real_servers.first()
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, real_server=rs, fields={"quorum": 1, "sorry_address": "10.10.0.21"})
    assert "belongs to the service's check" in caught.value.message_dict["quorum"][0]


def test_a_firewall_mark_service_check_needs_a_port():
    service = make_virtual_service(protocol=Protocol.FWMARK, address=None, port=None, fwmark=7)
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, virtual_service=service, fields={"check_type": "tcp"})
    assert "give the port to check" in caught.value.message_dict["port"][0]


def test_the_policy_decides_who_may_configure_checks(service):
    viewer = make_user()
    make_member(viewer, team=service.cluster.team, role=TeamRole.VIEWER)
    with pytest.raises(PermissionDenied, match="to change virtual service"):
        actions.set_health_check(acting_user=viewer, virtual_service=service, fields={})
    operator = make_user()
    make_member(operator, team=service.cluster.team, role=TeamRole.OPERATOR)
    check = actions.set_health_check(acting_user=operator, virtual_service=service, fields={})
    actions.delete_health_check(acting_user=operator, health_check=check)
    assert AuditEntry.objects.filter(action="health_check.delete", actor_name=operator.username).exists()


def director_service_document(cluster):
    documents = compile_documents([inventory_snapshot(cluster)], {})
    parse_document(documents["director"])  # the agent accepts it
    return documents["director"]["director"]["services"][0]


def test_the_director_document_carries_each_real_servers_check_and_the_quorum(service):
    rs2 = service.real_servers.get(address="10.20.0.12")
    make_real_server(virtual_service=service, address="10.20.0.13", forward_method="dr")
    actions.set_health_check(
        acting_user=None,
        virtual_service=service,
        fields={
            "check_type": "http",
            "path": "/healthz",
            "body_match": "ok",
            "interval": 2,
            "timeout": 1,
            "tunnel_path": True,
            "quorum": 1,
            "sorry_address": "10.10.0.21",
        },
    )
    actions.set_health_check(acting_user=None, real_server=rs2, fields={"check_type": "none"})
    document = director_service_document(service.cluster)
    checks = {rs["address"]: rs.get("health_check") for rs in document["real_servers"]}
    assert checks["10.20.0.11"] == {
        "type": "http",
        "port": None,
        "interval": 2.0,
        "timeout": 1.0,
        "rise": 2,
        "fall": 3,
        "on_failure": "weight0",
        "path": "/healthz",
        "host": "",
        "expect": [200, 399],
        "body": "ok",
        "tunnel": True,
    }
    assert checks["10.20.0.12"] is None, "the override “none” leaves rs2 unchecked"
    assert "tunnel" not in checks["10.20.0.13"], "a DR real server gets the plain check only"
    assert document["quorum"] == {
        "min_up": 1,
        "sorry_server": {"address": "10.10.0.21", "port": 80, "weight": 1, "forward": "dr", "tunnel": None},
    }


def test_without_checks_the_document_is_as_before(service):
    document = director_service_document(service.cluster)
    assert "quorum" not in document
    assert all("health_check" not in rs for rs in document["real_servers"])


def test_a_check_goes_with_its_service(service):
    actions.set_health_check(acting_user=None, virtual_service=service, fields={})
    actions.delete_virtual_service(acting_user=None, virtual_service=service)
    assert not HealthCheck.objects.exists()


def test_a_revision_diff_shows_check_changes_and_a_rollback_restores_them(service):
    from dispatch.actions.rollback import rollback_to_revision
    from dispatch.models import Revision
    from dispatch.revisions import inventory_diff

    rs = service.real_servers.get(address="10.20.0.11")
    actions.set_health_check(acting_user=None, virtual_service=service, fields={"check_type": "http", "fall": 3})
    revision = Revision.objects.create(
        cluster=service.cluster, number=1, inventory=inventory_snapshot(service.cluster), created_by_name="otto"
    )
    actions.set_health_check(acting_user=None, virtual_service=service, fields={"fall": 5})
    actions.set_health_check(acting_user=None, real_server=rs, fields={"check_type": "none"})
    rows = inventory_diff(revision.inventory, inventory_snapshot(service.cluster))
    assert [(row["object"], row["fields"]) for row in rows] == [
        ("virtual service", {"health check fall": [3, 5]}),
        ("real server", {"health check": [None, "none"]}),
    ]
    rollback_to_revision(acting_user=None, revision=revision)
    assert list(HealthCheck.objects.values_list("virtual_service", "fall")) == [(service.pk, 3)]
    assert AuditEntry.objects.filter(action="health_check.delete", cluster_id=service.cluster_id).exists()
