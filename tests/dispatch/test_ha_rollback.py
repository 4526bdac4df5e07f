"""Rolling back restores VIP groups, their services, directors' priorities and drain, and connection sync."""

import pytest

from clusters.compiler import inventory_snapshot
from clusters.models import Cluster, ClusterHost, VipGroup
from dispatch import actions
from dispatch.revisions import inventory_diff
from tests.factories import make_cluster_host, make_vip_group

pytestmark = pytest.mark.django_db


def test_a_rollback_brings_high_availability_back(lab):
    lab.cluster.sync_id = 7
    lab.cluster.save()
    second = make_cluster_host(cluster=lab.cluster, vrrp_priority=90)
    group = make_vip_group(cluster=lab.cluster, name="web", vrid=51, advert_int=0.5)
    lab.service.vip_group = group
    lab.service.save()
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    # Everything changed afterwards …
    lab.service.vip_group = None
    lab.service.save()
    group.delete()
    make_vip_group(cluster=lab.cluster, name="other", vrid=60)
    ClusterHost.objects.filter(pk=second.pk).update(vrrp_priority=200, drained=True)
    Cluster.objects.filter(pk=lab.cluster.pk).update(sync_id=None)
    rows = inventory_diff(revision.inventory, inventory_snapshot(Cluster.objects.get(pk=lab.cluster.pk)))
    assert {row["object"] for row in rows} >= {"VIP group", "host", "cluster", "virtual service"}
    # … comes back as it was.
    actions.rollback_to_revision(acting_user=None, revision=revision)
    restored = VipGroup.objects.get(cluster=lab.cluster)
    assert (restored.name, restored.vrid, restored.advert_int) == ("web", 51, 0.5)
    assert list(restored.virtual_services.all()) == [lab.service]
    second.refresh_from_db()
    assert (second.vrrp_priority, second.drained) == (90, False)
    assert Cluster.objects.get(pk=lab.cluster.pk).sync_id == 7
    assert inventory_diff(revision.inventory, inventory_snapshot(Cluster.objects.get(pk=lab.cluster.pk))) == []


def test_deleting_a_cluster_takes_its_groups_along(lab):
    group = make_vip_group(cluster=lab.cluster)
    lab.service.vip_group = group
    lab.service.save()
    lab.cluster.delete()
    assert not VipGroup.objects.exists()
