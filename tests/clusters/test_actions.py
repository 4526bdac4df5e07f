"""The actions layer: changes that touch more than one row, applied whole or not at all."""

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError

from audit.models import AuditEntry
from clusters import actions
from clusters.models import ClusterHost, Host, RealServer, VirtualService
from tests.factories import make_cluster_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db


def test_a_service_port_change_moves_tun_and_dr_real_server_ports_but_not_nat():
    service = make_virtual_service(address="10.3.3.3", port=80)
    tun = make_real_server(virtual_service=service, forward_method="tun")
    dr = make_real_server(virtual_service=service, forward_method="dr")
    nat = make_real_server(virtual_service=service, forward_method="nat", port=8080)

    actions.update_virtual_service(acting_user=None, virtual_service=service, changes={"port": 8443})

    assert VirtualService.objects.get(pk=service.pk).port == 8443
    ports = dict(RealServer.objects.values_list("pk", "port"))
    assert ports == {tun.pk: 8443, dr.pk: 8443, nat.pk: 8080}


def test_a_vip_family_change_that_strands_a_dr_real_server_is_refused_and_nothing_changes():
    service = make_virtual_service(address="10.3.3.3", port=80)
    tun = make_real_server(virtual_service=service, forward_method="tun", address="172.16.5.1", tunnel_type="gre")
    make_real_server(virtual_service=service, forward_method="dr", address="172.16.5.2")

    with pytest.raises(ValidationError) as exc:
        actions.update_virtual_service(
            acting_user=None, virtual_service=service, changes={"address": "2001:db8::3", "port": 443}
        )

    messages = exc.value.message_dict["__all__"]
    assert len(messages) == 1
    assert messages[0].startswith("Real server 172.16.5.2:443: A DR real server must be IPv6 like the virtual service")
    service.refresh_from_db()
    assert (service.address, service.port, service.address_family) == ("10.3.3.3", 80, "ipv4")
    assert set(RealServer.objects.values_list("port", flat=True)) == {80}
    tun.refresh_from_db()
    assert tun.port == 80
    assert not AuditEntry.objects.filter(action__in=["virtual_service.update", "real_server.update"]).exists()


def test_a_vip_family_change_keeps_gre_real_servers_of_the_other_family():
    service = make_virtual_service(address="10.3.3.3", port=80)
    make_real_server(virtual_service=service, forward_method="tun", address="172.16.5.1", tunnel_type="gre")
    actions.update_virtual_service(acting_user=None, virtual_service=service, changes={"address": "2001:db8::3"})
    assert VirtualService.objects.get(pk=service.pk).address_family == "ipv6"


def test_a_vip_family_change_that_strands_a_dr_real_server_is_refused():
    """DR forwards the packet as it is: moving the VIP to IPv6 would strand an IPv4 real server."""
    service = make_virtual_service(address="10.3.3.3", port=80)
    make_real_server(virtual_service=service, forward_method="dr", address="172.16.5.1")
    with pytest.raises(ValidationError) as exc:
        actions.update_virtual_service(acting_user=None, virtual_service=service, changes={"address": "2001:db8::3"})
    assert "Real server 172.16.5.1:80: A DR real server must be IPv6" in exc.value.messages[0]
    assert VirtualService.objects.get(pk=service.pk).address_family == "ipv4"


def test_turning_a_service_into_a_firewall_mark_empties_tun_and_dr_ports_and_back():
    service = make_virtual_service(address="10.3.3.3", port=80)
    make_real_server(virtual_service=service, forward_method="tun")
    make_real_server(virtual_service=service, forward_method="dr")

    actions.update_virtual_service(
        acting_user=None,
        virtual_service=service,
        changes={"protocol": "fwmark", "address": None, "port": None, "fwmark": 21},
    )
    assert set(RealServer.objects.values_list("port", flat=True)) == {None}

    actions.update_virtual_service(
        acting_user=None,
        virtual_service=service,
        changes={"protocol": "tcp", "address": "10.3.3.3", "port": 25, "fwmark": None},
    )
    assert set(RealServer.objects.values_list("port", flat=True)) == {25}


def test_set_real_server_state_drains():
    real_server = make_real_server()
    actions.set_real_server_state(acting_user=None, real_server=real_server, state="draining")
    assert RealServer.objects.get(pk=real_server.pk).state == "draining"


def test_a_real_server_cannot_be_moved_to_another_service_by_the_action():
    real_server = make_real_server()
    other = make_virtual_service()
    with pytest.raises(ValidationError) as exc:
        actions.update_real_server(acting_user=None, real_server=real_server, changes={"virtual_service": other})
    assert "virtual_service" in exc.value.message_dict
    assert RealServer.objects.get(pk=real_server.pk).virtual_service_id == real_server.virtual_service_id


def test_deleting_a_host_that_still_has_a_role_is_refused():
    cluster_host = make_cluster_host()
    with pytest.raises(ProtectedError):
        actions.delete_host(acting_user=None, host=cluster_host.host)
    assert Host.objects.filter(pk=cluster_host.host_id).exists()


def test_deleting_a_cluster_keeps_its_hosts():
    cluster_host = make_cluster_host()
    make_real_server(virtual_service=make_virtual_service(cluster=cluster_host.cluster))
    actions.delete_cluster(acting_user=None, cluster=cluster_host.cluster)
    assert not ClusterHost.objects.exists()
    assert not VirtualService.objects.exists()
    assert not RealServer.objects.exists()
    assert Host.objects.filter(pk=cluster_host.host_id).exists()
