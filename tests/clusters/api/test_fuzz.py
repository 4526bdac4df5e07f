"""Hypothesis-made request bodies against every create endpoint: 201 or a JSON 400, never a 500.

Bodies mix plausible values (existing slugs and hostnames, the kernel's choice names, real IPv4 and IPv6
addresses) with junk (wrong types, nulls, huge integers, NUL and lone surrogates, nested containers), so that
examples get past the field checks into the models' own rules and the database.
"""

import ipaddress
import json
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from clusters.choices import (
    ForwardMethod,
    HostRole,
    Protocol,
    RealServerState,
    Scheduler,
    TunnelChecksum,
    TunnelType,
)
from clusters.models import RealServer, VirtualService
from tests.factories import make_cluster, make_host, make_member, make_real_server, make_user, make_virtual_service

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

weird_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(["\x00", "\ud800", "\udfff", "%", "'", '"', "\\", "/", ".", ":", "\u202e", "\n"]),
    ),
    max_size=40,
)
huge_int = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([-1, 0, 2**31, 2**32, 2**63, 10**30])
)
scalar = st.one_of(st.none(), st.booleans(), huge_int, st.floats(), weird_text)
junk = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(weird_text, inner, max_size=3))
ip = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1", "fe80::1%eth0", "10.0.0.256", "1::2::3", ""]),
)
port = st.one_of(st.integers(min_value=-2, max_value=65537), st.sampled_from([80, 443]))


def field(good):
    """Mostly a plausible value for the field, sometimes junk."""
    return st.one_of(good, good, good, junk)


def merge(*parts: dict) -> dict:
    """One dict from several; later parts win."""
    return {key: value for part in parts for key, value in part.items()}


def body(fields: dict, base: dict) -> st.SearchStrategy:
    """A JSON body: a valid `base` with plausible or junk `fields` over it, a sparse junky object, or junk."""
    plausible = st.fixed_dictionaries({}, optional=fields)
    anything = st.fixed_dictionaries({}, optional={name: field(good) for name, good in fields.items()})
    unknown = st.dictionaries(weird_text, junk, max_size=2)
    return st.one_of(
        st.builds(merge, st.fixed_dictionaries(base), plausible),
        st.builds(merge, st.fixed_dictionaries(base), anything),
        st.builds(merge, unknown, anything),
        junk,
    )


def choices(enum) -> st.SearchStrategy:
    return st.sampled_from(enum.values)


SLUGS = ["fuzz", "fuzz-2"]
HOSTNAMES = ["lb1.example.net", "lb2.example.net"]


def world() -> tuple[APIClient, list[int]]:
    """A team owner's client, the clusters and hosts that bodies name, and the ids of three virtual services."""
    cluster, _ = (make_cluster(slug=slug, name=slug) for slug in SLUGS)
    for hostname in HOSTNAMES:
        make_host(hostname=hostname)
    services = [
        make_virtual_service(cluster=cluster),
        make_virtual_service(cluster=cluster, protocol="fwmark", address=None, port=None, fwmark=1),
        make_virtual_service(cluster=cluster, address="2001:db8::1", port=443),
    ]
    user = make_user()
    make_member(user)  # an owner of the team the factories put everything in
    client = APIClient()
    client.force_authenticate(user)
    return client, [service.pk for service in services]


def post(client: APIClient, url: str, data) -> int:
    """POST `data` as JSON; the answer must be 201 or a 400 whose body is a JSON object."""
    # json.dumps escapes lone surrogates (\\ud800) as any client's JSON encoder would.
    response = client.post(url, json.dumps(data), content_type="application/json")
    assert response.status_code in (201, 400), (response.status_code, data, response.content[:500])
    assert response["Content-Type"] == "application/json"
    assert isinstance(response.json(), dict)
    return response.status_code


