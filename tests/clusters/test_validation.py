"""Every validation rule of the inventory, through the actions layer (which runs the models' checks)."""

import pytest
from django.core.exceptions import ValidationError

from clusters import actions
from clusters.models import ClusterHost, RealServer, VirtualService
from tests.clusters.rules import REAL_SERVER_RULES, VIRTUAL_SERVICE_RULES, real_server, service
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


def messages_on(exc: pytest.ExceptionInfo[ValidationError], field: str) -> str:
    return " ".join(exc.value.message_dict.get(field, []))


@pytest.mark.parametrize("rule", VIRTUAL_SERVICE_RULES)
def test_virtual_service_rule(rule):
    cluster = make_cluster()
    with pytest.raises(ValidationError) as exc:
        actions.create_virtual_service(acting_user=None, cluster=cluster, fields=rule.fields)
    assert rule.says in messages_on(exc, rule.field), exc.value.message_dict
    assert not VirtualService.objects.exists()


@pytest.mark.parametrize("rule", REAL_SERVER_RULES)
def test_real_server_rule(rule):
    virtual_service = make_virtual_service(**rule.service)
    with pytest.raises(ValidationError) as exc:
        actions.create_real_server(acting_user=None, virtual_service=virtual_service, fields=rule.fields)
    assert rule.says in messages_on(exc, rule.field), exc.value.message_dict
    assert not RealServer.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(service(scheduler="sh", sched_fallback=True, sched_port=True), id="sh-flags"),
        pytest.param(service(scheduler="mh", sched_port=True), id="mh-flags"),
        pytest.param(service(protocol="udp", one_packet=True), id="udp-one-packet"),
        pytest.param({"protocol": "fwmark", "fwmark": 1, "one_packet": True}, id="fwmark-one-packet"),
        pytest.param({"protocol": "fwmark", "fwmark": 2**32 - 1}, id="fwmark-max"),
        pytest.param(service(port=1), id="port-1"),
        pytest.param(service(port=65535), id="port-65535"),
        pytest.param(service(persistence_timeout=300, persistence_netmask="255.255.255.0"), id="netmask-v4"),
        pytest.param(
            service(address="2001:db8::1", persistence_timeout=300, persistence_netmask="64"), id="netmask-v6"
        ),
        pytest.param(
            {
                "protocol": "fwmark",
                "fwmark": 9,
                "address_family": "ipv6",
                "persistence_timeout": 60,
                "persistence_netmask": "128",
            },
            id="netmask-fwmark-v6",
        ),
    ],
)
def test_virtual_service_accepts_what_the_kernel_takes(fields):
    created = actions.create_virtual_service(acting_user=None, cluster=make_cluster(), fields=fields)
    assert VirtualService.objects.filter(pk=created.pk).exists()


def test_virtual_service_takes_its_address_family_from_the_vip():
    created = actions.create_virtual_service(
        acting_user=None, cluster=make_cluster(), fields=service(address="2001:db8::1", address_family="ipv4")
    )
    assert VirtualService.objects.get(pk=created.pk).address_family == "ipv6"


@pytest.mark.parametrize(
    ("service_fields", "fields", "port"),
    [
        pytest.param(
            {}, real_server(address="2001:db8::5", forward_method="tun", tunnel_type="gre"), 80, id="gre-v6-behind-v4"
        ),
        pytest.param(
            {"address": "2001:db8::1"}, real_server(forward_method="tun", tunnel_type="gre"), 80, id="gre-v4-behind-v6"
        ),
        pytest.param({}, real_server(forward_method="dr"), 80, id="dr-port-defaults-to-virtual-port"),
        pytest.param({}, real_server(forward_method="nat", port=8080), 8080, id="nat-maps-ports"),
        pytest.param({}, real_server(tunnel_type="gue", tunnel_port=6080), 80, id="gue-with-port"),
        pytest.param({}, real_server(tunnel_type="gre", tunnel_checksum="csum"), 80, id="gre-checksum"),
        pytest.param(
            {}, real_server(tunnel_type="gue", tunnel_port=6080, tunnel_checksum="remcsum"), 80, id="gue-remcsum"
        ),
        pytest.param({}, real_server(weight=0), 80, id="weight-0"),
        pytest.param({}, real_server(weight=65535, upper_threshold=10, lower_threshold=10), 80, id="weight-max"),
        pytest.param(
            {"protocol": "fwmark", "address": None, "port": None, "fwmark": 4},
            real_server(forward_method="dr"),
            None,
            id="fwmark-dr-without-port",
        ),
    ],
)
def test_real_server_accepts_what_the_kernel_takes(service_fields, fields, port):
    virtual_service = make_virtual_service(**service_fields)
    created = actions.create_real_server(acting_user=None, virtual_service=virtual_service, fields=fields)
    assert RealServer.objects.get(pk=created.pk).port == port


def test_real_server_forwarding_defaults_to_the_services():
    virtual_service = make_virtual_service(forward_method="dr")
    created = actions.create_real_server(acting_user=None, virtual_service=virtual_service, fields=real_server())
    assert created.forward_method == "dr"


