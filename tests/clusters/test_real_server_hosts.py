"""Real servers and the hosts that configure them (issue 14, item 3).

A TUN or DR real server drops the director's packets unless a host with the real-server role in the cluster
puts the VIP on its tunl0 (or lo): a real server is linked to the host that has its address, the forms and the
API offer the link and "configured by hand", and the cluster page flags every TUN/DR real server nothing
configures.
"""

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from clusters import actions
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.models import ClusterHost, RealServer
from tests.factories import (
    default_team,
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_team,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db

DROPPED = (
    "traffic to 203.0.113.11 will be dropped: no host configures the VIP on tunl0 there — link a host or mark it "
    "as configured by hand"
)


def web1(**overrides):
    """Host web1 at 203.0.113.11, its agent enrolled."""
    return make_host(hostname="web1", management_address="203.0.113.11", public_key="k" * 43, **overrides)


def tun_recipe_vips(cluster, hostname):
    documents = compile_documents([inventory_snapshot(cluster)], {})
    recipe = (documents.get(hostname, {}).get("real_server") or {}).get("tun")
    return recipe["vips"] if recipe else []


# Actions ---------------------------------------------------------------------------------------------------


def test_registering_a_host_as_real_server_links_the_real_server_at_its_address():
    service = make_virtual_service(address="198.51.100.10")
    rs = make_real_server(virtual_service=service, address="203.0.113.11")
    host = web1()

    actions.assign_host_role(acting_user=None, cluster=service.cluster, host=host, role="real_server")

    rs.refresh_from_db()
    assert rs.host == host
    assert tun_recipe_vips(service.cluster, "web1") == ["198.51.100.10"]
    entry = AuditEntry.objects.get(action="real_server.update", object_id=str(rs.pk))
    assert entry.changes["host"] == [None, host.pk]


def test_a_new_real_server_is_linked_to_the_host_with_its_address_and_the_host_gets_the_role():
    service = make_virtual_service(address="198.51.100.10")
    host = web1()

    rs = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.11"})

    assert rs.host == host
    assert ClusterHost.objects.get(cluster=service.cluster, host=host).role == "real_server"
    assert tun_recipe_vips(service.cluster, "web1") == ["198.51.100.10"]


def test_a_declared_other_address_links_too():
    service = make_virtual_service(address="198.51.100.10")
    host = make_host(hostname="web2", management_address="192.0.2.12")
    actions.update_host(acting_user=None, host=host, changes={"other_addresses": "203.0.113.12,  2001:db8::12"})

    rs = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.12"})

    assert rs.host == host
    host.refresh_from_db()
    assert host.other_addresses == "203.0.113.12, 2001:db8::12"


def test_giving_a_host_its_address_later_links_the_real_servers_of_its_clusters():
    service = make_virtual_service(address="198.51.100.10")
    rs = make_real_server(virtual_service=service, address="203.0.113.13")
    host = make_host(hostname="web3", management_address="192.0.2.13")
    actions.assign_host_role(acting_user=None, cluster=service.cluster, host=host, role="real_server")
    assert RealServer.objects.get(pk=rs.pk).host is None

    actions.update_host(acting_user=None, host=host, changes={"other_addresses": "203.0.113.13"})

    assert RealServer.objects.get(pk=rs.pk).host == host


def test_a_link_never_crosses_teams():
    service = make_virtual_service(address="198.51.100.10")
    theirs = make_team()
    make_host(hostname="their-web1", management_address="203.0.113.11", team=theirs)
    make_host(hostname="their-web3", management_address="203.0.113.13", team=theirs)
    ours = web1()

    linked = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.11"})
    unlinked = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.13"})

    assert (linked.host, unlinked.host) == (ours, None)
    assert list(ClusterHost.objects.filter(cluster=service.cluster).values_list("host__hostname", flat=True)) == [
        "web1"
    ]


def test_a_real_server_configured_by_hand_is_not_linked():
    service = make_virtual_service(address="198.51.100.10")
    web1()
    rs = actions.create_real_server(
        acting_user=None,
        virtual_service=service,
        fields={"address": "203.0.113.11", "configured_by_hand": True},
    )
    assert rs.host is None


def test_a_director_of_the_cluster_is_never_linked_and_cannot_be_named():
    service = make_virtual_service(address="198.51.100.10")
    director = web1()
    make_cluster_host(cluster=service.cluster, host=director)

    rs = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.11"})
    assert rs.host is None

    with pytest.raises(ValidationError) as exc:
        actions.update_real_server(acting_user=None, real_server=rs, changes={"host": director})
    assert "web1 directs cluster" in exc.value.message_dict["host"][0]


def test_linking_a_host_by_hand_gives_it_the_role_so_that_the_recipe_reaches_it():
    service = make_virtual_service(address="198.51.100.10")
    rs = make_real_server(virtual_service=service, address="203.0.113.20")
    host = make_host(hostname="web9", management_address="192.0.2.99")

    actions.update_real_server(acting_user=None, real_server=rs, changes={"host": host})

    assert ClusterHost.objects.get(cluster=service.cluster, host=host).role == "real_server"
    assert tun_recipe_vips(service.cluster, "web9") == ["198.51.100.10"]


# The cluster page ------------------------------------------------------------------------------------------


@pytest.fixture
def owner_client(client, team_owner):
    client.force_login(team_owner)
    return client


def test_the_cluster_page_flags_a_tun_real_server_nothing_configures_until_a_host_is_linked(owner_client):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10")
    make_real_server(virtual_service=service, address="203.0.113.11")
    make_real_server(virtual_service=service, address="203.0.113.30", forward_method="nat", port=8080)

    html = owner_client.get("/clusters/web/").content.decode()
    assert "1 TUN/DR real server that nothing configures" in html
    assert DROPPED in html
    assert html.count("data-unconfigured") == 1

    actions.assign_host_role(acting_user=None, cluster=cluster, host=web1(), role="real_server")

    html = owner_client.get("/clusters/web/").content.decode()
    assert "nothing configures" not in html
    assert "data-unconfigured" not in html


def test_the_flag_says_when_the_linked_host_has_no_agent_or_no_role(owner_client):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10")
    host = make_host(hostname="web1", management_address="203.0.113.11")
    rs = actions.create_real_server(acting_user=None, virtual_service=service, fields={"address": "203.0.113.11"})
    assert rs.host == host

    html = owner_client.get("/clusters/web/").content.decode()
    assert "its host web1 has no agent (never enrolled)" in html

    actions.remove_host_role(acting_user=None, cluster_host=ClusterHost.objects.get(host=host))
    html = owner_client.get("/clusters/web/").content.decode()
    assert "its host web1 has no role in this cluster" in html


def test_marking_a_real_server_configured_by_hand_in_the_form_clears_the_flag(owner_client):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10")
    rs = make_real_server(virtual_service=service, address="203.0.113.11")
    form = owner_client.get(f"/clusters/web/real-servers/{rs.pk}/edit/").content.decode()
    assert "configured by hand" in form.lower()
    assert "automatic: the team&#x27;s host with this address" in form

    response = owner_client.post(
        f"/clusters/web/real-servers/{rs.pk}/edit/",
        {
            "address": "203.0.113.11",
            "port": "80",
            "weight": "1",
            "forward_method": "tun",
            "tunnel_type": "ipip",
            "tunnel_checksum": "none",
            "upper_threshold": "0",
            "lower_threshold": "0",
            "state": "active",
            "configured_by_hand": "on",
        },
    )

    assert response.status_code == 302
    assert RealServer.objects.get(pk=rs.pk).configured_by_hand
    assert "nothing configures" not in owner_client.get("/clusters/web/").content.decode()


def test_the_form_links_the_host_with_the_address_when_the_host_is_left_automatic(owner_client):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10")
    host = web1()
    response = owner_client.post(
        f"/clusters/web/services/{service.pk}/real-servers/new/",
        {
            "address": "203.0.113.11",
            "port": "",
            "weight": "1",
            "forward_method": "tun",
            "tunnel_type": "ipip",
            "tunnel_checksum": "none",
            "upper_threshold": "0",
            "lower_threshold": "0",
            "state": "active",
            "host": "",
        },
    )
    assert response.status_code == 302
    assert RealServer.objects.get().host == host


# API -------------------------------------------------------------------------------------------------------


def test_the_api_links_automatically_and_takes_configured_by_hand(api):
    service = make_virtual_service(address="198.51.100.10")
    web1()
    response = api.post("/api/real-servers/", {"virtual_service": service.pk, "address": "203.0.113.11"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["host"] == "web1"
    assert response.json()["configured_by_hand"] is False

    response = api.post(
        "/api/real-servers/",
        {"virtual_service": service.pk, "address": "203.0.113.40", "configured_by_hand": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["host"] is None
    assert response.json()["configured_by_hand"] is True


def test_the_api_takes_a_hosts_other_addresses_and_refuses_bad_ones(api):
    response = api.post(
        "/api/hosts/",
        {"team": default_team().slug, "hostname": "web5", "management_address": "192.0.2.5", "other_addresses": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "“x” is not an IP address" in response.json()["other_addresses"][0]
