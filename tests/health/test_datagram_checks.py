"""UDP, DNS and SCTP checks in the console: validation naming the field, the API, the form, the documents."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from lvsweb_agent.document import parse_document
from rest_framework.test import APIClient

from clusters import actions
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.models import HealthCheck
from tests.factories import make_member, make_real_server, make_user, make_virtual_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def udp_service(lab):
    """A UDP DNS service on the lab's VIP with rs1 in TUN mode."""
    service = make_virtual_service(cluster=lab.cluster, protocol="udp", address="10.10.0.100", port=53, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11", forward_method="tun", host=lab.rs1)
    return service


def refused(service, **fields) -> dict:
    with pytest.raises(ValidationError) as caught:
        actions.set_health_check(acting_user=None, virtual_service=service, fields=fields)
    assert not HealthCheck.objects.exists(), "nothing is saved when a value is refused"
    return caught.value.message_dict


def test_a_udp_service_is_not_checked_by_an_sctp_connect(udp_service):
    errors = refused(udp_service, check_type="sctp")
    assert errors["check_type"] == [
        "A UDP service needs a check that speaks UDP: UDP exchange or DNS query (UDP) or TCP connect or HTTP GET "
        f"or HTTPS GET (a {dict(HealthCheck._meta.get_field('check_type').choices)['sctp']} says nothing about it)."
    ]


@pytest.mark.parametrize("kind", ["tcp", "http"])
def test_a_udp_service_may_be_checked_over_tcp_as_keepalived_allows(udp_service, kind):
    # keepalived's TCP_CHECK on a DNS service (UDP/53 served on TCP/53 too): an import must not be refused for it.
    check = actions.set_health_check(acting_user=None, virtual_service=udp_service, fields={"check_type": kind})
    assert HealthCheck.objects.get(pk=check.pk).check_type == kind


def test_tcp_and_sctp_services_refuse_udp_probes(lab):
    assert "A TCP service needs a check" in refused(lab.service, check_type="dns")["check_type"][0]
    sctp = make_virtual_service(cluster=lab.cluster, protocol="sctp", address="10.10.0.100", port=3868)
    assert "SCTP connect" in refused(sctp, check_type="udp")["check_type"][0]
    assert actions.set_health_check(acting_user=None, virtual_service=sctp, fields={"check_type": "sctp"}).pk


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"check_type": "udp", "payload": "zz", "payload_hex": True}, "payload", "hex digits in pairs"),
        ({"check_type": "udp", "reply_match": "prefix"}, "reply_pattern", "Give the pattern"),
        ({"check_type": "udp", "reply_match": "regex", "reply_pattern": "(ok"}, "reply_pattern", "Not a regular"),
        ({"check_type": "udp", "reply_match": "prefix", "payload_hex": True, "reply_pattern": "xyz"},
         "reply_pattern", "hex digits"),
        ({"check_type": "udp", "reply_pattern": "ok"}, "reply_pattern", "takes no pattern"),
        ({"check_type": "udp", "query_type": "A"}, "query_type", "applies only to DNS checks"),
        ({"check_type": "dns", "payload": "x"}, "payload", "applies only to UDP checks"),
        ({"check_type": "dns", "query_name": "a b.example"}, "query_name", "Give a domain name"),
        ({"check_type": "udp", "path": "/x"}, "path", "apply only to HTTP and HTTPS"),
    ],
)  # fmt: skip
def test_bad_udp_and_dns_settings_name_the_field(udp_service, fields, field, words):
    errors = refused(udp_service, **fields)
    assert any(words in message for message in errors[field]), errors


def test_udp_and_dns_checks_compile_into_documents_the_agent_accepts(lab, udp_service):
    fields = {"check_type": "udp", "payload": "50494e47", "payload_hex": True}
    fields |= {"reply_match": "prefix", "reply_pattern": "504f4e47", "timeout": 1}
    actions.set_health_check(acting_user=None, virtual_service=udp_service, fields=fields)
    override = udp_service.real_servers.get()
    actions.set_health_check(
        acting_user=None,
        real_server=override,
        fields={"check_type": "dns", "query_name": "example.net", "query_type": "A"},
    )
    director = compile_documents([inventory_snapshot(lab.cluster)], {})["director"]
    [service] = [s for s in director["director"]["services"] if s["protocol"] == "udp"]
    assert service["real_servers"][0]["health_check"] == {
        "type": "dns", "port": None, "interval": 5.0, "timeout": 3.0, "rise": 2, "fall": 3,
        "on_failure": "weight0", "query_name": "example.net", "query_type": "A",
    }  # fmt: skip
    parsed = next(s for s in parse_document(director).director.services if s.key.protocol == "udp")
    check = parsed.real_servers[0].health
    assert (check.type, check.query_name, check.query_type) == ("dns", "example.net", "A")
    HealthCheck.objects.filter(real_server=override).delete()
    director = compile_documents([inventory_snapshot(lab.cluster)], {})["director"]
    [service] = [s for s in director["director"]["services"] if s["protocol"] == "udp"]
    document = service["real_servers"][0]["health_check"]
    assert (document["payload"], document["payload_hex"], document["reply_pattern"]) == ("50494e47", True, "504f4e47")
    udp = next(s for s in parse_document(director).director.services if s.key.protocol == "udp")
    assert udp.real_servers[0].health.payload == b"PING"


