"""`lvsweb-agent show --ipvsadm` must print what `ipvsadm-save -n` prints, so it can feed ipvsadm-restore."""

from __future__ import annotations

from lvsweb_agent.ipvsadm import parse_save, render_save
from lvsweb_agent.model import Persistence, RealServer, Service, ServiceKey, Tunnel

from .docs import EXAMPLES

# Captured from `ipvsadm-save -n` (ipvsadm 1.31, Debian kernel 6.1) in the lab VM after loading these
# rules with ipvsadm; see docs/agent-spec.md.
LAB_SAVE = (EXAMPLES / "ipvsadm-save-lab.txt").read_text()


def test_the_lab_capture_round_trips_exactly():
    assert render_save(parse_save(LAB_SAVE)) == LAB_SAVE


def test_render_matches_ipvsadm_line_by_line():
    web = ServiceKey.for_address("tcp", "10.10.0.100", 80)
    service = Service(
        key=web,
        scheduler="rr",
        real_servers=(
            RealServer("10.20.0.13", 80, 1, "tun", Tunnel("gue", 6080, "csum"), upper_threshold=5),
            RealServer("10.20.0.11", 80, 1, "tun", Tunnel()),
            RealServer("10.20.0.16", 80, 1, "tun", Tunnel("gre", 0, "none")),
        ),
    )
    assert render_save([service]).splitlines() == [
        "-A -t 10.10.0.100:80 -s rr",
        "-a -t 10.10.0.100:80 -r 10.20.0.11:80 -i -w 1 --tun-type ipip",
        "-a -t 10.10.0.100:80 -r 10.20.0.13:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        "-a -t 10.10.0.100:80 -r 10.20.0.16:80 -i -w 1 --tun-type gre --tun-nocsum",
    ]


def test_persistence_flags_and_families():
    services = [
        Service(ServiceKey.for_fwmark(6, "ipv6"), "lc", persistence=Persistence(300, "64")),
        Service(ServiceKey.for_fwmark(5), "wlc", persistence=Persistence(300, "255.255.255.255")),
        Service(
            ServiceKey.for_address("udp", "10.10.0.100", 53),
            "sh",
            flags=frozenset({"sh-port", "sh-fallback"}),
            persistence=Persistence(300, "255.255.255.255"),
            one_packet=True,
            real_servers=(RealServer("10.20.0.17", 53, 0, "dr"),),
        ),
        Service(
            ServiceKey.for_address("sctp", "2001:db8::100", 80),
            "rr",
            real_servers=(RealServer("2001:db8::11", 80, 1, "dr"),),
        ),
        Service(
            ServiceKey.for_address("tcp", "10.10.0.101", 443),
            "wlc",
            persistence=Persistence(60, "255.255.255.0"),
            real_servers=(RealServer("10.20.0.18", 8443, 2, "nat"),),
        ),
    ]
    assert render_save(services).splitlines() == [
        "-A -t 10.10.0.101:443 -s wlc -p 60 -M 255.255.255.0",
        "-a -t 10.10.0.101:443 -r 10.20.0.18:8443 -m -w 2",
        "-A -u 10.10.0.100:53 -s sh -p 300 -o -b sh-fallback,sh-port",
        "-a -u 10.10.0.100:53 -r 10.20.0.17:53 -g -w 0",
        "-A --sctp-service [2001:db8::100]:80 -s rr",
        "-a --sctp-service [2001:db8::100]:80 -r [2001:db8::11]:80 -g -w 1",
        "-A -f 5 -s wlc -p 300",
        "-A -f 6 -6 -s lc -p 300 -M 64",
    ]


def test_empty_table_is_empty_text():
    assert render_save([]) == ""


def test_order_follows_ipvsadms_comparator_even_where_it_wraps():
    # ipvsadm subtracts addresses as C ints: 10.0.0.1 - 192.168.0.1 wraps to a positive number, so
    # 192.168.0.1 comes first; without such a wide gap the order is the numeric one.
    services = [
        Service(ServiceKey.for_address("tcp", "10.0.0.1", 80), "rr"),
        Service(ServiceKey.for_address("tcp", "192.168.0.1", 80), "rr"),
        Service(ServiceKey.for_address("tcp", "10.0.0.2", 80), "rr"),
    ]
    assert [line.split()[2] for line in render_save(services).splitlines()] == [
        "192.168.0.1:80",
        "10.0.0.1:80",
        "10.0.0.2:80",
    ]
    narrow = services[::2]
    assert [line.split()[2] for line in render_save(reversed(narrow)).splitlines()] == ["10.0.0.1:80", "10.0.0.2:80"]
