"""Every validation rule of the inventory, through the REST API: 400 with the message on the field."""

import pytest

from clusters.models import ClusterHost, RealServer, VirtualService
from tests.clusters.rules import REAL_SERVER_RULES, VIRTUAL_SERVICE_RULES, real_server, service
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service


def assert_refused(response, field: str, says: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert says in " ".join(body.get(field, [])), body


@pytest.mark.parametrize("rule", VIRTUAL_SERVICE_RULES)
def test_virtual_service_rule(api, rule):
    cluster = make_cluster()
    response = api.post("/api/virtual-services/", {"cluster": cluster.slug, **rule.fields}, format="json")
    assert_refused(response, rule.field, rule.says)
    assert not VirtualService.objects.exists()


@pytest.mark.parametrize("rule", REAL_SERVER_RULES)
def test_real_server_rule(api, rule):
    virtual_service = make_virtual_service(**rule.service)
    response = api.post("/api/real-servers/", {"virtual_service": virtual_service.pk, **rule.fields}, format="json")
    assert_refused(response, rule.field, rule.says)
    assert not RealServer.objects.exists()


def test_duplicate_protocol_vip_port_in_a_cluster_is_refused(api):
    existing = make_virtual_service(address="10.1.1.1", port=443)
    response = api.post(
        "/api/virtual-services/",
        {"cluster": existing.cluster.slug, **service(address="10.1.1.1", port=443)},
        format="json",
    )
    assert_refused(response, "port", "This cluster already has a service on TCP 10.1.1.1:443")
    assert VirtualService.objects.count() == 1


def test_same_vip_and_port_in_another_cluster_without_a_shared_director_is_allowed(api):
    make_virtual_service(address="10.1.1.1", port=443)
    other = make_cluster()
    response = api.post(
        "/api/virtual-services/", {"cluster": other.slug, **service(address="10.1.1.1", port=443)}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cluster"] == other.slug


def test_vip_of_another_cluster_on_a_shared_director_is_refused(api):
    director = make_host()
    first = make_virtual_service(address="10.1.1.1").cluster
    second = make_cluster()
    make_cluster_host(cluster=first, host=director)
    make_cluster_host(cluster=second, host=director)
    response = api.post(
        "/api/virtual-services/", {"cluster": second.slug, **service(address="10.1.1.1", port=8443)}, format="json"
    )
    assert_refused(response, "address", f"VIP 10.1.1.1 is already used by cluster “{first}”, which shares a director")
    assert not second.virtual_services.exists()


def test_assigning_a_shared_director_to_clusters_with_the_same_vip_is_refused(api):
    director = make_host()
    first = make_virtual_service(address="10.1.1.1").cluster
    second = make_virtual_service(address="10.1.1.1").cluster
    make_cluster_host(cluster=first, host=director)
    response = api.post(
        "/api/cluster-hosts/", {"cluster": second.slug, "host": director.hostname, "role": "director"}, format="json"
    )
    assert_refused(response, "host", f"{director} already directs cluster “{first}”, which uses VIP 10.1.1.1 too")
    assert not ClusterHost.objects.filter(cluster=second).exists()


def test_a_second_role_for_a_host_in_a_cluster_is_refused_on_the_host(api):
    existing = make_cluster_host()
    response = api.post(
        "/api/cluster-hosts/",
        {"cluster": existing.cluster.slug, "host": existing.host.hostname, "role": "real_server"},
        format="json",
    )
    assert_refused(response, "host", "already has a role in cluster")


def test_duplicate_address_and_port_in_a_service_is_refused(api):
    existing = make_real_server(address="172.16.9.9")
    response = api.post(
        "/api/real-servers/",
        {"virtual_service": existing.virtual_service_id, **real_server(address="172.16.9.9")},
        format="json",
    )
    assert_refused(response, "address", "172.16.9.9:80 is already a real server of TCP")
    assert RealServer.objects.count() == 1


def test_an_ipip_real_server_may_cross_the_address_family(api):
    """IPv4 in IPv6 reaches the real server's ip6tnl0 (in `mode any`, set by its agent: docs/agent-spec.md)."""
    virtual_service = make_virtual_service(address="10.2.2.2", port=443)
    response = api.post(
        "/api/real-servers/",
        {"virtual_service": virtual_service.pk, "address": "2001:db8::7", "forward_method": "tun"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert RealServer.objects.get().address == "2001:db8::7"


def test_a_gre_real_server_may_cross_the_address_family(api):
    """GUE and GRE devices are the operator's to set up on the real server, in either family."""
    virtual_service = make_virtual_service(address="10.2.2.2", port=443)
    response = api.post(
        "/api/real-servers/",
        {
            "virtual_service": virtual_service.pk,
            "address": "2001:db8::7",
            "forward_method": "tun",
            "tunnel_type": "gre",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["endpoint"] == "[2001:db8::7]:443"
    assert RealServer.objects.get().port == 443


def test_patching_a_dr_real_server_port_away_from_the_virtual_port_is_refused(api):
    existing = make_real_server(forward_method="dr")
    response = api.patch(f"/api/real-servers/{existing.pk}/", {"port": 8080}, format="json")
    assert_refused(response, "port", "the kernel cannot map ports")
    existing.refresh_from_db()
    assert existing.port == 80


def test_moving_a_vip_onto_one_a_shared_director_holds_for_another_cluster_is_refused(api):
    director = make_host()
    first = make_virtual_service(address="10.1.1.1").cluster
    moving = make_virtual_service(address="10.1.1.2")
    make_cluster_host(cluster=first, host=director)
    make_cluster_host(cluster=moving.cluster, host=director)
    response = api.patch(f"/api/virtual-services/{moving.pk}/", {"address": "10.1.1.1"}, format="json")
    assert_refused(response, "address", f"VIP 10.1.1.1 is already used by cluster “{first}”")
    moving.refresh_from_db()
    assert moving.address == "10.1.1.2"


def test_put_replaces_a_virtual_service_and_keeps_its_cluster(api):
    existing = make_virtual_service(address="10.1.1.3", port=80, scheduler="wlc")
    response = api.put(
        f"/api/virtual-services/{existing.pk}/",
        {"cluster": existing.cluster.slug, "protocol": "udp", "address": "10.1.1.3", "port": 53, "scheduler": "rr"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    existing.refresh_from_db()
    assert (existing.protocol, existing.port, existing.scheduler) == ("udp", 53, "rr")
