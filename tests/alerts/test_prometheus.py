"""The Prometheus rules and the Grafana dashboard in docs/: checked by promtool, and every series they name is
one that /metrics really exposes (read from a real /metrics answer with live figures)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.test import Client

from accounts.actions import create_api_token
from tests.factories import make_member, make_user
from tests.traffic.conftest import director, lab, rs_row, service_row  # noqa: F401 (fixtures, used by name)

DOCS = Path(__file__).resolve().parents[2] / "docs"
RULES = DOCS / "prometheus" / "lvsweb.rules.yml"
RULES_TEST = DOCS / "prometheus" / "lvsweb.rules.test.yml"
DASHBOARD = DOCS / "grafana" / "lvsweb.json"
PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: apt-get install prometheus (.ci/run lists it)"
    return subprocess.run([PROMTOOL, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_the_rules_fire_as_their_unit_tests_say():
    tested = promtool("test", "rules", RULES_TEST.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def series_in(expr: str) -> set[str]:
    """The lvsweb series an expression reads (recording rules, `lvsweb:…`, are not series of /metrics)."""
    return set(re.findall(r"\blvsweb_[a-z0-9_]+", expr))


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"] if variable.get("definition")]
    return exprs


@pytest.fixture
def metrics_text(lab, director):  # noqa: F811 (the fixtures imported above)
    """A real /metrics answer, with live figures of the lab's director."""
    director.send(
        1000.0, [rs_row("10.20.0.11", 7, 3, 50), rs_row("10.20.0.12", 0, 0, 0), service_row(7, 3, 50)], full=True
    )
    user = make_user(staff=False)
    make_member(user, role="viewer")
    _token, key = create_api_token(acting_user=None, user=user, name="prometheus", read_only=True)
    answer = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200
    return b"".join(answer.streaming_content).decode()  # /metrics is streamed (traffic/metrics.py)


@pytest.mark.django_db(transaction=True)
def test_every_series_the_rules_and_the_dashboard_name_is_in_metrics(metrics_text):
    exposed = set(re.findall(r"^# TYPE (\S+) ", metrics_text, re.M))
    with_values = {
        line.split("{")[0].split(" ")[0] for line in metrics_text.splitlines() if line and not line.startswith("#")
    }
    assert "lvsweb_real_server_connections_total" in with_values  # the figures are really there
    named = {name for expr in rule_exprs() + dashboard_exprs() for name in series_in(expr)}
    assert len(named) >= 10, named
    missing = named - exposed
    assert not missing, f"series named in docs/ that /metrics does not expose: {sorted(missing)}"


def test_the_dashboard_is_grafana_json_with_a_query_per_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "lvsweb-ipvs" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_a_misspelt_series_would_be_caught():
    assert series_in('sum by (cluster) (rate(lvsweb_virtual_service_conections_total{cluster=~"$cluster"}[5m]))') == {
        "lvsweb_virtual_service_conections_total"
    }
