"""Director HA on the console's pages and API: who holds each VIP group, warnings, Drain/Undrain with confirmation."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text

from audit.models import AuditEntry
from clusters.models import ClusterHost
from dispatch.models import DirectorRole
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_member,
    make_user,
    make_vip_group,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ha(lab):
    lab.director2 = make_host(
        hostname="director2", vip_interface="eth0", public_key=public_key_text(generate_private_key())
    )
    lab.role2 = make_cluster_host(cluster=lab.cluster, host=lab.director2, vrrp_priority=90)
    lab.role1 = ClusterHost.objects.get(cluster=lab.cluster, host=lab.director)
    lab.group = make_vip_group(cluster=lab.cluster, name="web", vrid=51)
    lab.service.vip_group = lab.group
    lab.service.save()
    for host in (lab.director, lab.director2):
        host.agent_status = "online"
        host.save()
    return lab


def client_as(role):
    user = make_user(staff=False)
    make_member(user, role=role)
    client = Client()
    client.force_login(user)
    return client


def claim(lab, host, state):
    DirectorRole.objects.update_or_create(
        host=host,
        vip_group=lab.group,
        defaults={"cluster": lab.cluster, "instance": "web", "state": state, "since": timezone.now(), "cause": "x"},
    )


def test_the_cluster_page_shows_who_holds_each_group_and_warns_of_split_brain(ha):
    claim(ha, ha.director, "master")
    claim(ha, ha.director2, "backup")
    viewer = client_as("viewer")
    page = viewer.get(ha.cluster.get_absolute_url()).content.decode()
    assert 'data-ha-group="web"' in page and "<span data-ha-holders>director</span>" in page
    assert 'data-ha-role="director2"' in page and "Split brain" not in page
    assert "Drain…" not in page  # a viewer cannot drain
    assert 'src="/static/js/ha.js"' in page
    claim(ha, ha.director2, "master")
    page = viewer.get(ha.cluster.get_absolute_url()).content.decode()
    assert "Split brain: director and director2 both hold VIP group “web”" in page
    ha.director2.facts = {"ha_error": "keepalived is not running"}
    ha.director2.save()
    page = client_as("operator").get(ha.cluster.get_absolute_url()).content.decode()
    assert "keepalived is not running" in page and "Drain…" in page


def test_drain_and_undrain_apply_with_a_confirmation(ha):
    operator = client_as("operator")
    url = reverse("cluster-ha-drain", kwargs={"slug": ha.cluster.slug, "pk": ha.role1.pk})
    confirm = operator.get(url)
    assert confirm.status_code == 200
    assert "director2 (priority 90)" in confirm.content.decode()
    response = operator.post(url)
    assert response.status_code == 302 and "/revisions/1/" in response["Location"]
    ha.role1.refresh_from_db()
    assert ha.role1.drained
    revision = ha.cluster.revisions.get()
    document = revision.deployments.get(host=ha.director).document
    [instance] = document["director"]["ha"]["instances"]
    assert (instance["priority"], instance["preempt"]) == (1, True)
    assert AuditEntry.objects.filter(action="director.drain", cluster_id=ha.cluster.pk).exists()
    back = reverse("cluster-ha-undrain", kwargs={"slug": ha.cluster.slug, "pk": ha.role1.pk})
    # The first apply is still under way: refused, and the mark is not kept either.
    refused = operator.post(back, follow=True)
    assert "still being applied" in refused.content.decode()
    ha.role1.refresh_from_db()
    assert ha.role1.drained
    ha.cluster.revisions.get().deployments.update(status="applied")
    operator.post(back)
    ha.role1.refresh_from_db()
    assert not ha.role1.drained


def test_a_viewer_cannot_drain(ha):
    url = reverse("cluster-ha-drain", kwargs={"slug": ha.cluster.slug, "pk": ha.role1.pk})
    assert client_as("viewer").post(url).status_code == 403
    ha.role1.refresh_from_db()
    assert not ha.role1.drained


def test_the_api_refuses_bad_groups_by_field(api, ha):
    response = api.post("/api/vip-groups/", {"cluster": ha.cluster.slug, "name": "api", "vrid": 51}, format="json")
    assert response.status_code == 400 and "VRID 51" in response.json()["vrid"][0]
    response = api.post("/api/vip-groups/", {"cluster": ha.cluster.slug, "name": "x", "vrid": 300}, format="json")
    assert response.status_code == 400 and "vrid" in response.json()
    created = api.post(
        "/api/vip-groups/",
        {"cluster": ha.cluster.slug, "name": "api", "vrid": 52, "unicast": True, "auth_pass": "pw"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["auth_pass"] == "pw"
    other = make_vip_group(cluster=make_cluster(), name="else", vrid=9)
    response = api.patch(f"/api/virtual-services/{ha.service.pk}/", {"vip_group": other.pk}, format="json")
    assert response.status_code == 400 and "another cluster" in response.json()["vip_group"][0]
    response = api.delete(f"/api/vip-groups/{ha.group.pk}/")
    assert response.status_code == 400 and "1 virtual service" in response.json()["vip_group"][0]
    response = api.patch(f"/api/cluster-hosts/{ha.role2.pk}/", {"vrrp_priority": 1}, format="json")
    assert response.status_code == 400 and "vrrp_priority" in response.json()
    response = api.patch(f"/api/cluster-hosts/{ha.role2.pk}/", {"vrrp_priority": 200}, format="json")
    assert response.status_code == 200 and response.json()["vrrp_priority"] == 200


def test_the_api_tells_who_holds_each_group(api, ha):
    claim(ha, ha.director2, "master")
    [group] = api.get(f"/api/clusters/{ha.cluster.slug}/ha/").json()
    assert group["group"] == "web" and group["holders"] == ["director2"] and group["warning"] == ""
    roles = {role["host"]: role["state"] for role in group["roles"]}
    assert roles == {"director": "unknown", "director2": "master"}
    listed = api.get("/api/director-roles/", {"cluster": ha.cluster.slug}).json()["results"]
    assert [(r["host"], r["vip_group_name"], r["state"]) for r in listed] == [("director2", "web", "master")]
    rs_role = ClusterHost.objects.get(cluster=ha.cluster, host=ha.rs1)
    response = api.post(f"/api/cluster-hosts/{rs_role.pk}/drain/")
    assert response.status_code == 400 and "not a director" in response.json()["non_field_errors"][0]
    response = api.post(f"/api/cluster-hosts/{ha.role2.pk}/drain/")
    assert response.status_code == 202 and response.json()["number"] == 1


def test_a_service_without_group_keeps_its_vip_on_every_director(ha):
    make_virtual_service(cluster=ha.cluster, address="10.10.0.101", port=80)
    page = client_as("viewer").get(ha.cluster.get_absolute_url()).content.decode()
    assert "TCP 10.10.0.100:80</code>" in page  # the grouped one is listed in its group


def test_operators_add_edit_and_remove_vip_groups_and_put_services_in_them(ha):
    operator = client_as("operator")
    url = reverse("vip-group-create", kwargs={"slug": ha.cluster.slug})
    form = {"name": "api", "vrid": 51, "advert_int": 1, "preempt_delay": 0, "preempt": "on", "track_agent": "on"}
    refused = operator.post(url, form)
    assert refused.status_code == 400 and "VRID 51" in refused.content.decode()
    assert operator.post(url, {**form, "vrid": 52}).status_code == 302
    group = ha.cluster.vip_groups.get(name="api")
    edit = reverse("vip-group-edit", kwargs={"slug": ha.cluster.slug, "pk": group.pk})
    assert operator.post(edit, {**form, "vrid": 52, "auth_pass": "pw", "unicast": "on"}).status_code == 302
    group.refresh_from_db()
    assert (group.auth_pass, group.unicast) == ("pw", True)
    service = make_virtual_service(cluster=ha.cluster, address="10.10.0.102", port=80)
    service_edit = reverse("virtual-service-edit", kwargs={"slug": ha.cluster.slug, "pk": service.pk})
    page = operator.get(service_edit).content.decode()
    assert "Director high availability" in page and ">api</option>" in page
    fields = {"protocol": "tcp", "address": "10.10.0.102", "port": 80, "scheduler": "wlc", "forward_method": "tun"}
    fields.update(address_family="ipv4", persistence_timeout=0, enabled="on", vip_group=group.pk)
    response = operator.post(service_edit, fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    service.refresh_from_db()
    assert service.vip_group == group
    kept = operator.post(edit, {"remove": "1"}, follow=True)
    assert "still has 1 virtual service" in kept.content.decode()
    service.vip_group = None
    service.save()
    operator.post(edit, {"remove": "1"})
    assert not ha.cluster.vip_groups.filter(name="api").exists()
