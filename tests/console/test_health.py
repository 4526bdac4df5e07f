"""Health at a glance (dispatch/overview.py): counts by state, the last apply's overall status, sort headers."""

from collections import Counter

import pytest
from django.test import RequestFactory
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from clusters.models import Cluster
from clusters.templatetags.console import sort_header
from dispatch.choices import DeploymentStatus
from dispatch.models import Deployment, Revision
from dispatch.overview import _apply_status, health_of, with_last_apply
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service

statuses = st.dictionaries(st.sampled_from(list(DeploymentStatus)), st.integers(min_value=0, max_value=5))


@given(statuses)
def test_an_apply_is_failed_if_any_host_failed_and_applied_only_when_all_did(counts):
    status = _apply_status(Counter(counts))
    if counts.get(DeploymentStatus.FAILED):
        assert status == DeploymentStatus.FAILED
    elif counts.get(DeploymentStatus.APPLYING) or counts.get(DeploymentStatus.PENDING):
        assert status in (DeploymentStatus.APPLYING, DeploymentStatus.PENDING)
    else:
        assert status == DeploymentStatus.APPLIED


@given(st.sampled_from(["name", "-name", "", "port", "-port"]), st.sampled_from(["name", "port"]))
def test_a_sort_header_reverses_only_its_own_sorted_column(current, field):
    request = RequestFactory().get("/", {"sort": current, "page": "3", "q": "x"} if current else {"page": "3"})
    html = str(sort_header({"request": request}, field, "Label"))
    assert "page=" not in html  # a new order starts on page 1
    expected = f"-{field}" if current == field else field
    assert f"sort={expected}" in html
    assert ("▲" in html) == (current == field) and ("▼" in html) == (current == f"-{field}")


@pytest.mark.django_db
def test_health_counts_every_cluster_in_a_fixed_number_of_queries(django_assert_num_queries):
    clusters = []
    for n in range(3):
        cluster = make_cluster()
        service = make_virtual_service(cluster=cluster)
        for state in ("active", "draining", "draining")[: n + 1]:
            make_real_server(virtual_service=service, state=state)
        host = make_host(public_key="k" * 43, agent_status="online")
        make_cluster_host(cluster=cluster, host=host)
        revision = Revision.objects.create(cluster=cluster, number=1, inventory={})
        Deployment.objects.create(
            cluster=cluster, revision=revision, host=host, status="applied", expires_at=timezone.now()
        )
        clusters.append(cluster)
    loaded = list(with_last_apply(Cluster.objects.filter(pk__in=[c.pk for c in clusters])).order_by("pk"))
    with django_assert_num_queries(4):  # hosts, real servers, revisions, deployments
        health = health_of(loaded)
    assert [health[c.pk].real_servers for c in clusters] == [
        Counter(active=1),
        Counter(active=1, draining=1),
        Counter(active=1, draining=2),
    ]
    assert all(health[c.pk].hosts == Counter(in_sync=1) for c in clusters)
    assert all(health[c.pk].last_apply.status == DeploymentStatus.APPLIED for c in clusters)
    assert not any(health[c.pk].needs_attention for c in clusters)


@pytest.mark.django_db
def test_the_dashboard_dot_is_green_only_when_every_host_is_in_sync(client):
    from django.contrib.auth import get_user_model

    from tests.factories import default_team, make_member

    user = get_user_model().objects.create_user("dora", password="a long pass phrase")
    make_member(user, team=default_team(), role="viewer")
    synced, waiting = make_cluster(name="synced"), make_cluster(name="waiting")
    make_cluster_host(cluster=synced, host=make_host(public_key="k" * 43, agent_status="online"))
    make_cluster_host(cluster=waiting, host=make_host())  # registered, never enrolled
    client.force_login(user)
    rows = {
        name: row
        for row in client.get("/").content.decode().split("<tr")
        for name in ("synced", "waiting")
        if f"<strong>{name}</strong>" in row
    }
    assert 'class="dot ok"' in rows["synced"]
    assert 'class="dot warn"' in rows["waiting"]
