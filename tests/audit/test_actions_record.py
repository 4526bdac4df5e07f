"""Each inventory action writes exactly the expected audit entry, in its own transaction."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import AuditEntry
from clusters import actions
from clusters.models import Cluster
from tests.factories import default_team

pytestmark = pytest.mark.django_db


def entries(action=None):
    queryset = AuditEntry.objects.order_by("id")
    return list(queryset.filter(action=action) if action else queryset)


def test_create_cluster_records_every_field_as_new(operator):
    team = default_team()
    cluster = actions.create_cluster(acting_user=operator, fields={"team": team, "name": "web frontend", "slug": "web"})
    [entry] = entries()
    assert entry.action == "cluster.create"
    assert entry.actor_type == "user" and entry.actor_name == "olga" and entry.actor_user_id == operator.pk
    assert (entry.object_type, entry.object_id, entry.object_repr) == (
        "clusters.cluster",
        str(cluster.pk),
        "web frontend",
    )
    assert entry.cluster_id == cluster.pk
    assert entry.team_id == team.pk
    assert entry.changes == {
        "team": [None, team.pk],
        "name": [None, "web frontend"],
        "slug": [None, "web"],
        "description": [None, ""],
        "drain_timeout": [None, 300],
        "sync_id": [None, None],
        "sync_port": [None, None],
        "sync_mcast_group": [None, None],
        "sync_ttl": [None, None],
    }
    assert entry.result == "success"


def test_weight_change_records_only_the_weight(operator, real_server):
    before = AuditEntry.objects.count()
    actions.update_real_server(acting_user=operator, real_server=real_server, changes={"weight": 50})
    assert AuditEntry.objects.count() == before + 1
    [entry] = entries("real_server.update")
    assert entry.changes == {"weight": [100, 50]}
    assert entry.object_repr == "203.0.113.11:80"
    assert entry.cluster_id == real_server.virtual_service.cluster_id


def test_update_without_a_change_records_nothing(operator, real_server):
    before = AuditEntry.objects.count()
    actions.update_real_server(acting_user=operator, real_server=real_server, changes={"weight": 100})
    assert AuditEntry.objects.count() == before


def test_drain_is_recorded_as_a_drain(operator, real_server):
    actions.set_real_server_state(acting_user=operator, real_server=real_server, state="draining")
    [entry] = entries("real_server.drain")
    assert entry.changes == {"state": ["active", "draining"]}


def test_service_port_change_records_the_real_servers_that_follow(operator, service, real_server):
    actions.update_virtual_service(acting_user=operator, virtual_service=service, changes={"port": 8080})
    assert entries("virtual_service.update")[0].changes == {"port": [80, 8080]}
    assert entries("real_server.update")[0].changes == {"port": [80, 8080]}


def test_delete_records_what_was_there(operator, cluster, service, real_server):
    cluster_pk = cluster.pk
    actions.delete_cluster(acting_user=operator, cluster=cluster)
    [entry] = entries("cluster.delete")
    assert entry.object_id == str(cluster_pk) and entry.object_repr == "web frontend"
    assert entry.changes["slug"] == ["web", None]
    assert entry.message == "Deleted with 1 virtual services and 1 real servers."
    assert not Cluster.objects.filter(pk=cluster_pk).exists()


def test_refused_change_leaves_no_entry(operator, service):
    before = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        actions.create_real_server(
            acting_user=operator, virtual_service=service, fields={"address": "203.0.113.12", "port": 8080}
        )
    assert AuditEntry.objects.count() == before


def test_rolled_back_transaction_leaves_no_entry(operator, cluster):
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "gone soon"})
        raise RuntimeError("something later in the same transaction failed")
    assert AuditEntry.objects.count() == before
    cluster.refresh_from_db()
    assert cluster.description == ""


def test_changes_without_a_user_are_recorded_as_system(db):
    actions.create_cluster(acting_user=None, fields={"team": default_team(), "name": "from the shell", "slug": "shell"})
    [entry] = entries()
    assert (entry.actor_type, entry.actor_name, entry.actor_user_id) == ("system", "system", None)


def test_token_creation_never_records_the_secret(operator):
    from accounts.actions import create_api_token

    token, key = create_api_token(acting_user=operator, user=operator, name="laptop")
    [entry] = entries("api_token.create")
    assert entry.changes["key_hash"] == [None, "(secret)"]
    assert entry.changes["name"] == [None, "laptop"]
    text = str(entry.changes) + entry.message + entry.object_repr
    assert key not in text and token.key_hash not in text
