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
    assert len(sample.services) == 19  # 14 virtual_server blocks, the group's 4 services, …


def test_every_lb_algo_is_read(sample):
    assert {service.scheduler for service in sample.services} == set(SCHEDULERS)


def test_every_lb_kind_is_read(sample):
    methods = {dest.forward for service in sample.services for dest in service.real_servers}
    assert methods == {"nat", "dr", "tun"}
    by_key = {service.key: service for service in sample.services}
    nat = by_key[ServiceKey.for_address("tcp", "198.51.100.12", 8080)]
    assert nat.real_servers == (RealServer("192.168.10.5", 80, 2, "nat"),)  # NAT maps the port
    gue = by_key[ServiceKey.for_address("udp", "198.51.100.13", 1009)]  # no protocol: keepalived's UDP
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
    assert (
        4,
        "global_defs: not imported (global settings are the director's, not the rule set's (router_id, "
        "notification mail …))",
    ) in named
    # VRRP is imported as VIP groups (test_keepalived_vrrp.py); one director's own settings are named.
    assert (12, "state MASTER (in vrrp_instance VI_1): the priorities decide which director starts as master") in named
    keywords = [message.split()[0] for _, message in named]
    for keyword in ("notify_down", "quorum", "hysteresis"):
        assert keyword in keywords
    # Checks, sorry servers and groups are imported now: none of them is named.
    for keyword in ("TCP_CHECK", "HTTP_GET", "sorry_server", "delay_loop", "inhibit_on_failure", "virtual_server"):
        assert keyword not in keywords


def test_checks_quorum_and_sorry_server_are_imported(sample):
    shop = ServiceKey.for_address("tcp", "198.51.100.10", 80)
    assert sample.checks[shop] == {
        "check_type": "tcp",
        "port": 80,
        "interval": 6.0,
        "timeout": 3.0,
        "rise": 1,
        "fall": 2,
        "on_failure": "weight0",
        "quorum": 1,
        "sorry_address": "192.0.2.250",
        "sorry_port": None,
        "sorry_forward_method": "tun",
    }
    # rs2 has its own check: an HTTP GET of /health expecting 200, removed on failure (no inhibit_on_failure).
    assert sample.dest_checks[(shop, ("10.20.0.12", 80))] == {
        "check_type": "http",
        "path": "/health",
        "expect_status_min": 200,
        "expect_status_max": 200,
        "interval": 6.0,
        "timeout": 3.0,
        "rise": 1,
        "fall": 2,
        "on_failure": "remove",
    }


def test_a_group_expands_into_one_service_per_entry(sample):
    keys = [key for key, group in sample.groups.items() if group == "web_group"]
    assert keys == [
        ServiceKey.for_address("udp", "198.51.100.20", 80),
        ServiceKey.for_address("udp", "198.51.100.21", 80),
        ServiceKey.for_address("udp", "198.51.100.22", 80),
        ServiceKey.for_fwmark(12),
    ]
    by_key = {service.key: service for service in sample.services}
    assert by_key[keys[0]].real_servers == (RealServer("10.10.0.21", 80, 1, "dr"),)
    assert by_key[keys[3]].real_servers == (RealServer("10.10.0.21", 0, 1, "dr"),)


