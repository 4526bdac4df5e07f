"""The inventory REST API: who may call it, what each endpoint answers, lists, and errors as JSON."""

import pytest
from rest_framework.test import APIClient

from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
from tests.factories import (
    default_team,
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db

LIST_URLS = ["/api/clusters/", "/api/hosts/", "/api/cluster-hosts/", "/api/virtual-services/", "/api/real-servers/"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_anonymous_users_are_refused(anonymous_api, url):
    response = anonymous_api.get(url)
    assert response.status_code in (401, 403)
    assert "credentials were not provided" in response.json()["detail"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_signed_in_users_outside_the_team_see_empty_lists(url):
    make_real_server(virtual_service=make_virtual_service(cluster=make_cluster_host().cluster))
    client = APIClient()
    client.force_login(make_user(staff=True))
    response = client.get(url)
    assert response.status_code == 200
    assert response.json()["count"] == 0
    assert response.json()["results"] == []


def test_anonymous_users_cannot_create():
    response = APIClient().post("/api/clusters/", {"name": "web", "slug": "web"}, format="json")
    assert response.status_code in (401, 403)
    assert not Cluster.objects.exists()


# Clusters


def test_create_a_cluster(api):
    response = api.post("/api/clusters/", {"name": "web frontend", "slug": "web"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "web"
    assert body["url"] == "http://testserver/api/clusters/web/"
    assert Cluster.objects.filter(slug="web", name="web frontend").exists()


def test_a_cluster_is_addressed_by_slug_with_counts(api):
    cluster = make_cluster(name="shop", slug="shop")
    service = make_virtual_service(cluster=cluster)
    make_real_server(virtual_service=service)
    make_real_server(virtual_service=service)
    response = api.get("/api/clusters/shop/")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["virtual_service_count"], body["real_server_count"]) == ("shop", 1, 2)


def test_an_unknown_cluster_is_404(api):
    assert api.get("/api/clusters/nope/").status_code == 404


def test_update_and_partially_update_a_cluster(api):
    make_cluster(name="shop", slug="shop")
    response = api.put("/api/clusters/shop/", {"name": "shop (FRA)", "slug": "shop-fra"}, format="json")
    assert response.status_code == 200, response.json()
    response = api.patch("/api/clusters/shop-fra/", {"description": "the web shop"}, format="json")
    assert response.status_code == 200, response.json()
    assert Cluster.objects.filter(name="shop (FRA)", slug="shop-fra", description="the web shop").exists()


def test_delete_a_cluster(api):
    cluster = make_cluster(slug="old")
    make_virtual_service(cluster=cluster)
    assert api.delete("/api/clusters/old/").status_code == 204
    assert not Cluster.objects.exists()
    assert not VirtualService.objects.exists()


def test_a_cluster_needs_a_name_and_a_valid_unique_slug(api):
    make_cluster(slug="taken")
    response = api.post("/api/clusters/", {"slug": "not a slug!"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == ["This field is required."]
    assert "slug" in body and "letters, numbers, underscores or hyphens" in body["slug"][0]
    response = api.post("/api/clusters/", {"name": "other", "slug": "taken"}, format="json")
    assert response.status_code == 400
    assert "already in use" in response.json()["slug"][0]
    # /clusters/new/ is the console's create page: a cluster there could never be opened.
    response = api.post("/api/clusters/", {"name": "other", "slug": "new"}, format="json")
    assert response.status_code == 400
    assert "address of a console page" in response.json()["slug"][0]


def test_a_body_that_is_not_json_is_400(api):
    response = api.post("/api/clusters/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# Hosts and roles


def test_create_a_host_ignoring_the_fields_the_agent_reports(api):
    response = api.post(
        "/api/hosts/",
        {"hostname": "lb1.example.net", "management_address": "192.0.2.10", "agent_status": "online"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    host = Host.objects.get(hostname="lb1.example.net")
    assert (host.management_address, host.agent_status) == ("192.0.2.10", "never_enrolled")


def test_a_host_needs_a_valid_management_address(api):
    response = api.post("/api/hosts/", {"hostname": "lb1", "management_address": "192.0.2.300"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"management_address": ["Enter a valid IPv4 or IPv6 address."]}


def test_deleting_a_host_still_in_a_cluster_is_409(api):
    cluster_host = make_cluster_host()
    response = api.delete(f"/api/hosts/{cluster_host.host_id}/")
    assert response.status_code == 409
    assert str(cluster_host) in response.json()["detail"]
    assert Host.objects.filter(pk=cluster_host.host_id).exists()


def test_deleting_a_host_without_roles_is_204(api):
    host = make_host()
    assert api.delete(f"/api/hosts/{host.pk}/").status_code == 204
    assert not Host.objects.exists()


def test_assign_and_remove_a_host_role(api):
    cluster = make_cluster(slug="web")
    make_host(hostname="lb1.example.net")
    response = api.post(
        "/api/cluster-hosts/", {"cluster": "web", "host": "lb1.example.net", "role": "director"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cluster"] == "web"
    role = ClusterHost.objects.get(cluster=cluster)
    changed = api.patch(f"/api/cluster-hosts/{role.pk}/", {"role": "real_server"}, format="json")
    assert changed.status_code == 400 and "cannot be changed" in changed.json()["non_field_errors"][0]
    assert api.delete(f"/api/cluster-hosts/{role.pk}/").status_code == 204
    assert not ClusterHost.objects.exists()


def test_a_role_names_an_existing_cluster_and_host(api):
    response = api.post("/api/cluster-hosts/", {"cluster": "nope", "host": "nope", "role": "boss"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["cluster"] == ["Object with slug=nope does not exist."]
    assert body["host"] == ["Object with hostname=nope does not exist."]
    assert body["role"] == ['"boss" is not a valid choice.']


# Virtual services and real servers


def test_create_a_virtual_service_in_a_cluster_given_by_slug(api):
    cluster = make_cluster(slug="web")
    response = api.post(
        "/api/virtual-services/",
        {
            "cluster": "web",
            "protocol": "tcp",
            "address": "2001:db8::80",
            "port": 443,
            "scheduler": "mh",
            "sched_port": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["cluster"], body["endpoint"], body["address_family"]) == ("web", "TCP [2001:db8::80]:443", "ipv6")
    assert cluster.virtual_services.get().scheduler == "mh"


def test_a_virtual_service_cannot_move_to_another_cluster(api):
    service = make_virtual_service()
    other = make_cluster()
    response = api.patch(f"/api/virtual-services/{service.pk}/", {"cluster": other.slug}, format="json")
    assert response.status_code == 400
    assert response.json() == {"cluster": ["A virtual service cannot move to another cluster."]}
    assert VirtualService.objects.get(pk=service.pk).cluster_id == service.cluster_id


def test_patching_the_service_port_moves_tun_real_servers(api):
    service = make_virtual_service(port=80)
    real_server = make_real_server(virtual_service=service, forward_method="tun")
    response = api.patch(f"/api/virtual-services/{service.pk}/", {"port": 8080}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["endpoint"].endswith(":8080")
    real_server.refresh_from_db()
    assert real_server.port == 8080


def test_patching_the_vip_family_with_a_dr_real_server_is_refused_whole(api):
    service = make_virtual_service(address="10.4.4.4", port=80)
    make_real_server(virtual_service=service, forward_method="dr", address="172.16.4.4")
    response = api.patch(f"/api/virtual-services/{service.pk}/", {"address": "2001:db8::4", "port": 81}, format="json")
    assert response.status_code == 400
    (message,) = response.json()["non_field_errors"]
    assert message.startswith("Real server 172.16.4.4:81: A DR real server must be IPv6")
    service.refresh_from_db()
    assert (service.address, service.port) == ("10.4.4.4", 80)
    assert RealServer.objects.get().port == 80


def test_delete_a_virtual_service_with_its_real_servers(api):
    real_server = make_real_server()
    assert api.delete(f"/api/virtual-services/{real_server.virtual_service_id}/").status_code == 204
    assert not RealServer.objects.exists()


def test_create_a_real_server_run_by_a_host_given_by_hostname(api):
    service = make_virtual_service(port=443, forward_method="dr")
    make_host(hostname="web1.example.net")
    response = api.post(
        "/api/real-servers/",
        {"virtual_service": service.pk, "address": "172.16.1.1", "host": "web1.example.net", "weight": 5},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["host"], body["endpoint"], body["forward_method"], body["port"]) == (
        "web1.example.net",
        "172.16.1.1:443",
        "dr",
        443,
    )
    assert RealServer.objects.get().host.hostname == "web1.example.net"


def test_patch_a_weight(api):
    real_server = make_real_server(weight=1)
    response = api.patch(f"/api/real-servers/{real_server.pk}/", {"weight": 0}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["weight"] == 0
    assert RealServer.objects.get().weight == 0


def test_a_real_server_cannot_move_to_another_service(api):
    real_server = make_real_server()
    other = make_virtual_service()
    response = api.patch(f"/api/real-servers/{real_server.pk}/", {"virtual_service": other.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"virtual_service": ["A real server cannot move to another virtual service."]}


def test_an_unknown_real_server_is_404(api):
    response = api.get("/api/real-servers/987654/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_deleting_a_real_server(api):
    real_server = make_real_server()
    assert api.delete(f"/api/real-servers/{real_server.pk}/").status_code == 204
    assert not RealServer.objects.exists()


# Lists: pagination, filters, ordering, search


def test_pagination_gives_count_and_next(api):
    for _ in range(3):
        make_cluster()
    body = api.get("/api/clusters/?page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert "page=2" in body["next"]
    second = api.get(body["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None


def test_page_size_is_capped_at_1000(api):
    team = default_team()
    Host.objects.bulk_create(
        Host(team=team, hostname=f"h{n}.example.net", management_address=f"10.{n // 256}.{n % 256}.1")
        for n in range(1001)
    )
    body = api.get("/api/hosts/?page_size=5000").json()
    assert body["count"] == 1001
    assert len(body["results"]) == 1000
    assert body["next"] is not None


def test_a_page_past_the_end_is_404(api):
    assert api.get("/api/clusters/?page=9").status_code == 404


def test_filter_virtual_services_by_cluster_slug_and_protocol(api):
    web = make_cluster(slug="web")
    dns = make_cluster(slug="dns")
    make_virtual_service(cluster=web, port=80)
    make_virtual_service(cluster=dns, protocol="udp", port=53)
    make_virtual_service(cluster=dns, protocol="tcp", port=53)
    assert [s["port"] for s in api.get("/api/virtual-services/?cluster=web").json()["results"]] == [80]
    udp = api.get("/api/virtual-services/?protocol=udp").json()["results"]
    assert [(s["cluster"], s["protocol"]) for s in udp] == [("dns", "udp")]
    assert api.get("/api/virtual-services/?cluster=dns&protocol=tcp").json()["count"] == 1


def test_filter_by_an_invalid_choice_or_address_is_400(api):
    response = api.get("/api/virtual-services/?protocol=icmp")
    assert response.status_code == 400
    assert "protocol" in response.json()
    response = api.get("/api/virtual-services/?address=not-an-ip")
    assert response.status_code == 400
    assert response.json() == {"address": ["Enter a valid IPv4 or IPv6 address."]}


def test_filter_virtual_services_and_real_servers_by_address(api):
    service = make_virtual_service(address="2001:db8::5")
    make_virtual_service()
    make_real_server(virtual_service=service, address="2001:db8::15", forward_method="tun")
    make_real_server(virtual_service=service, address="2001:db8::16")
    # The filter reads the address as an address: another spelling of the same IPv6 address matches.
    assert api.get("/api/virtual-services/?address=2001:0db8:0:0::5").json()["count"] == 1
    assert api.get("/api/real-servers/?address=2001:db8::15").json()["count"] == 1


def test_filter_real_servers_by_state(api):
    draining = make_real_server(state="draining")
    make_real_server(virtual_service=draining.virtual_service)
    results = api.get("/api/real-servers/?state=draining").json()["results"]
    assert [r["id"] for r in results] == [draining.pk]


def test_filter_hosts_by_cluster(api):
    web = make_cluster(slug="web")
    in_web = make_cluster_host(cluster=web, role="real_server").host
    make_cluster_host(cluster=web, host=make_host())
    make_host()
    other = make_cluster_host(host=in_web).cluster  # in two clusters: listed once
    hosts = api.get("/api/hosts/?cluster=web").json()
    assert hosts["count"] == 2
    assert in_web.hostname in [h["hostname"] for h in hosts["results"]]
    assert [h["hostname"] for h in api.get(f"/api/hosts/?cluster={other.slug}").json()["results"]] == [in_web.hostname]
    assert api.get("/api/hosts/?cluster=").json()["count"] == 3


def test_ordering_by_descending_port(api):
    cluster = make_cluster()
    for port in (443, 80, 8080):
        make_virtual_service(cluster=cluster, address="10.5.5.5", port=port)
    results = api.get("/api/virtual-services/?ordering=-port").json()["results"]
    assert [s["port"] for s in results] == [8080, 443, 80]
    results = api.get("/api/virtual-services/?ordering=port").json()["results"]
    assert [s["port"] for s in results] == [80, 443, 8080]


def test_search_matches_names_and_addresses(api):
    make_virtual_service(name="shop https", address="10.6.6.6")
    make_virtual_service(name="mail", address="10.7.7.7")
    assert [s["name"] for s in api.get("/api/virtual-services/?search=shop").json()["results"]] == ["shop https"]
    assert [s["name"] for s in api.get("/api/virtual-services/?search=10.7.7").json()["results"]] == ["mail"]
    make_cluster(name="Frankfurt edge")
    assert [c["name"] for c in api.get("/api/clusters/?search=frankfurt").json()["results"]] == ["Frankfurt edge"]


def test_list_query_count_does_not_grow_with_rows(api, django_assert_max_num_queries):
    cluster = make_cluster()
    for _ in range(10):
        make_real_server(virtual_service=make_virtual_service(cluster=cluster), host=make_host())
    with django_assert_max_num_queries(6):
        assert api.get("/api/real-servers/").json()["count"] == 10
    with django_assert_max_num_queries(6):
        assert api.get("/api/virtual-services/").json()["count"] == 10
    with django_assert_max_num_queries(6):
        assert api.get("/api/clusters/").json()["count"] == 1
