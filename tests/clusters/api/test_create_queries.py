"""Creating through the API costs a fixed number of queries per object, however big the cluster is."""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from clusters import actions
from clusters.models import RealServer, VirtualService
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db

# In a test each action's transaction is a savepoint inside the test's own (SAVEPOINT and RELEASE: two more
# statements than in production). Virtual service: session, user, the cluster named, the cluster and its
# directors locked (one round trip), the user's roles, the services on its VIP (the VIP:port in the cluster,
# the VIP on a shared director and the answer's overlap warnings), the insert, the audit entry (the chain's
# lock with its newest hash, then the insert).
SERVICE_QUERIES = 11
# Real server: session, user, the service named, the service locked with its cluster, the user's roles, the
# host that has its address, the duplicate check, the insert and the audit entry (two).
REAL_SERVER_QUERIES = 12


def test_creating_a_virtual_service_takes_the_same_queries_in_a_small_or_a_big_cluster(api, django_assert_num_queries):
    cluster = make_cluster(slug="web")
    for index in (1, 2):
        if index == 2:
            for port in range(100, 140):  # a bigger cluster
                make_real_server(virtual_service=make_virtual_service(cluster=cluster, port=port))
        with django_assert_num_queries(SERVICE_QUERIES):
            response = api.post(
                "/api/virtual-services/",
                {"cluster": "web", "protocol": "tcp", "address": f"198.51.100.{index}", "port": 80},
                format="json",
            )
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["endpoint"], body["real_server_count"], body["warnings"]) == (f"TCP 198.51.100.{index}:80", 0, [])
        service = VirtualService.objects.get(pk=body["id"])
        entry = AuditEntry.objects.get(action="virtual_service.create", object_id=str(service.pk))
        assert (entry.cluster_id, entry.team_id) == (cluster.pk, cluster.team_id)


def test_creating_a_real_server_takes_the_same_queries_in_a_small_or_a_big_service(api, django_assert_num_queries):
    service = make_virtual_service(port=443, forward_method="tun")
    for index in (1, 2):
        if index == 2:
            for last in range(100, 140):  # a bigger service
                make_real_server(virtual_service=service, address=f"10.7.0.{last}")
        with django_assert_num_queries(REAL_SERVER_QUERIES):
            response = api.post(
                "/api/real-servers/",
                {"virtual_service": service.pk, "address": f"10.8.0.{index}", "weight": 5},
                format="json",
            )
        assert response.status_code == 201, response.json()
        assert (response.json()["endpoint"], response.json()["forward_method"]) == (f"10.8.0.{index}:443", "tun")
        real_server = RealServer.objects.get(pk=response.json()["id"])
        entry = AuditEntry.objects.get(action="real_server.create", object_id=str(real_server.pk))
        assert (entry.cluster_id, entry.team_id) == (service.cluster_id, service.cluster.team_id)


def test_a_real_server_of_a_service_deleted_meanwhile_is_refused_by_name(api, team_owner):
    service = make_virtual_service()
    VirtualService.objects.filter(pk=service.pk).delete()
    with pytest.raises(ValidationError) as refused:
        actions.create_real_server(acting_user=team_owner, virtual_service=service, fields={"address": "10.8.0.9"})
    assert refused.value.message_dict == {"virtual_service": ["This virtual service no longer exists."]}


def test_a_vip_held_on_shared_directors_names_the_first_cluster_by_name(api):
    # The checks of a new service read every service on its VIP at once: the refusal still names the cluster
    # the model's own query named (the first by name), and an IPv6 VIP matches however it is written.
    director, other_director = make_host(), make_host()
    mine = make_cluster(slug="mine")
    make_cluster_host(cluster=mine, host=director)
    make_cluster_host(cluster=mine, host=other_director)
    for name, host in (("zulu", director), ("alpha", other_director)):
        cluster = make_cluster(name=name, slug=name)
        make_cluster_host(cluster=cluster, host=host)
        make_virtual_service(cluster=cluster, address="2001:db8::10", port=443)
    make_virtual_service(cluster=make_cluster(name="aaa unrelated", slug="unrelated"), address="2001:db8::10")
    response = api.post(
        "/api/virtual-services/",
        {"cluster": "mine", "protocol": "tcp", "address": "2001:DB8:0::10", "port": 8443},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["address"] == [
        "VIP 2001:db8::10 is already used by cluster “alpha”, which shares a director with this cluster; a "
        "director can hold a VIP for one cluster only."
    ]


def test_the_same_endpoint_or_mark_twice_in_a_cluster_is_refused_and_elsewhere_warned(api):
    cluster = make_cluster(slug="web")
    make_virtual_service(cluster=cluster, address="198.51.100.7", port=80)
    make_virtual_service(cluster=cluster, protocol="fwmark", address=None, port=None, fwmark=7)
    make_virtual_service(cluster=make_cluster(name="elsewhere", slug="elsewhere"), address="198.51.100.7", port=443)
    taken = api.post(
        "/api/virtual-services/",
        {"cluster": "web", "protocol": "tcp", "address": "198.51.100.7", "port": 80},
        format="json",
    )
    assert taken.status_code == 400
    assert taken.json()["port"] == ["This cluster already has a service on TCP 198.51.100.7:80."]
    mark = api.post("/api/virtual-services/", {"cluster": "web", "protocol": "fwmark", "fwmark": 7}, format="json")
    assert mark.status_code == 400
    assert mark.json()["fwmark"] == ["This cluster already has a service for firewall mark 7."]
    other_port = api.post(
        "/api/virtual-services/",
        {"cluster": "web", "protocol": "tcp", "address": "198.51.100.7", "port": 443},
        format="json",
    )
    assert other_port.status_code == 201, other_port.json()
    assert [text.split(". ")[0] for text in other_port.json()["warnings"]] == [
        "TCP 198.51.100.7:443 is also a virtual service of cluster “elsewhere”"
    ]