def test_defaults_are_keepalived_s_and_warned_about():
    result = parse("virtual_server 10.0.0.1 80 {\n  real_server 10.1.0.1 {\n  }\n}\n")
    assert problems(result, "warnings") == [
        (1, "no lb_algo: keepalived installs wlc"),
        (1, "no protocol: keepalived installs UDP (write protocol TCP if you meant it)"),
        (1, "no lb_kind: keepalived installs NAT"),
    ]
    assert result.services[0].key == ServiceKey.for_address("udp", "10.0.0.1", 80)
    assert result.services[0].scheduler == "wlc"
    assert result.services[0].real_servers == (RealServer("10.1.0.1", 80, 1, "nat"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind TUN type vxlan\n real_server 10.1.0.1 80 {\n }\n}\n",
            (2, "unknown tunnel type “vxlan” (ipip, gue or gre)"),
        ),
        ("virtual_server 10.0.0.300 80 {\n}\n", (1, "“10.0.0.300” is not an IP address")),
        (
            "virtual_server 10.0.0.1 80 {\n lb_kind DR\n real_server 10.1.0.1 80 {\n  weight heavy\n }\n}\n",
            (4, "weight “heavy” is not a number"),
        ),
        ("virtual_server 10.0.0.1 80 {\n lb_algo rr\n", (1, "the “virtual_server” block opened here is never closed")),
        ("virtual_server 10.0.0.1 80 {\n}\n}\n", (3, "“}” closes no block (one “}” too many)")),
        (
            "virtual_server 10.0.0.1 80 {\n real_server 10.1.0.1 80 {\n }\n}\n"
            "virtual_server 10.0.0.1 80 {\n real_server 10.1.0.1 80 {\n }\n}\n",
            (5, "UDP 10.0.0.1:80 is already defined on line 1"),
        ),
        ("global_defs {\n}\n", (0, "The text holds no virtual_server blocks (with real servers).")),
        (
            "virtual_server 10.0.0.1 80 {\n lb_algo \\\n  rr\n}\n",
            (
                2,
                "the line ends in “\\”: keepalived joins lines only inside $NAME definitions; write the keyword "
                "and its values on one line",
            ),
        ),
        (
            "virtual_server_group g {\n 10.0.0.1-300 80\n}\n",
            (1, "line 2: “10.0.0.1-300”: the range must run upwards within the last part of the address"),
        ),
    ],
)
def test_errors_name_the_line_and_the_problem(text, expected):
    result = parse(text, "keepalived")
    assert expected in problems(result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lb_algo RR", (2, "lb_algo “RR” is ignored by keepalived (names are lower case)")),
        ("lb_kind dr", (2, "lb_kind “dr” is ignored by keepalived (NAT, DR or TUN, in capitals)")),
        ("protocol ICMP", (2, "protocol “ICMP” is ignored by keepalived")),
        ("sh-port", (2, "sh-port is ignored by keepalived: it counts only after lb_algo sh")),
        ("protocol TCP\n ops", (3, "ops dropped: keepalived allows it only for UDP, not tcp")),
    ],
)
def test_what_keepalived_ignores_is_ignored_with_a_warning(text, expected):
    result = parse(f"virtual_server 10.0.0.1 80 {{\n {text}\n real_server 10.1.0.1 80 {{\n }}\n}}\n")
    assert problems(result) == []
    assert expected in problems(result, "warnings")
    assert result.services[0].scheduler == "wlc" and not result.services[0].flags and not result.services[0].one_packet


def test_comments_start_anywhere_outside_quotes_and_one_line_blocks_read():
    text = "virtual_server 10.0.0.1 80 { lb_algo rr#x\n protocol TCP ! y\n real_server 10.1.0.1 80 { weight 2 } }\n"
    result = parse(text)
    assert problems(result) == [] and result.services[0].scheduler == "rr"
    assert result.services[0].real_servers == (RealServer("10.1.0.1", 80, 2, "nat"),)


def test_checks_that_do_not_map_are_listed_with_what_to_do_instead():
    text = (
        "virtual_server 10.0.0.1 80 {\n lb_kind DR\n protocol TCP\n"
        " real_server 10.1.0.1 80 {\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n}\n"
    )
    result = parse(text)
    assert problems(result, "not_imported") == [
        (
            5,
            "MISC_CHECK (in real_server 10.1.0.1 80): not imported (lvsweb runs no scripts on the director; serve "
            "the script's verdict over HTTP on the real server (e.g. /healthz) and use an HTTP check)",
        )
    ]
    assert result.checks == {}


def test_an_address_range_expands_and_is_written_back_as_the_group():
    text = (
        "virtual_server_group g {\n 10.0.0.1-3 80\n}\n"
        "virtual_server group g {\n lb_algo rr\n lb_kind DR\n protocol TCP\n"
        " real_server 10.1.0.1 80 {\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n}\n"
    )
    result = parse(text)
    assert [service.key.address for service in result.services] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert all(result.checks[service.key]["check_type"] == "tcp" for service in result.services)
    exported = keepalived.render(result.services, checks=result.checks, groups=result.groups)
    assert exported.startswith("virtual_server_group g {\n    10.0.0.1 80\n    10.0.0.2 80\n    10.0.0.3 80\n}\n")
    assert exported.count("virtual_server group g {") == 1
    again = parse(exported)
    assert canonical(again.services) == canonical(result.services) and again.checks == result.checks


def test_render_reads_back_to_the_same_rule_set(sample):
    text = keepalived.render(sample.services, header="exported for a test")
    assert text.startswith("# exported for a test\n")
    again = parse(text)
    assert problems(again) == [] and problems(again, "warnings") == [] and problems(again, "not_imported") == []
    assert canonical(again.services) == canonical(sample.services)


