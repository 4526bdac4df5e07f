"""docs/import-export.md shows examples that the parsers really read as the text says."""

import re
from pathlib import Path

from clusters.interchange import keepalived, parse

DOC = (Path(__file__).resolve().parents[2] / "docs" / "import-export.md").read_text()
BLOCKS = re.findall(r"```\w*\n(.*?)```", DOC, flags=re.S)


def test_the_ipvsadm_example_reads_without_problems():
    example = next(block for block in BLOCKS if block.startswith("# /etc/ipvsadm.rules"))
    result = parse(example)
    assert result.format == "ipvsadm"
    assert result.errors == [] and result.warnings == [] and result.not_imported == []
    assert [len(service.real_servers) for service in result.services] == [2, 1, 1]


def test_the_keepalived_example_imports_everything_with_its_check_and_sorry_server():
    example = next(block for block in BLOCKS if block.startswith("virtual_server"))
    result = parse(example)
    assert result.format == "keepalived" and result.errors == [] and result.warnings == []
    assert result.not_imported == []
    (check,) = result.checks.values()
    assert (check["check_type"], check["interval"], check["timeout"], check["fall"]) == ("tcp", 6.0, 3.0, 2)
    assert (check["on_failure"], check["quorum"], check["sorry_address"]) == ("weight0", 1, "192.0.2.250")
    again = parse(keepalived.render(result.services, checks=result.checks))
    assert again.services == result.services and again.checks == result.checks


#: The keywords keepalived 2.2.7 installs for virtual servers, real servers and their checkers
#: (keepalived/check/check_parser.c, check_api.c, check_http.c).
KEEPALIVED_KEYWORDS = [
    "virtual_server_group",
    "virtual_server",
    "ip_family",
    "retry",
    "delay_before_retry",
    "warmup",
    "connect_timeout",
    "delay_loop",
    "inhibit_on_failure",
    "lb_algo",
    "lvs_sched",
    "hashed",
    "ops",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "lb_kind",
    "lvs_method",
    "persistence_engine",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "ha_suspend",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
    "alpha",
    "omega",
    "quorum_up",
    "quorum_down",
    "quorum",
    "hysteresis",
    "weight",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
    "real_server",
    "uthreshold",
    "lthreshold",
    "notify_up",
    "notify_down",
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "fwmark",
    "log_all_failures",
    "nb_get_retry",
    "http_protocol",
    "enable_sni",
    "fast_recovery",
    "url",
    "path",
    "digest",
    "status_code",
    "regex",
    "regex_no_match",
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "SMTP_CHECK",
    "MISC_CHECK",
    "UDP_CHECK",
    "DNS_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
    "helo_name",
    "SSL",
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    "lvs_sync_daemon",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "include",
]


def test_the_keyword_table_names_every_keepalived_keyword_that_touches_lvs():
    table = DOC[DOC.index("#### Every keepalived keyword") :]
    table = table[: table.index("\n## ")]
    missing = [word for word in KEEPALIVED_KEYWORDS if f"`{word}" not in table and f" {word}`" not in table]
    assert missing == []
