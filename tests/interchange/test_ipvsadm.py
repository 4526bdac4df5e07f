"""The ipvsadm-save parser: what it reads, and the line-numbered errors for what it cannot."""

from pathlib import Path

import pytest
from lvsweb_agent.model import Persistence, RealServer, Service, ServiceKey, Tunnel

from clusters.interchange import detect_format, ipvsadm, parse

SAMPLES = Path(__file__).parent / "samples"


def problems(result, kind="errors"):
    return [(problem.line, problem.message) for problem in getattr(result, kind)]


def test_a_real_ipvsadm_save_capture_reads_and_renders_back_byte_for_byte():
    text = (SAMPLES / "lab-ipvsadm-save.txt").read_text()
    result = parse(text)
    assert result.format == "ipvsadm"
    assert result.errors == [] and result.warnings == [] and result.not_imported == []
    assert len(result.services) == 8
    assert sum(len(service.real_servers) for service in result.services) == 8
    assert ipvsadm.render(result.services) == text


def test_every_option_is_read_into_the_rule_set():
    text = """\
# web, kept by hand
ipvsadm -A -t 10.0.0.1:80 -s wrr -p 120 -M 255.255.0.0
-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 5 -x 100 -y 50   # tunnelled
-a -t 10.0.0.1:80 -r 10.1.0.2 -i --tun-type gue --tun-port 6080 --tun-remcsum

--add-service --udp-service=[2001:db8::1]:53 --scheduler sh --sched-flags flag-1,sh-port --ops
-a -u [2001:db8::1]:53 -r [2001:db8::11]:53 -g -w 0
-A -f 9 -s mh -p
-a -f 9 -r 10.1.0.3 -m -w 2
"""
    result = parse(text)
    assert problems(result) == []
    web, dns, mark = result.services
    assert web == Service(
        key=ServiceKey.for_address("tcp", "10.0.0.1", 80),
        scheduler="wrr",
        persistence=Persistence(120, "255.255.0.0"),
        real_servers=(
            RealServer("10.1.0.1", 80, 5, "tun", Tunnel(), upper_threshold=100, lower_threshold=50),
            RealServer("10.1.0.2", 80, 1, "tun", Tunnel("gue", 6080, "remcsum")),
        ),
    )
    assert dns.key == ServiceKey.for_address("udp", "2001:db8::1", 53)
    assert dns.flags == {"sh-fallback", "sh-port"} and dns.one_packet
    assert dns.real_servers == (RealServer("2001:db8::11", 53, 0, "dr"),)
    assert mark.key == ServiceKey.for_fwmark(9) and mark.persistence == Persistence(300, "255.255.255.255")
    assert mark.real_servers == (RealServer("10.1.0.3", 0, 2, "nat"),)
    assert result.service_lines[web.key] == 2
    assert result.dest_lines[(web.key, ("10.1.0.2", 80))] == 4
    assert result.dest_lines[(mark.key, ("10.1.0.3", 0))] == 9


def test_edit_lines_replace_what_was_defined_above():
    result = parse(
        "-A -t 10.0.0.1:80 -s rr -p 60\n"
        "-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -w 5\n"
        "-E -t 10.0.0.1:80 -s wlc\n"
        "-e -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 2\n"
    )
    assert problems(result) == []
    (service,) = result.services
    assert service.scheduler == "wlc" and service.persistence is None  # -E sets everything, as ipvsadm does
    assert service.real_servers == (RealServer("10.1.0.1", 80, 2, "dr"),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s wlc\n", (2, "TCP 10.0.0.1:80 is already defined on line 1")),
        (
            "\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i\n",
            (2, "real server 10.1.0.1:80 belongs to TCP 10.0.0.1:80, which is not defined above"),
        ),
        (
            "-A -t 10.0.0.1:80 -s fastest\n",
            (1, "unknown scheduler “fastest” (one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)"),
        ),
        ("-A -t 10.0.0.999:80 -s rr\n", (1, "“10.0.0.999” is not an IP address")),
        ("-A -t 10.0.0.1:http -s rr\n", (1, "port “http” is not a number")),
        ("-A -t 10.0.0.1:70000\n", (1, "port 70000 is out of range (0 to 65535)")),
        ("-A -t 10.0.0.1:80 -s rr --frobnicate\n", (1, "unknown option “--frobnicate”")),
        ("-A -t 10.0.0.1:80 -s\n", (1, "-s needs a value")),
        ("-A -s rr\n", (1, "no service: give -t, -u, --sctp-service ADDRESS:PORT or -f MARK")),
        ("-A -t 10.0.0.1:80 -M 255.255.255.0\n", (1, "-M (persistence netmask) needs -p (persistence)")),
        (
            "-A -t 10.0.0.1:80 -s rr -b sh-port\n",
            (1, "scheduler flag sh-port works only with the sh scheduler, not with rr"),
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -w 70000\n",
            (2, "weight 70000 is out of range (0 to 65535)"),
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -g --tun-type gue\n",
            (2, "--tun-type applies only to tunnel mode (-i)"),
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -i -m\n",
            (2, "choose one forwarding method, not -i and -m"),
        ),
        (
            "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.1:80\n-a -t 10.0.0.1:80 -r 10.1.0.1:80\n",
            (3, "real server 10.1.0.1:80 of TCP 10.0.0.1:80 is already added on line 2"),
        ),
        (
            "-A -t 10.0.0.1:80\n-e -t 10.0.0.1:80 -r 10.1.0.9:80 -w 3\n",
            (2, "real server 10.1.0.9:80 of TCP 10.0.0.1:80 is edited before it is added"),
        ),
        ("-E -t 10.0.0.1:80 -s rr\n", (1, "TCP 10.0.0.1:80 is edited before it is defined (no -A line for it above)")),
        ("-L -n\n", (1, "expected -A or -a (ipvsadm-save lines), got “-L”")),
        ("# nothing but a comment\n", (0, "The text holds no services (no -A lines).")),
    ],
)
def test_errors_name_the_line_and_the_problem(text, expected):
    result = parse(text, "ipvsadm")
    assert expected in problems(result)
    assert not result.ok


def test_every_bad_line_is_reported_not_only_the_first():
    result = parse("-A -t 10.0.0.1:80 -s rr\n-A -t nonsense\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -w -1\n-X\n")
    assert [line for line, _ in problems(result)] == [2, 3, 4]
    assert len(result.services) == 1  # the good line is still read, for the preview


def test_commands_an_import_does_not_carry_out_are_named():
    result = parse("-C\n-A -t 10.0.0.1:80 -s rr --pe sip\n-D -t 10.0.0.2:80\n")
    assert problems(result) == []
    assert problems(result, "not_imported") == [
        (1, "clearing the table (-C): an import only adds and changes rules"),
        (2, "--pe sip: persistence engines are not imported"),
        (3, "deleting a service (-D): an import only adds and changes rules"),
    ]


def test_a_port_on_a_firewall_mark_tunnel_real_server_is_dropped_with_a_warning():
    result = parse("-A -f 5 -s rr\n-a -f 5 -r 10.1.0.1:80 -i\n")
    assert result.services[0].real_servers[0].port == 0
    assert problems(result, "warnings") == [
        (2, "port 80 of real server 10.1.0.1 dropped: a firewall-mark service in TUN mode keeps the packets' own port")
    ]


def test_the_format_is_detected():
    assert detect_format("-A -t 10.0.0.1:80 -s rr\n") == "ipvsadm"
    assert detect_format("# x\nvirtual_server 10.0.0.1 80 {\n}\n") == "keepalived"
    with pytest.raises(ValueError, match="unknown format “xml”"):
        parse("x", "xml")