def checked(rs_body: str, vs_body: str = "") -> object:
    return parse(
        f"virtual_server 10.0.0.1 80 {{\n lb_kind NAT\n protocol TCP\n{vs_body}"
        f" real_server 10.1.0.1 8080 {{\n{rs_body} }}\n}}\n"
    )


def test_check_timing_is_cut_to_lvsweb_s_rules_with_a_warning():
    result = checked("  TCP_CHECK {\n   connect_timeout 9\n   delay_before_retry 2\n  }\n", " delay_loop 4\n")
    (check,) = result.checks.values()
    assert (check["interval"], check["timeout"], check["fall"], check["on_failure"]) == (4.0, 4.0, 2, "remove")
    assert (
        6,
        "connect_timeout 9 s is longer than delay_loop 4 s: lvsweb's timeout is at most the interval, 4 s imported",
    ) in problems(result, "warnings")
    assert [message.split()[0] for _, message in problems(result, "not_imported")] == ["delay_before_retry"]


def test_a_second_checker_and_smtp_are_named():
    result = checked("  SMTP_CHECK {\n  }\n  TCP_CHECK {\n  }\n")
    (check,) = result.checks.values()
    assert check["check_type"] == "tcp"
    assert (5, "SMTP_CHECK imported as a TCP connect check: lvsweb does not speak SMTP") in problems(result, "warnings")
    assert problems(result, "not_imported") == [
        (
            7,
            "TCP_CHECK (in real_server 10.1.0.1 8080): not imported (lvsweb runs one check per real server: the "
            "first is imported)",
        )
    ]


def test_a_nat_sorry_server_keeps_its_port_and_weights_warn_about_the_quorum():
    result = checked("  weight 3\n  TCP_CHECK {\n  }\n", " quorum 2\n sorry_server 10.2.0.1 8081\n")
    (check,) = result.checks.values()
    assert (check["quorum"], check["sorry_address"], check["sorry_port"], check["sorry_forward_method"]) == (
        2,
        "10.2.0.1",
        8081,
        "nat",
    )
    assert any("keepalived counts the weights" in message for _, message in problems(result, "warnings"))


def test_real_servers_without_a_checker_are_unchecked_next_to_checked_ones():
    result = parse(
        "virtual_server 10.0.0.1 80 {\n lb_kind DR\n protocol TCP\n"
        " real_server 10.1.0.1 80 {\n  TCP_CHECK {\n  }\n }\n real_server 10.1.0.2 80 {\n }\n}\n"
    )
    key = ServiceKey.for_address("tcp", "10.0.0.1", 80)
    assert result.checks[key]["check_type"] == "tcp"
    assert result.dest_checks == {(key, ("10.1.0.2", 80)): {"check_type": "none"}}


def test_udp_and_dns_checks_are_imported_and_written_back():
    text = (
        "virtual_server 10.0.0.53 53 {\n lb_algo rr\n lb_kind TUN\n protocol UDP\n"
        " real_server 10.1.0.1 53 {\n  DNS_CHECK {\n   type A\n   name example.net\n   connect_timeout 2\n  }\n }\n"
        " real_server 10.1.0.2 53 {\n  UDP_CHECK {\n   payload 70696e67\n   require_reply 706f6e67\n"
        "   min_reply_length 4\n  }\n }\n}\n"
    )
    result = parse(text)
    key = ServiceKey.for_address("udp", "10.0.0.53", 53)
    checks = {result.checks.get(key, {}).get("check_type")} | {
        fields["check_type"] for (service, _), fields in result.dest_checks.items() if service == key
    }
    assert checks == {"dns", "udp"}
    every = [result.checks.get(key)] + [f for (service, _), f in result.dest_checks.items() if service == key]
    dns = next(f for f in every if f and f["check_type"] == "dns")
    udp = next(f for f in every if f and f["check_type"] == "udp")
    assert (dns["query_type"], dns["query_name"], dns["timeout"]) == ("A", "example.net", 2.0)
    assert (udp["payload"], udp["payload_hex"], udp["reply_match"], udp["reply_pattern"]) == (
        "70696e67",
        True,
        "prefix",
        "706f6e67",
    )
    assert [message for _, message in problems(result, "not_imported") if "min_reply_length" in message]
    exported = keepalived.render(result.services, checks=result.checks, dest_checks=result.dest_checks)
    assert "DNS_CHECK {" in exported and "UDP_CHECK {" in exported and "require_reply 706f6e67" in exported
    again = parse(exported)
    assert again.checks == result.checks and again.dest_checks == result.dest_checks
