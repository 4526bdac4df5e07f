"""Revision pages: browse, compare side by side, confirm and roll back."""

import pytest

from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.models import RealServer
from dispatch import actions
from dispatch.models import Deployment
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(client):
    client.force_login(make_user(staff=True, is_superuser=True))
    return client


@pytest.fixture
def changed_after_revision_one(lab):
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    Deployment.objects.update(status="applied")
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    return lab


def test_the_list_offers_compare_and_rollback(browser, changed_after_revision_one):
    body = browser.get("/clusters/web/revisions/").content.decode()
    assert "Revisions of web" in body
    assert "/clusters/web/revisions/1/rollback/" in body and "Roll back to this revision" in body


def test_the_comparison_shows_each_field_before_and_after(browser, changed_after_revision_one):
    response = browser.get("/clusters/web/revisions/diff/", {"from": 1, "to": "current"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "From revision 1 to the current inventory" in body
    assert "TCP 10.10.0.100:80 → 10.20.0.12:80" in body
    assert '<td>weight</td><td class="before">1</td><td class="after">7</td>' in body
    assert "is not a revision number" in browser.get("/clusters/web/revisions/diff/", {"from": "x"}).content.decode()
    assert browser.get("/clusters/web/revisions/diff/", {"from": 9}).status_code == 404


def test_rollback_asks_first_then_restores_and_says_to_apply(browser, changed_after_revision_one):
    confirm = browser.get("/clusters/web/revisions/1/rollback/").content.decode()
    assert "Roll back to revision 1?" in confirm and "nothing reaches the hosts" in confirm
    assert RealServer.objects.get(address="10.20.0.12").weight == 7  # looking changed nothing
    response = browser.post("/clusters/web/revisions/1/rollback/", follow=True)
    assert response.redirect_chain[-1][0] == "/clusters/web/history/"
    assert (
        "Inventory restored to revision 1 (1 changes). Nothing has reached the hosts yet" in response.content.decode()
    )
    assert RealServer.objects.get(address="10.20.0.12").weight == 1
    assert AuditEntry.objects.filter(action="cluster.rollback").count() == 1


def row_of_revision(body: str, number: int) -> str:
    return body.split(f'/revisions/{number}/">{number}</a></td>', 1)[1].split("</tr>", 1)[0]


def test_each_revision_says_how_its_hosts_took_it_in_a_constant_number_of_queries(
    browser, lab, django_assert_max_num_queries
):
    def apply(**statuses):
        revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
        for hostname, status in statuses.items():
            Deployment.objects.filter(revision=revision, host__hostname=hostname).update(status=status)
        return revision

    apply(director="applied", rs1="applied", rs2="applied")
    apply(director="applied", rs1="failed", rs2="applied")
    apply(director="applied", rs1="applying", rs2="pending")

    with django_assert_max_num_queries(12) as few:
        body = browser.get("/clusters/web/revisions/").content.decode()
    assert "<th>Status</th>" in body
    assert "applied on 3 of 3 hosts" in row_of_revision(body, 1)
    assert "failed on 1 of 3 hosts" in row_of_revision(body, 2) and "applied on 2 of 3" in row_of_revision(body, 2)
    assert "in progress: applied on 1 of 3 hosts" in row_of_revision(body, 3)
    Deployment.objects.filter(status__in=["pending", "applying"]).update(status="applied")  # (no new apply meanwhile)
    for _ in range(3):
        apply(director="applied", rs1="applied", rs2="applied")
    with django_assert_max_num_queries(len(few.captured_queries)):  # six revisions: no more queries than three
        browser.get("/clusters/web/revisions/")


def test_compare_defaults_to_the_previous_revision_never_a_revision_against_itself(browser, lab):
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    Deployment.objects.update(status="applied")
    body = browser.get("/clusters/web/revisions/").content.decode()
    # One revision: compare it with the current inventory.
    assert '<option value="current" selected>the current inventory</option>' in body
    assert '<option value="1" selected>revision 1</option>' not in body

    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    body = browser.get("/clusters/web/revisions/").content.decode()
    # Two: the previous (1) against the newest (2).
    assert '<option value="1" selected>1</option>' in body
    assert '<option value="2" selected>revision 2</option>' in body
