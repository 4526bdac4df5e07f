"""Property tests: any rule set written as ipvsadm-save text or keepalived.conf reads back as the same rule set."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusters.interchange import canonical, ipvsadm, keepalived, parse
from tests.interchange import strategies

PROPERTIES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

rule_sets = strategies.rule_sets()


@PROPERTIES
@given(rule_sets)
def test_ipvsadm_save_round_trip(rules):
    text = ipvsadm.render(rules)
    result = parse(text, "auto")
    assert result.format == "ipvsadm"
    assert result.errors == [] and result.warnings == [] and result.not_imported == []
    assert canonical(result.services) == canonical(rules)
    # Not `render(parse(text)) == text` here: ipvsadm sorts with a wrapping int comparison, which is not a total
    # order for marks or address words 2^31 apart, so its order may depend on the input's. The byte-for-byte
    # check is on a real ipvsadm-save capture (test_ipvsadm.py).


@PROPERTIES
@given(strategies.rule_sets(model_valid=True, keepalived=True))
def test_keepalived_round_trip(rules):
    text = keepalived.render(rules, header="round trip")
    result = parse(text, "auto")
    assert result.format == "keepalived"
    assert result.errors == [] and result.warnings == [] and result.not_imported == []
    assert canonical(result.services) == canonical(rules)
    assert keepalived.render(result.services, header="round trip") == text


WORDS = ["-A", "-a", "-E", "-e", "-t", "-f", "-r", "-s", "-p", "-i", "-w", "rr", "sh-port", "10.0.0.1:80", "10.1.0.1"]
WORDS += ["[2001:db8::1]:80", "5", "#", "!", "{", "}", "\n", "virtual_server", "real_server", "lb_kind", "TUN"]
WORDS += ["10.0.0.1", "80", "weight", "-1", "99999999999", '"', "fwmark", "persistence_timeout", "TCP_CHECK"]


@PROPERTIES
@given(st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join))
def test_any_text_gives_a_rule_set_or_line_numbered_errors_never_an_exception(text):
    result = parse(text)
    lines = text.count("\n") + 1
    assert all(0 <= problem.line <= lines for problem in result.errors + result.warnings + result.not_imported)
    assert result.services or result.errors


CHECKS = st.fixed_dictionaries(
    {
        "check_type": st.sampled_from(["tcp", "http", "https"]),
        "interval": st.integers(1, 3600).map(float),
        "fall": st.integers(2, 100),
        "on_failure": st.sampled_from(["weight0", "remove"]),
    },
    optional={"port": st.integers(1, 65535)},
)


@PROPERTIES
@given(strategies.rule_sets(model_valid=True, keepalived=True, max_size=3), st.data())
def test_keepalived_checks_round_trip(rules, data):
    checks = {}
    for service in rules:
        check = data.draw(CHECKS)
        check.update(rise=1, timeout=float(data.draw(st.integers(1, int(check["interval"])))))
        if check["check_type"] != "tcp":
            low = data.draw(st.integers(100, 599))
            check.update(path="/" + data.draw(st.text("abc/-_", max_size=5)), expect_status_min=low)
            check["expect_status_max"] = data.draw(st.integers(low, 599))
        checks[service.key] = check
    result = parse(keepalived.render(rules, checks=checks), "keepalived")
    assert result.errors == [] and result.not_imported == []
    assert result.checks == checks
