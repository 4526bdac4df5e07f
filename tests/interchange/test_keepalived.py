"""The keepalived.conf parser: virtual_server blocks in, every keyword it leaves out named by line."""

from pathlib import Path

import pytest
from lvsweb_agent.model import SCHEDULERS, Persistence, RealServer, ServiceKey, Tunnel

from clusters.interchange import canonical, keepalived, parse

SAMPLES = Path(__file__).parent / "samples"


def problems(result, kind="errors"):
    return [(problem.line, problem.message) for problem in getattr(result, kind)]


@pytest.fixture(scope="module")
def sample():
    return parse((SAMPLES / "keepalived.conf").read_text())


def test_the_sample_reads_without_errors(sample):
    assert sample.format == "keepalived"
    assert problems(sample) == []
    assert len(sample.services) == 15


def test_every_lb_algo_is_read(sample):
    assert {service.scheduler for service in sample.services} == set(SCHEDULERS)


def test_every_lb_kind_is_read(sample):
    methods = {dest.forward for service in sample.services for dest in service.real_servers}
    assert methods == {"nat", "dr", "tun"}
    by_key = {service.key: service for service in sample.services}
    nat = by_key[ServiceKey.for_address("tcp", "198.51.100.12", 8080)]
    assert nat.real_servers == (RealServer("192.168.10.5", 80, 2, "nat"),)  # NAT maps the port
    gue = by_key[ServiceKey.for_address("tcp", "198.51.100.13", 1009)]
    assert gue.real_servers == (RealServer("10.20.0.42", 1009, 4, "tun", Tunnel("gue", 6080, "csum")),)
    assert gue.flags == {"mh-port"}


def test_persistence_weights_and_thresholds(sample):
    by_key = {service.key: service for service in sample.services}
    shop = by_key[ServiceKey.for_address("tcp", "198.51.100.10", 80)]
    assert shop.persistence == Persistence(300, "255.255.255.0")
    assert shop.real_servers == (
        RealServer("10.20.0.11", 80, 3, "tun", Tunnel()),
        RealServer("10.20.0.12", 80, 1, "tun", Tunnel(), upper_threshold=500, lower_threshold=400),
    )
    assert [d.weight for d in by_key[ServiceKey.for_address("tcp", "198.51.100.10", 443)].real_servers] == [5, 0]
    dns = by_key[ServiceKey.for_address("udp", "198.51.100.11", 53)]
    assert dns.one_packet and dns.flags == {"sh-port", "sh-fallback"}
    v6 = by_key[ServiceKey.for_fwmark(7, "ipv6")]
    assert v6.persistence == Persistence(600, "64")
    assert v6.real_servers == (RealServer("2001:db8:20::11", 0, 2, "tun", Tunnel()),)
    bare = by_key[ServiceKey.for_address("tcp", "2001:db8::10", 443)]
    assert bare.persistence == Persistence(360, "128")  # a bare persistence_timeout is keepalived's 6 minutes


def test_comments_are_ignored_and_lines_are_counted(sample):
    assert sample.service_lines[ServiceKey.for_address("tcp", "198.51.100.10", 80)] == 22
    assert sample.dest_lines[(ServiceKey.for_address("tcp", "198.51.100.10", 80), ("10.20.0.12", 80))] == 39


def test_unsupported_keywords_are_named_with_their_line(sample):
    named = problems(sample, "not_imported")
    assert (4, "global_defs: not imported (only virtual_server blocks are imported)") in named
    # VRRP is imported as VIP groups (test_keepalived_vrrp.py); one director's own settings are named.
    assert (12, "state MASTER (in vrrp_instance VI_1): the priorities decide which director starts as master") in named
    assert (
        29,
        "sorry_server 192.0.2.250 80 (in virtual_server 198.51.100.10 80): not imported "
        "(lvsweb has no fallback server)",
    ) in named
    keywords = [message.split()[0] for _, message in named]
    for keyword in ("delay_loop", "inhibit_on_failure", "TCP_CHECK", "HTTP_GET", "notify_down", "quorum", "hysteresis"):
        assert keyword in keywords
    assert (
        139,
        "virtual_server group web_group: not imported (virtual server groups are not imported; write one "
        "virtual_server per VIP)",
    ) in named
    # The keywords inside a health-check block are part of it, not named one by one.
    assert "connect_timeout" not in keywords and "url" not in keywords


def test_defaults_are_warned_about():
    result = parse("virtual_server 10.0.0.1 80 {\n  real_server 10.1.0.1 80 {\n  }\n}\n")
    assert problems(result, "warnings") == [
        (1, "no lb_algo: wlc assumed (the kernel's default scheduler)"),
        (1, "no lb_kind: NAT assumed (keepalived's default)"),
    ]
    assert result.services[0].scheduler == "wlc"
    assert result.services[0].real_servers == (RealServer("10.1.0.1", 80, 1, "nat"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "virtual_server 10.0.0.1 80 {\n lb_algo best\n}\n",
            (2, "unknown scheduler “best” (one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)"),
        ),
        ("virtual_server 10.0.0.1 80 {\n lb_kind FNAT\n}\n", (2, "lb_kind “FNAT” is not supported (NAT, DR or TUN)")),
        ("virtual_server 10.0.0.1 80 {\n protocol ICMP\n}\n", (2, "protocol “ICMP” is not TCP, UDP or SCTP")),
        ("virtual_server 10.0.0.1 {\n}\n", (1, "write virtual_server ADDRESS PORT (or virtual_server fwmark MARK)")),
        ("virtual_server 10.0.0.300 80 {\n}\n", (1, "“10.0.0.300” is not an IP address")),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.1.0.1 80 {\n  weight heavy\n }\n}\n",
            (4, "weight “heavy” is not a number"),
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind TUN type vxlan\n}\n",
            (2, "unknown tunnel type “vxlan” (ipip, gue or gre)"),
        ),
        ("virtual_server 10.0.0.1 80 {\n lb_algo rr\n", (1, "the “virtual_server” block opened here is never closed")),
        ("virtual_server 10.0.0.1 80 {\n}\n}\n", (3, "“}” closes no block (one “}” too many)")),
        (
            "virtual_server 10.0.0.1 80 {\n persistence_granularity 255.255.255.0\n}\n",
            (1, "persistence_granularity needs persistence_timeout"),
        ),
        (
            "virtual_server 10.0.0.1 80 {\n lb_algo rr\n}\nvirtual_server 10.0.0.1 80 {\n lb_algo rr\n}\n",
            (4, "TCP 10.0.0.1:80 is already defined on line 1"),
        ),
        ("global_defs {\n}\n", (0, "The text holds no virtual_server blocks.")),
    ],
)
def test_errors_name_the_line_and_the_problem(text, expected):
    result = parse(text, "keepalived")
    assert expected in problems(result)


def test_render_reads_back_to_the_same_rule_set(sample):
    text = keepalived.render(sample.services, header="exported for a test")
    assert text.startswith("# exported for a test\n")
    again = parse(text)
    assert problems(again) == [] and problems(again, "warnings") == [] and problems(again, "not_imported") == []
    assert canonical(again.services) == canonical(sample.services)
