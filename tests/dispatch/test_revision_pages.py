"""Revision pages: browse, compare side by side, confirm and roll back."""

import pytest

from agents import actions
from agents.models import Deployment
from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.models import RealServer
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
