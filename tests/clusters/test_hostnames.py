"""Hostnames follow the agent's rule (RFC 1123 labels) in the API and the console; older names stay readable."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clusters.models import Host
from tests.factories import default_team, make_host, make_member, make_user

pytestmark = pytest.mark.django_db

BAD = {
    "slash/host": "“slash/host” is not a valid part of a hostname",
    "two words": "“two words” is not a valid part of a hostname",
    "<script>x</script>": "is not a valid part of a hostname",
    "lb1\nlb2": "is not a valid part of a hostname",
    "lb1..example.net": "A hostname cannot have an empty part",
}


@pytest.fixture
def operator():
    user = make_user(staff=False)
    make_member(user, role="operator")
    return user


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_login(operator)
    return client


@pytest.mark.parametrize(("hostname", "expected"), BAD.items())
def test_the_api_refuses_a_hostname_the_agent_would_refuse(api, hostname, expected):
    body = {"team": default_team().slug, "hostname": hostname, "management_address": "192.0.2.5"}
    response = api.post("/api/hosts/", body, format="json")
    assert response.status_code == 400
    [message] = response.json()["hostname"]
    assert expected in message
    assert not Host.objects.exists()


def test_the_api_takes_an_rfc_1123_name(api):
    body = {"team": default_team().slug, "hostname": "rs-7.fra.example.net", "management_address": "192.0.2.5"}
    assert api.post("/api/hosts/", body, format="json").status_code == 201


@pytest.mark.parametrize(("hostname", "expected"), BAD.items())
def test_the_console_form_refuses_it_next_to_the_field(api, hostname, expected):
    body = {
        "team": default_team().pk,
        "hostname": hostname,
        "management_address": "192.0.2.5",
        "vip_interface": "lo",
        "uplinks": "eth0",
    }
    response = api.post(reverse("host-create"), body)
    page = response.content.decode()
    assert expected in page
    assert "<script>x</script>" not in page  # escaped wherever the form shows it back
    assert not Host.objects.exists()


def test_a_host_saved_before_the_rule_is_listed_and_asks_for_a_valid_name_when_changed(api):
    old = make_host(hostname="old host")  # as a row from before the rule: the migration checks nothing
    assert "old host" in api.get("/hosts/").content.decode()
    response = api.patch(f"/api/hosts/{old.pk}/", {"description": "rack 4"}, format="json")
    assert response.status_code == 400
    assert "“old host” is not a valid part of a hostname" in response.json()["hostname"][0]
    renamed = api.patch(f"/api/hosts/{old.pk}/", {"hostname": "old-host", "description": "rack 4"}, format="json")
    assert renamed.status_code == 200


def test_manage_py_check_with_the_database_names_hosts_saved_before_the_rule():
    from django.core import checks

    old = make_host(hostname="old host")
    make_host(hostname="fine.example.net")
    warnings = checks.run_checks(tags=[checks.Tags.database], databases=["default"])
    named = [warning for warning in warnings if warning.id == "clusters.W001"]
    assert [warning.msg for warning in named] == [
        f"Host {old.pk} is named 'old host': “old host” is not a valid part of a hostname: use letters, digits and "
        "hyphens (not at either end), 1 to 63 characters between dots (RFC 1123)."
    ]
    assert checks.run_checks(tags=[checks.Tags.database]) == []  # without --database nothing is queried
