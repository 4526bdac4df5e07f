"""Hypothesis-made bodies against the health-check endpoint: 201 or a JSON 400 naming a field, never a 500."""

import json

import pytest
from hypothesis import HealthCheck as Hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from clusters.models import HealthCheck
from tests.factories import make_member, make_real_server, make_user, make_virtual_service

pytestmark = pytest.mark.django_db

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "\x00", "\ud800", "/a b", "/ok", "", "0", "3600.5"]),
    st.just([]),
    st.just({}),
)
FIELDS = {
    "check_type": st.one_of(st.sampled_from(["none", "tcp", "http", "https"]), junk),
    "port": st.one_of(st.integers(0, 70000), junk),
    "path": st.one_of(st.sampled_from(["/", "/healthz", "healthz"]), junk),
    "host_header": junk,
    "expect_status_min": st.one_of(st.integers(90, 610), junk),
    "expect_status_max": st.one_of(st.integers(90, 610), junk),
    "body_match": junk,
    "interval": st.one_of(st.floats(0, 4000), junk),
    "timeout": st.one_of(st.floats(0, 4000), junk),
    "rise": st.one_of(st.integers(0, 101), junk),
    "fall": st.one_of(st.integers(0, 101), junk),
    "on_failure": st.one_of(st.sampled_from(["weight0", "remove"]), junk),
    "tunnel_path": st.one_of(st.booleans(), junk),
    "quorum": st.one_of(st.integers(0, 3), junk),
    "sorry_address": st.one_of(st.sampled_from(["10.10.0.21", "2001:db8::1", "10.20.0.11"]), junk),
    "sorry_port": st.one_of(st.integers(0, 70000), junk),
    "sorry_forward_method": st.one_of(st.sampled_from(["tun", "dr", "nat"]), junk),
}


@st.composite
def bodies(draw):
    chosen = draw(st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=len(FIELDS)))
    return {name: draw(FIELDS[name]) for name in chosen}


def body_text(body: dict) -> str:
    # allow_nan: the junk includes NaN and infinities, which Python's JSON writes and a strict parser refuses.
    return json.dumps(body)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[Hypothesis.too_slow, Hypothesis.function_scoped_fixture]
)
@given(body=bodies(), on_real_server=st.booleans())
def test_creating_a_check_answers_201_or_a_400_naming_fields(django_db_blocker, body, on_real_server):
    with django_db_blocker.unblock():
        HealthCheck.objects.all().delete()
        user = make_user(staff=False)
        service = make_virtual_service(port=80)
        make_member(user, team=service.cluster.team, role="operator")
        real_server = make_real_server(virtual_service=service, address="10.20.0.11")
        client = APIClient()
        client.force_login(user)
        target = {"real_server": real_server.pk} if on_real_server else {"virtual_service": service.pk}
        text = body_text({**body, **target}).encode("utf-8", "surrogatepass")
        response = client.post("/api/health-checks/", data=text, content_type="application/json")
        assert response.status_code in (201, 400), response.content[:300]
        if response.status_code == 400:
            assert isinstance(response.json(), dict) and response.json()
        else:
            check = HealthCheck.objects.get()
            assert 0 < check.interval <= 3600 and 0 < check.timeout <= check.interval