def test_snapshots_of_tcp_checks_hold_no_udp_settings(lab):
    actions.set_health_check(acting_user=None, virtual_service=lab.service, fields={"check_type": "tcp"})
    saved = next(s for s in inventory_snapshot(lab.cluster)["virtual_services"] if s["port"] == 80)["health_check"]
    assert "payload" not in saved and "query_name" not in saved and saved["check_type"] == "tcp"


def api_client():
    user = make_user(staff=False)
    make_member(user, role="operator")
    client = APIClient()
    client.force_login(user)
    return client


def test_the_api_sets_a_dns_check_and_refuses_a_tcp_one_on_a_udp_service(udp_service):
    api = api_client()
    refused_body = {"virtual_service": udp_service.pk, "check_type": "sctp"}
    response = api.post("/api/health-checks/", refused_body, format="json")
    assert response.status_code == 400
    assert "needs a check that speaks UDP" in response.json()["check_type"][0]
    body = {"virtual_service": udp_service.pk, "check_type": "dns", "query_name": "example.net", "query_type": "AAAA"}
    response = api.post("/api/health-checks/", body, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["query_type"], response.json()["reply_match"]) == ("AAAA", "none")
    response = api.patch(f"/api/health-checks/{response.json()['id']}/", {"query_type": "MX"}, format="json")
    assert (response.status_code, response.json()["query_type"]) == (200, "MX")
    bad = api.patch(f"/api/health-checks/{response.json()['id']}/", {"query_type": "WKS"}, format="json")
    assert bad.status_code == 400 and "query_type" in bad.json()


def test_the_form_offers_only_the_checks_that_speak_the_services_protocol(udp_service):
    user = make_user(staff=False)
    make_member(user, role="operator")
    client = Client()
    client.force_login(user)
    url = f"/clusters/web/services/{udp_service.pk}/health/"
    page = client.get(url).content.decode()
    assert 'value="udp"' in page and 'value="dns"' in page and 'value="sctp"' not in page
    # UDP's own check is the default, and TCP ones are offered for servers that listen on TCP too (TCP_CHECK)
    assert 'value="udp" selected' in page and 'value="tcp"' in page
    assert 'name="payload"' in page and 'name="query_name"' in page
    fields = {"check_type": "udp", "payload": "ping", "reply_match": "regex", "reply_pattern": "^pong"}
    fields |= {"interval": 5, "timeout": 2, "rise": 2, "fall": 3, "on_failure": "weight0", "quorum": 0}
    fields |= {"sorry_forward_method": "dr", "query_name": ".", "query_type": "SOA"}
    fields |= {"path": "/", "expect_status_min": 200, "expect_status_max": 399}  # the HTTP settings as rendered
    response = client.post(url, fields)
    assert response.status_code == 302, response.content.decode()
    check = HealthCheck.objects.get()
    assert (check.check_type, check.payload, check.reply_pattern) == ("udp", "ping", "^pong")
    response = client.post(url, fields | {"check_type": "sctp"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    tcp_page = client.get(url.replace(str(udp_service.pk), str(udp_service.cluster.virtual_services.get(port=80).pk)))
    assert 'name="payload"' not in tcp_page.content.decode() and 'name="path"' in tcp_page.content.decode()


def test_the_health_section_describes_udp_and_dns_checks(lab, udp_service):
    from dispatch.overview import describe

    check = actions.set_health_check(
        acting_user=None,
        virtual_service=udp_service,
        fields={"check_type": "udp", "payload": "ping", "reply_match": "prefix", "reply_pattern": "pong"},
    )
    assert describe(check).startswith("UDP exchange 'ping' expecting prefix 'pong' every 5 s")
    check = actions.set_health_check(
        acting_user=None,
        virtual_service=udp_service,
        fields={"check_type": "dns", "payload": "", "reply_match": "none", "reply_pattern": "", "query_type": "A"},
    )
    assert describe(check).startswith("DNS query (UDP) . A expecting NOERROR every 5 s")


def test_the_tunnel_path_check_is_offered_only_where_it_can_run(lab, udp_service):
    user = make_user(staff=False)
    make_member(user, role="operator")
    client = Client()
    client.force_login(user)
    tcp = client.get(f"/clusters/web/services/{lab.service.pk}/health/").content.decode()
    assert 'name="tunnel_path"' in tcp
    udp = client.get(f"/clusters/web/services/{udp_service.pk}/health/").content.decode()
    assert 'name="tunnel_path"' not in udp
    dr = make_real_server(virtual_service=lab.service, address="10.10.0.21", forward_method="dr")
    override = client.get(f"/clusters/web/real-servers/{dr.pk}/health/").content.decode()
    assert 'name="tunnel_path"' not in override
    tun = client.get(f"/clusters/web/real-servers/{lab.real_server1.pk}/health/").content.decode()
    assert 'name="tunnel_path"' in tun