def test_duplicate_protocol_vip_port_in_a_cluster_is_refused():
    existing = make_virtual_service(address="10.1.1.1", port=443)
    with pytest.raises(ValidationError) as exc:
        actions.create_virtual_service(
            acting_user=None, cluster=existing.cluster, fields=service(address="10.1.1.1", port=443)
        )
    assert "This cluster already has a service on TCP 10.1.1.1:443" in messages_on(exc, "port")
    assert VirtualService.objects.count() == 1


def test_same_vip_and_port_with_another_protocol_is_allowed():
    existing = make_virtual_service(address="10.1.1.1", port=53)
    actions.create_virtual_service(
        acting_user=None, cluster=existing.cluster, fields=service(protocol="udp", address="10.1.1.1", port=53)
    )
    assert VirtualService.objects.filter(address="10.1.1.1", port=53).count() == 2


def test_duplicate_firewall_mark_in_a_cluster_is_refused():
    existing = make_virtual_service(protocol="fwmark", address=None, port=None, fwmark=12)
    with pytest.raises(ValidationError) as exc:
        actions.create_virtual_service(
            acting_user=None, cluster=existing.cluster, fields={"protocol": "fwmark", "fwmark": 12}
        )
    assert "already has a service for firewall mark 12" in messages_on(exc, "fwmark")


def test_same_vip_in_another_cluster_without_a_shared_director_is_allowed():
    make_cluster_host(cluster=(first := make_virtual_service(address="10.1.1.1").cluster))
    other = make_cluster()
    make_cluster_host(cluster=other)
    actions.create_virtual_service(acting_user=None, cluster=other, fields=service(address="10.1.1.1"))
    assert VirtualService.objects.filter(address="10.1.1.1").exclude(cluster=first).count() == 1


def test_vip_of_another_cluster_on_a_shared_director_is_refused():
    director = make_host()
    first = make_virtual_service(address="10.1.1.1", port=80).cluster
    second = make_cluster()
    make_cluster_host(cluster=first, host=director)
    make_cluster_host(cluster=second, host=director)
    with pytest.raises(ValidationError) as exc:
        actions.create_virtual_service(acting_user=None, cluster=second, fields=service(address="10.1.1.1", port=443))
    assert f"VIP 10.1.1.1 is already used by cluster “{first}”, which shares a director" in messages_on(exc, "address")
    assert not second.virtual_services.exists()


def test_sharing_a_director_between_clusters_with_the_same_vip_is_refused():
    director = make_host()
    first = make_virtual_service(address="10.1.1.1").cluster
    second = make_virtual_service(address="10.1.1.1").cluster
    make_cluster_host(cluster=first, host=director)
    with pytest.raises(ValidationError) as exc:
        actions.assign_host_role(acting_user=None, cluster=second, host=director, role="director")
    assert f"{director} already directs cluster “{first}”, which uses VIP 10.1.1.1 too" in messages_on(exc, "host")
    assert not ClusterHost.objects.filter(cluster=second).exists()


def test_the_same_host_may_be_a_real_server_in_clusters_with_the_same_vip():
    host = make_host()
    first = make_virtual_service(address="10.1.1.1").cluster
    second = make_virtual_service(address="10.1.1.1").cluster
    make_cluster_host(cluster=first, host=host)
    actions.assign_host_role(acting_user=None, cluster=second, host=host, role="real_server")
    assert ClusterHost.objects.filter(cluster=second, host=host, role="real_server").exists()


def test_a_host_has_one_role_per_cluster():
    existing = make_cluster_host()
    with pytest.raises(ValidationError) as exc:
        actions.assign_host_role(acting_user=None, cluster=existing.cluster, host=existing.host, role="real_server")
    assert f"{existing.host} already has a role in cluster “{existing.cluster}”" in messages_on(exc, "host")


def test_duplicate_address_and_port_in_a_service_is_refused():
    existing = make_real_server(address="172.16.9.9")
    with pytest.raises(ValidationError) as exc:
        actions.create_real_server(
            acting_user=None, virtual_service=existing.virtual_service, fields=real_server(address="172.16.9.9")
        )
    assert "172.16.9.9:80 is already a real server of TCP" in messages_on(exc, "address")
    assert RealServer.objects.count() == 1


def test_the_same_real_server_in_two_services_is_allowed():
    existing = make_real_server(address="172.16.9.9")
    other = make_virtual_service(cluster=existing.virtual_service.cluster)
    actions.create_real_server(acting_user=None, virtual_service=other, fields=real_server(address="172.16.9.9"))
    assert RealServer.objects.filter(address="172.16.9.9").count() == 2


def test_fields_the_action_does_not_take_are_refused_by_name():
    with pytest.raises(ValidationError) as exc:
        actions.create_virtual_service(acting_user=None, cluster=make_cluster(), fields=service(colour="blue"))
    assert "cannot be set here" in messages_on(exc, "colour")
