"""Console pages of the inventory: dashboard, cluster list and page, and the create/edit/delete forms.

Permissions per role for every page are in tests/teams/matrix_rows/console.py; here: what each page shows,
what its forms do to the database, and how they answer bad input.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEntry
from clusters.models import Cluster, RealServer, VirtualService
from dispatch.models import Deployment, Revision
from teams.choices import TeamRole
from tests.factories import (
    default_team,
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
def staff_client(client, team_owner):
    client.force_login(team_owner)
    return client


@pytest.fixture
def viewer_client(client):
    user = make_user(staff=False)
    make_member(user, role=TeamRole.VIEWER)
    client.force_login(user)
    return client


def html_of(response) -> str:
    return response.content.decode()


# Dashboard ---------------------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_signed_in_users_outside_the_team_see_no_clusters(client):
    make_cluster(name="web frontend", slug="web")
    client.force_login(make_user(staff=True))
    response = client.get("/")
    assert response.status_code == 200
    assert "web frontend" not in html_of(response)
    assert "ask an owner" in html_of(response).lower()
    assert client.get("/clusters/web/").status_code == 404


def test_the_dashboard_shows_health_at_a_glance(staff_client):
    web = make_cluster(name="web frontend", slug="web")
    make_cluster(name="mail relays", slug="mail")
    service = make_virtual_service(cluster=web)
    make_real_server(virtual_service=service, address="203.0.113.1")
    make_real_server(virtual_service=service, address="203.0.113.2", state="draining")
    make_real_server(virtual_service=service, address="203.0.113.3", state="disabled")
    make_cluster_host(cluster=web, host=make_host(public_key="k" * 43, agent_status="online"))
    make_cluster_host(cluster=web, host=make_host(public_key="k" * 43, agent_status="online", drift=[{"op": "x"}]))
    make_cluster_host(cluster=web, host=make_host(public_key="k" * 43, agent_status="offline"), role="real_server")
    make_cluster_host(cluster=web, host=make_host(), role="real_server")
    html = html_of(staff_client.get("/"))
    for text in (
        "1 in sync",
        "1 drifted",
        "1 agent offline",
        "1 never enrolled",
        "1 active",
        "1 draining",
        "1 disabled",
    ):
        assert text in html, text
    assert "mail relays" in html
    assert 'href="/clusters/web/"' in html
    assert "Needs a look" in html  # drift and an offline agent


def test_the_dashboard_shows_the_last_apply(staff_client):
    cluster = make_cluster(slug="web")
    host = make_host()
    make_cluster_host(cluster=cluster, host=host)
    revision = Revision.objects.create(cluster=cluster, number=3, inventory={}, created_by_name="otto")
    Deployment.objects.create(
        cluster=cluster, revision=revision, host=host, status="failed", expires_at=timezone.now(), kind="apply"
    )
    html = html_of(staff_client.get("/"))
    assert "revision 3" in html
    assert '<span class="badge failed">failed</span>' in html
    assert "by otto" in html


def test_an_empty_dashboard_says_how_to_begin(staff_client):
    html = html_of(staff_client.get("/"))
    assert "No clusters yet" in html
    assert 'href="/clusters/new/"' in html
    assert 'href="/accounts/tokens/"' in html  # for those who script it


def test_a_viewer_without_clusters_is_told_who_can_create_them(viewer_client):
    html = html_of(viewer_client.get("/"))
    assert "operators and owners can create them" in html
    assert 'href="/clusters/new/"' not in html


def test_the_dashboard_uses_the_same_queries_for_one_cluster_or_many(staff_client, django_assert_num_queries):
    make_real_server(virtual_service=make_virtual_service(cluster=make_cluster()))
    staff_client.get("/")  # the first request of a session may do extra work
    # session, user, their team roles, the navigation's teams, count, page, hosts, real servers by state,
    # live traffic totals; for the unapplied changes: latest revisions, services, real servers, host roles,
    # VIP groups; alert channels failing for an hour
    with django_assert_num_queries(15) as one:
        staff_client.get("/")
    for _ in range(6):
        cluster = make_cluster()
        make_cluster_host(cluster=cluster)
        make_real_server(virtual_service=make_virtual_service(cluster=cluster))
    with django_assert_num_queries(len(one.captured_queries)):
        response = staff_client.get("/")
    assert html_of(response).count('<td data-label="Cluster">') == 7


# Cluster list ------------------------------------------------------------------------------------------


def test_the_cluster_list_sorts_and_filters(staff_client):
    make_cluster(name="alpha", slug="alpha")
    beta = make_cluster(name="beta", slug="beta")
    make_virtual_service(cluster=beta)
    html = html_of(staff_client.get("/clusters/?sort=-name"))
    assert html.index(">beta<") < html.index(">alpha<")
    html = html_of(staff_client.get("/clusters/?sort=services"))
    assert html.index(">alpha<") < html.index(">beta<")
    assert 'href="?sort=-services"' in html  # clicking the sorted column again reverses it
    html = html_of(staff_client.get("/clusters/?q=bet"))
    assert ">beta<" in html and ">alpha<" not in html
    assert "No cluster matches" in html_of(staff_client.get("/clusters/?q=zzz"))


# Cluster page ------------------------------------------------------------------------------------------


def test_the_cluster_page_shows_hosts_services_and_real_servers(staff_client):
    cluster = make_cluster(name="shop", slug="shop")
    director = make_cluster_host(cluster=cluster).host
    service = make_virtual_service(cluster=cluster, address="2001:db8::443", port=443, name="shop https")
    make_real_server(virtual_service=service, address="2001:db8::11", state="draining")
    make_virtual_service(cluster=cluster, protocol="fwmark", address=None, port=None, fwmark=7)
    response = staff_client.get("/clusters/shop/")
    assert response.status_code == 200
    html = html_of(response)
    for text in (director.hostname, "TCP [2001:db8::443]:443", "shop https", "[2001:db8::11]:443", "draining", "FWM 7"):
        assert text in html
    assert "No real servers" in html  # the firewall-mark service has none yet
    assert "never enrolled" in html  # the director's agent
    assert 'href="/clusters/shop/plan/"' in html
    assert 'href="/clusters/shop/services/new/"' in html


def test_a_viewer_sees_the_cluster_without_change_buttons(viewer_client):
    cluster = make_cluster(slug="shop")
    rs = make_real_server(virtual_service=make_virtual_service(cluster=cluster))
    html = html_of(viewer_client.get("/clusters/shop/"))
    assert rs.endpoint in html
    for link in ("/services/new/", "/edit/", "/delete/", "/drain/", "/plan/"):
        assert link not in html, link


def test_an_unknown_cluster_page_is_404(staff_client):
    response = staff_client.get("/clusters/nope/")
    assert response.status_code == 404
    assert "that your teams can see" in html_of(response)


def test_the_cluster_page_filters_services_by_vip_or_real_server(staff_client):
    cluster = make_cluster(slug="shop")
    make_virtual_service(cluster=cluster, address="198.51.100.1", port=80)
    other = make_virtual_service(cluster=cluster, address="198.51.100.2", port=80)
    make_real_server(virtual_service=other, address="203.0.113.77")
    html = html_of(staff_client.get("/clusters/shop/?q=203.0.113.77"))
    assert "198.51.100.2:80" in html and "198.51.100.1:80" not in html
    html = html_of(staff_client.get("/clusters/shop/?q=198.51.100.1"))
    assert "198.51.100.1:80" in html and "198.51.100.2:80" not in html


def test_the_cluster_page_sorts_services(staff_client):
    cluster = make_cluster(slug="shop")
    make_virtual_service(cluster=cluster, address="198.51.100.1", port=443, name="b")
    make_virtual_service(cluster=cluster, address="198.51.100.2", port=80, name="a")
    html = html_of(staff_client.get("/clusters/shop/?sort=port"))
    assert html.index("198.51.100.2:80") < html.index("198.51.100.1:443")
    html = html_of(staff_client.get("/clusters/shop/?sort=-port"))
    assert html.index("198.51.100.1:443") < html.index("198.51.100.2:80")


def test_the_cluster_page_uses_the_same_queries_for_few_or_many_services(staff_client):
    cluster = make_cluster(slug="big")
    make_cluster_host(cluster=cluster)
    make_real_server(virtual_service=make_virtual_service(cluster=cluster), host=make_host())
    staff_client.get("/clusters/big/")
    with CaptureQueriesContext(connection) as few:
        staff_client.get("/clusters/big/")
    for _ in range(5):
        make_cluster_host(cluster=cluster, role="real_server")
        service = make_virtual_service(cluster=cluster)
        make_real_server(virtual_service=service, host=make_host())
        make_real_server(virtual_service=service)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get("/clusters/big/")
    assert html_of(response).count('class="card service"') == 6
    assert len(many.captured_queries) == len(few.captured_queries)


def bulk_cluster(slug: str, services: int, real_servers: int, port: int = 80) -> Cluster:
    """A cluster with `services` × `real_servers`, written in bulk (the factories validate one by one)."""
    cluster = make_cluster(slug=slug)
    VirtualService.objects.bulk_create(
        VirtualService(cluster=cluster, address=f"10.{n // 250}.{n % 250}.1", port=port) for n in range(services)
    )
    RealServer.objects.bulk_create(
        RealServer(virtual_service=service, address=f"172.{16 + n // 250}.{n % 250}.{i + 1}", port=port)
        for n, service in enumerate(cluster.virtual_services.all())
        for i in range(real_servers)
    )
    return cluster


def test_a_cluster_of_1000_services_by_10_real_servers_renders_in_constant_queries(
    staff_client, django_assert_num_queries
):
    make_cluster_host(cluster=bulk_cluster("small", 1, 1), host=make_host())
    staff_client.get("/clusters/small/")
    with CaptureQueriesContext(connection) as small:
        staff_client.get("/clusters/small/")
    big = bulk_cluster("big", 1000, 10, port=8080)  # no VIP:port of "small" (that would add a warning's queries)
    make_cluster_host(cluster=big, host=make_host())
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get("/clusters/big/")
    html = html_of(response)
    assert html.count('class="card service"') == 25  # one page of services …
    assert html.count('<tr id="rs-') == 250  # … with all their real servers
    assert "Page 1 of 40" in html
    last = html_of(staff_client.get("/clusters/big/?page=40"))
    assert last.count('class="card service"') == 25
    assert 'rel="prev"' in last and 'rel="next"' not in last


# Cluster create, edit, delete ----------------------------------------------------------------------------


def test_creating_a_cluster_redirects_to_it_and_is_audited(staff_client):
    team = default_team()
    response = staff_client.post(
        "/clusters/new/", {"team": team.pk, "name": "web frontend", "slug": "web", "drain_timeout": "300"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/clusters/web/"
    cluster = Cluster.objects.get(slug="web")
    assert cluster.team == team
    assert AuditEntry.objects.filter(action="cluster.create", object_id=str(cluster.pk)).exists()
    assert "Cluster “web frontend” created" in html_of(staff_client.get("/clusters/web/"))


def test_the_new_cluster_form_offers_the_only_team_already_chosen(staff_client):
    html = html_of(staff_client.get("/clusters/new/"))
    assert f'<option value="{default_team().pk}" selected>' in html


def test_a_bad_cluster_form_shows_errors_next_to_the_fields_and_keeps_the_input(staff_client):
    make_cluster(name="taken", slug="taken")
    response = staff_client.post(
        "/clusters/new/", {"team": default_team().pk, "name": "taken", "slug": "not a slug!", "drain_timeout": "-1"}
    )
    assert response.status_code == 400
    html = html_of(response)
    assert 'id="field-slug"' in html and "has-error" in html
    assert "letters, numbers, underscores or hyphens" in html
    assert 'value="not a slug!"' in html  # what the user typed is kept
    assert Cluster.objects.count() == 1


def test_a_duplicate_cluster_name_is_refused_by_the_action_with_its_message(staff_client):
    make_cluster(name="taken", slug="taken")
    response = staff_client.post(
        "/clusters/new/", {"team": default_team().pk, "name": "taken", "slug": "fresh", "drain_timeout": "300"}
    )
    assert response.status_code == 400
    assert "This team already has a cluster with this name; choose another." in html_of(response)
    assert 'value="fresh"' in html_of(response)


def test_the_slug_new_is_reserved_for_the_console(staff_client):
    response = staff_client.post(
        "/clusters/new/", {"team": default_team().pk, "name": "New", "slug": "new", "drain_timeout": "300"}
    )
    assert response.status_code == 400
    assert "address of a console page" in html_of(response)


def test_editing_a_cluster_keeps_its_team(staff_client):
    cluster = make_cluster(name="web", slug="web")
    assert 'name="team"' not in html_of(staff_client.get("/clusters/web/edit/"))
    response = staff_client.post(
        "/clusters/web/edit/", {"name": "web (Frankfurt)", "slug": "web-fra", "description": "", "drain_timeout": "30"}
    )
    assert response.status_code == 302 and response["Location"] == "/clusters/web-fra/"
    cluster.refresh_from_db()
    assert (cluster.name, cluster.slug, cluster.drain_timeout) == ("web (Frankfurt)", "web-fra", 30)


def test_a_viewer_is_told_why_they_cannot_edit(viewer_client):
    make_cluster(slug="web")
    response = viewer_client.get("/clusters/web/edit/")
    assert response.status_code == 403
    assert "you need the operator or owner role" in html_of(response)


def test_the_delete_page_names_what_will_be_deleted(staff_client):
    cluster = make_cluster(name="web", slug="web")
    service = make_virtual_service(cluster=cluster)
    make_real_server(virtual_service=service, address="203.0.113.1")
    make_real_server(virtual_service=service, address="203.0.113.2")
    host = make_cluster_host(cluster=cluster).host
    html = html_of(staff_client.get("/clusters/web/delete/"))
    assert "Delete cluster “web”?" in html
    assert "<strong>1</strong> virtual service and <strong>2</strong> real servers" in html
    assert host.hostname in html
    response = staff_client.post("/clusters/web/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Cluster.objects.filter(slug="web").exists()
    assert AuditEntry.objects.filter(action="cluster.delete").exists()


# Virtual services --------------------------------------------------------------------------------------

SERVICE = {
    "protocol": "tcp",
    "address": "198.51.100.10",
    "port": "80",
    "address_family": "ipv4",
    "scheduler": "wlc",
    "persistence_timeout": "0",
    "forward_method": "tun",
    "enabled": "on",
}


def test_the_service_form_explains_the_forwarding_methods(staff_client):
    make_cluster(slug="web")
    html = html_of(staff_client.get("/clusters/web/services/new/"))
    assert "No port mapping" in html
    assert "<code>ipip</code>" in html
    assert "MTU 1480" in html
    assert 'data-method-help="forwarding-methods"' in html


def test_adding_a_virtual_service(staff_client):
    cluster = make_cluster(slug="web")
    response = staff_client.post("/clusters/web/services/new/", {**SERVICE, "name": "www"})
    service = VirtualService.objects.get(cluster=cluster)
    assert response.status_code == 302
    assert response["Location"] == f"/clusters/web/#vs-{service.pk}"
    assert (service.address, service.port, service.name, service.scheduler) == ("198.51.100.10", 80, "www", "wlc")


def test_a_bad_vip_is_shown_next_to_the_field(staff_client):
    make_cluster(slug="web")
    response = staff_client.post("/clusters/web/services/new/", {**SERVICE, "address": "198.51.100.300"})
    assert response.status_code == 400
    html = html_of(response)
    assert 'id="field-address"' in html
    assert "Enter a valid IPv4 or IPv6 address." in html
    assert 'value="198.51.100.300"' in html
    assert not VirtualService.objects.exists()


def test_every_bad_field_of_the_service_form_is_shown_at_once_as_the_api_does(staff_client, api):
    cluster = make_cluster(slug="web")
    bad = {**SERVICE, "address": "198.51.100.300", "port": "70000"}  # a bad VIP and a port out of range
    assert api.post("/api/virtual-services/", {**bad, "cluster": cluster.slug}).json() == {
        "address": ["Enter a valid IPv4 or IPv6 address."],
        "port": ["Ensure this value is less than or equal to 65535."],
    }
    response = staff_client.post("/clusters/web/services/new/", bad)
    assert response.status_code == 400
    html = html_of(response)
    assert "Enter a valid IPv4 or IPv6 address." in html
    assert "Ensure this value is less than or equal to 65535." in html
    # A parse error and an error of the model's own rules (one-packet is for UDP) show together too.
    html = html_of(staff_client.post("/clusters/web/services/new/", {**bad, "port": "80", "one_packet": "on"}))
    assert "Enter a valid IPv4 or IPv6 address." in html
    assert "One-packet scheduling applies only to UDP (and firewall-mark) services." in html
    assert not VirtualService.objects.exists()


def test_a_duplicate_vip_gets_the_actions_message(staff_client):
    cluster = make_cluster(slug="web")
    make_virtual_service(cluster=cluster, address="198.51.100.10", port=80)
    response = staff_client.post("/clusters/web/services/new/", SERVICE)
    assert response.status_code == 400
    assert "already" in html_of(response)
    assert VirtualService.objects.count() == 1


def test_editing_a_service_moves_its_tun_real_servers_to_the_new_port(staff_client):
    cluster = make_cluster(slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10", port=80)
    rs = make_real_server(virtual_service=service, port=80)
    response = staff_client.post(f"/clusters/web/services/{service.pk}/edit/", {**SERVICE, "port": "8080"})
    assert response.status_code == 302
    rs.refresh_from_db()
    assert rs.port == 8080


def test_a_service_of_another_cluster_is_404_under_this_one(staff_client):
    make_cluster(slug="web")
    other = make_virtual_service(cluster=make_cluster(slug="mail"))
    assert staff_client.get(f"/clusters/web/services/{other.pk}/edit/").status_code == 404


def test_deleting_a_service_lists_its_real_servers_first(staff_client):
    service = make_virtual_service(cluster=make_cluster(slug="web"))
    make_real_server(virtual_service=service, address="203.0.113.5")
    html = html_of(staff_client.get(f"/clusters/web/services/{service.pk}/delete/"))
    assert f"Delete virtual service {service.endpoint}?" in html
    assert "203.0.113.5" in html
    response = staff_client.post(f"/clusters/web/services/{service.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/clusters/web/"
    assert not VirtualService.objects.exists() and not RealServer.objects.exists()


# Real servers ------------------------------------------------------------------------------------------

REAL_SERVER = {
    "address": "203.0.113.10",
    "port": "",
    "weight": "1",
    "forward_method": "tun",
    "tunnel_type": "ipip",
    "tunnel_checksum": "none",
    "upper_threshold": "0",
    "lower_threshold": "0",
    "state": "active",
}


def test_adding_a_tun_real_server_takes_the_virtual_port(staff_client):
    service = make_virtual_service(cluster=make_cluster(slug="web"), port=443)
    response = staff_client.post(f"/clusters/web/services/{service.pk}/real-servers/new/", REAL_SERVER)
    assert response.status_code == 302
    assert response["Location"] == f"/clusters/web/#vs-{service.pk}"
    rs = RealServer.objects.get()
    assert (rs.address, rs.port, rs.forward_method) == ("203.0.113.10", 443, "tun")


def test_a_tun_port_mismatch_is_explained_next_to_the_port(staff_client):
    service = make_virtual_service(cluster=make_cluster(slug="web"), port=80)
    response = staff_client.post(
        f"/clusters/web/services/{service.pk}/real-servers/new/", {**REAL_SERVER, "port": "8080"}
    )
    assert response.status_code == 400
    html = html_of(response)
    assert "In TUN mode the real server port must equal the virtual port (80)" in html
    assert html.index('id="field-port"') < html.index("In TUN mode") < html.index('id="field-weight"')
    assert 'value="8080"' in html
    assert not RealServer.objects.exists()


def test_the_new_real_server_form_starts_from_the_services_method(staff_client):
    service = make_virtual_service(cluster=make_cluster(slug="web"), forward_method="nat")
    html = html_of(staff_client.get(f"/clusters/web/services/{service.pk}/real-servers/new/"))
    assert '<option value="nat" selected>' in html


def test_editing_a_real_server_goes_back_where_the_user_was(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    response = staff_client.post(
        f"/clusters/web/real-servers/{rs.pk}/edit/",
        {**REAL_SERVER, "address": rs.address, "weight": "9", "next": "/clusters/web/?page=2"},
    )
    assert response.status_code == 302 and response["Location"] == "/clusters/web/?page=2"
    rs.refresh_from_db()
    assert rs.weight == 9


def test_next_never_leads_off_the_site(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    response = staff_client.post(f"/clusters/web/real-servers/{rs.pk}/drain/", {"next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == f"/clusters/web/#vs-{rs.virtual_service_id}"


def test_drain_without_javascript_redirects_back_with_a_message(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    response = staff_client.post(f"/clusters/web/real-servers/{rs.pk}/drain/", {"next": "/clusters/web/"}, follow=True)
    rs.refresh_from_db()
    assert rs.state == "draining"
    assert f"Real server {rs.endpoint} is now draining." in html_of(response)
    assert AuditEntry.objects.filter(action="real_server.drain", object_id=str(rs.pk)).exists()


def test_drain_with_htmx_answers_the_new_row(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    response = staff_client.post(
        f"/clusters/web/real-servers/{rs.pk}/drain/", {"next": "/clusters/web/"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = html_of(response)
    assert html.strip().startswith(f'<tr id="rs-{rs.pk}"')
    assert '<span class="badge draining"' in html
    assert f"/clusters/web/real-servers/{rs.pk}/enable/" in html  # the next click
    assert "/drain/" not in html
    enable = staff_client.post(f"/clusters/web/real-servers/{rs.pk}/enable/", HTTP_HX_REQUEST="true")
    assert '<span class="badge active"' in html_of(enable)
    rs.refresh_from_db()
    assert rs.state == "active"


def test_disable_asks_to_confirm_first(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    page = staff_client.get(f"/clusters/web/real-servers/{rs.pk}/disable/")
    assert "removed from the directors' kernels" in html_of(page)
    rs.refresh_from_db()
    assert rs.state == "active"  # looking changes nothing
    staff_client.post(f"/clusters/web/real-servers/{rs.pk}/disable/")
    rs.refresh_from_db()
    assert rs.state == "disabled"


def test_an_unknown_verb_is_404(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    assert staff_client.post(f"/clusters/web/real-servers/{rs.pk}/reboot/").status_code == 404


def test_a_viewer_cannot_drain(viewer_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    response = viewer_client.post(f"/clusters/web/real-servers/{rs.pk}/drain/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    rs.refresh_from_db()
    assert rs.state == "active"


def test_deleting_a_real_server_warns_when_it_is_still_active(staff_client):
    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    html = html_of(staff_client.get(f"/clusters/web/real-servers/{rs.pk}/delete/"))
    assert "It is still active" in html
    response = staff_client.post(f"/clusters/web/real-servers/{rs.pk}/delete/")
    assert response.status_code == 302
    assert not RealServer.objects.exists()
    assert AuditEntry.objects.filter(action="real_server.delete").exists()
