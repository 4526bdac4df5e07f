"""The token admin: superusers revoke (audited) but can neither edit nor delete a token."""

import pytest
from django.urls import reverse

from accounts.actions import create_api_token
from accounts.models import ApiToken
from audit.models import AuditEntry
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    superuser = make_user(username="root", is_superuser=True)
    client.force_login(superuser)
    return client


def test_revoking_from_the_admin_is_recorded_in_the_audit_history(admin_client):
    owner = make_user(username="olga")
    token, _key = create_api_token(acting_user=owner, user=owner, name="ci")
    response = admin_client.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 token(s) revoked." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = AuditEntry.objects.get(action="api_token.revoke", object_id=str(token.pk))
    assert entry.actor_name == "root"


def test_a_token_cannot_be_deleted_from_the_admin(admin_client):
    owner = make_user(username="olga")
    token, _key = create_api_token(acting_user=owner, user=owner, name="ci")
    response = admin_client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert response.status_code == 403
    changelist = admin_client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    assert "delete_selected" not in changelist
    assert ApiToken.objects.filter(pk=token.pk).exists()