slug = st.one_of(st.sampled_from(SLUGS), st.from_regex(r"[-a-z0-9_]{1,12}", fullmatch=True), weird_text)
hostname = st.one_of(st.sampled_from(HOSTNAMES), st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True), weird_text)
netmask = st.one_of(
    st.integers(min_value=0, max_value=130).map(str),
    st.integers(min_value=0, max_value=2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.sampled_from(["255.255.255.0", "0.0.0.255", "64", "²", ""]),
    weird_text,
)

vip = st.ip_addresses(v=4).map(str)

# For each endpoint: the fields a body may hold, and a minimal valid body to start from.
BODIES = {
    "/api/clusters/": (
        {"team": st.one_of(st.just("ops"), slug), "name": weird_text, "slug": slug, "description": weird_text},
        {"name": st.text(min_size=1, max_size=30).filter(str.strip), "slug": slug},
    ),
    "/api/hosts/": (
        {
            "team": st.one_of(st.just("ops"), slug),
            "hostname": hostname,
            "management_address": ip,
            "description": weird_text,
            "agent_status": st.sampled_from(["online", "revoked"]),
        },
        {"hostname": st.from_regex(r"[a-z0-9]{1,20}\.example\.net", fullmatch=True), "management_address": ip},
    ),
    "/api/cluster-hosts/": (
        {"cluster": slug, "host": hostname, "role": choices(HostRole)},
        {"cluster": st.sampled_from(SLUGS), "host": st.sampled_from(HOSTNAMES), "role": choices(HostRole)},
    ),
    "/api/virtual-services/": (
        {
            "cluster": slug,
            "name": weird_text,
            "protocol": choices(Protocol),
            "address": ip,
            "port": port,
            "fwmark": st.one_of(st.integers(min_value=-1, max_value=2**32), st.sampled_from([1, 2])),
            "address_family": st.sampled_from(["ipv4", "ipv6"]),
            "scheduler": choices(Scheduler),
            "sched_fallback": st.booleans(),
            "sched_port": st.booleans(),
            "persistence_timeout": st.integers(min_value=-1, max_value=2**32),
            "persistence_netmask": netmask,
            "one_packet": st.booleans(),
            "forward_method": choices(ForwardMethod),
            "enabled": st.booleans(),
        },
        {"cluster": st.sampled_from(SLUGS), "address": vip, "port": st.integers(min_value=1, max_value=65535)},
    ),
    "/api/real-servers/": (
        {
            "address": ip,
            "port": port,
            "weight": st.integers(min_value=-1, max_value=65536),
            "forward_method": choices(ForwardMethod),
            "tunnel_type": choices(TunnelType),
            "tunnel_port": port,
            "tunnel_checksum": choices(TunnelChecksum),
            "upper_threshold": st.integers(min_value=-1, max_value=2**31),
            "lower_threshold": st.integers(min_value=-1, max_value=2**31),
            "state": choices(RealServerState),
            "host": st.one_of(st.none(), hostname),
            "description": weird_text,
        },
        {"address": vip},  # and the id of an existing virtual service, added in the test
    ),
}


@pytest.mark.parametrize("url", list(BODIES))
@pytest.mark.django_db(transaction=False)
def test_create_endpoint_never_fails_with_a_server_error(url):
    # Every example runs in this test's transaction, so the rows made here (and by earlier examples) stay.
    client, service_ids = world()
    fields, base = (dict(part) for part in BODIES[url])
    if url == "/api/real-servers/":
        fields["virtual_service"] = st.one_of(st.sampled_from(service_ids), huge_int, weird_text)
        base["virtual_service"] = st.sampled_from(service_ids)
    statuses = []

    @FUZZ
    @given(data=st.data())
    def check(data):
        statuses.append(post(client, url, data.draw(body(fields, base))))

    check()
    assert 201 in statuses  # the bodies get past the field checks, not only into them


@pytest.mark.parametrize("url", ["/api/virtual-services/", "/api/real-servers/"])
@pytest.mark.django_db(transaction=False)
def test_partial_updates_never_fail_with_a_server_error(url):
    client, service_ids = world()
    for service_id in service_ids:
        service = VirtualService.objects.get(pk=service_id)
        v6 = service.address_family == "ipv6"
        make_real_server(virtual_service=service, forward_method="tun", address="2001:db8::1" if v6 else "172.16.0.1")
        make_real_server(
            virtual_service=service, forward_method="nat", address="2001:db8::2" if v6 else "172.16.0.2", port=8080
        )
    ids = list((VirtualService if url == "/api/virtual-services/" else RealServer).objects.values_list("pk", flat=True))
    fields = dict(BODIES[url][0])
    statuses = []

    @FUZZ
    @given(pk=st.sampled_from(ids), changes=st.fixed_dictionaries({}, optional=fields))
    def check(pk, changes):
        response = client.patch(f"{url}{pk}/", json.dumps(changes), content_type="application/json")
        assert response.status_code in (200, 400), (response.status_code, changes, response.content[:500])
        assert isinstance(response.json(), dict)
        statuses.append(response.status_code)

    check()
    assert 200 in statuses


QUERY_PARAMS = {
    "/api/clusters/": ["name", "name__icontains", "slug"],
    "/api/hosts/": ["hostname", "hostname__icontains", "management_address", "agent_status", "cluster", "role"],
    "/api/cluster-hosts/": ["cluster", "host", "role"],
    "/api/virtual-services/": [
        "cluster",
        "protocol",
        "address",
        "port",
        "fwmark",
        "scheduler",
        "forward_method",
        "enabled",
    ],
    "/api/real-servers/": [
        "cluster",
        "host",
        "virtual_service",
        "address",
        "port",
        "state",
        "forward_method",
        "tunnel_type",
    ],
}
COMMON_PARAMS = ["search", "ordering", "page", "page_size"]
param_value = st.one_of(
    weird_text,
    huge_int.map(str),
    ip,
    st.sampled_from(["-port", "port,-address", "true", "1e400", "NaN", "-1", "0", "tcp"]),
)


@pytest.mark.parametrize("url", list(QUERY_PARAMS))
@pytest.mark.django_db(transaction=False)
def test_list_filters_never_fail_with_a_server_error(url):
    client, _service_ids = world()
    names = st.sampled_from(QUERY_PARAMS[url] + COMMON_PARAMS)

    @FUZZ
    @given(params=st.dictionaries(names, param_value, max_size=4))
    def check(params):
        # A lone surrogate goes out as the bytes a sloppy client would send: invalid UTF-8, percent-encoded.
        response = client.get(f"{url}?{urlencode(params, errors='surrogatepass')}")
        assert response.status_code in (200, 400, 404), (response.status_code, params, response.content[:500])
        assert response["Content-Type"] == "application/json"

    check()
