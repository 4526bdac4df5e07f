"""Property tests through the database: a rule set the inventory accepts, imported and exported, comes back the same.

The rule sets are drawn within the model's rules (TUN and DR keep the virtual port, DR and NAT stay in the VIP's
family, gue needs a port, one-packet scheduling is for UDP …), so that every example commits; the import and
the export then have to agree on every field between the rule set and the inventory.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from agents.host.model import SCHEDULERS, Persistence, RealServer, Service, ServiceKey, Tunnel, normalize_address
from clusters.actions.imports import commit_import
from clusters.exports import cluster_rules, export_text
from clusters.interchange import canonical, ipvsadm, keepalived
from tests.factories import make_cluster, make_member, make_user

V4 = st.builds(lambda a, b: f"10.{a}.{b}.1", st.integers(0, 255), st.integers(0, 255))
V6 = st.builds(lambda a, b: normalize_address(f"2001:db8:{a:x}::{b:x}"), st.integers(0, 0xFFFF), st.integers(1, 0xFFFF))
MASKS = {
    "ipv4": st.sampled_from(["255.255.255.255", "255.255.255.0", "255.255.0.0"]),
    "ipv6": st.sampled_from(["128", "64", "48"]),
}


@st.composite
def model_dests(draw, key: ServiceKey) -> RealServer:
    forward = draw(st.sampled_from(["tun", "dr", "nat"]))
    family = key.family if forward != "tun" else draw(st.sampled_from(["ipv4", "ipv6"]))
    if key.fwmark:
        port = draw(st.sampled_from([0, 8080])) if forward == "nat" else 0
    else:
        port = draw(st.integers(1, 65535)) if forward == "nat" else key.port
    tunnel = None
    if forward == "tun":
        tunnel = draw(
            st.sampled_from(
                [Tunnel(), Tunnel("gue", 6080, "remcsum"), Tunnel("gue", 5555, "none"), Tunnel("gre", 0, "csum")]
            )
        )
    upper = draw(st.sampled_from([0, 100, 5000]))
    return RealServer(
        address=draw(V4 if family == "ipv4" else V6),
        port=port,
        weight=draw(st.integers(0, 65535)),
        forward=forward,
        tunnel=tunnel,
        upper_threshold=upper,
        lower_threshold=draw(st.integers(0, upper)) if upper else 0,
    )


@st.composite
def model_services(draw) -> Service:
    family = draw(st.sampled_from(["ipv4", "ipv6"]))
    if draw(st.booleans()):
        key = ServiceKey.for_fwmark(draw(st.integers(1, 2**32 - 1)), family)
    else:
        address = draw(V4 if family == "ipv4" else V6)
        key = ServiceKey.for_address(
            draw(st.sampled_from(["tcp", "udp", "sctp"])), address, draw(st.integers(1, 65535))
        )
    scheduler = draw(st.sampled_from(SCHEDULERS))
    flags = frozenset()
    if scheduler in ("sh", "mh"):
        flags = frozenset(f"{scheduler}-{flag}" for flag in draw(st.sets(st.sampled_from(["fallback", "port"]))))
    persistence = None
    if draw(st.booleans()):
        persistence = Persistence(draw(st.integers(1, 86400)), draw(MASKS[family]))
    return Service(
        key=key,
        scheduler=scheduler,
        flags=flags,
        persistence=persistence,
        one_packet=draw(st.booleans()) if key.protocol in (None, "udp") else False,
        real_servers=tuple(draw(st.lists(model_dests(key), max_size=3, unique_by=lambda dest: dest.key))),
    )


rule_sets = st.lists(model_services(), min_size=1, max_size=3, unique_by=lambda service: service.key)
DB_PROPERTIES = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.django_db
class TestImportExportRoundTrip(TestCase):
    """Each example runs in its own transaction, rolled back afterwards."""

    def operator_and_cluster(self):
        user = make_user(staff=False)
        make_member(user)
        return user, make_cluster()

    @DB_PROPERTIES
    @given(rules=rule_sets, format=st.sampled_from(["ipvsadm", "keepalived"]))
    def test_import_then_export_gives_the_same_rule_set(self, rules, format):
        user, cluster = self.operator_and_cluster()
        text = ipvsadm.render(rules) if format == "ipvsadm" else keepalived.render(rules)
        result = commit_import(acting_user=user, cluster=cluster, text=text, format=format)
        assert result.committed, result.errors
        assert canonical(cluster_rules(cluster)) == canonical(rules)
        if format == "ipvsadm":
            assert export_text(cluster, "ipvsadm") == ipvsadm.render(cluster_rules(cluster))

    @DB_PROPERTIES
    @given(before=rule_sets, after=rule_sets)
    def test_update_existing_makes_the_services_match_the_import(self, before, after):
        user, cluster = self.operator_and_cluster()
        commit_import(acting_user=user, cluster=cluster, text=ipvsadm.render(before))
        commit_import(acting_user=user, cluster=cluster, text=ipvsadm.render(after), update_existing=True)
        exported = {service.key: service for service in cluster_rules(cluster)}
        for service in after:  # what the second import names is as it says; nothing else was deleted
            kept = {dest.key: dest for dest in exported[service.key].real_servers}
            assert exported[service.key].settings() == service.settings()
            assert all(kept[dest.key] == dest for dest in service.real_servers)
        assert set(exported) == {service.key for service in before} | {service.key for service in after}
