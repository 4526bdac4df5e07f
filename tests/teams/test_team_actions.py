"""Team actions: roles, the last owner, invitations and cluster transfers — through the actions and the pages."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from clusters import actions as cluster_actions
from clusters import selectors
from clusters.models import Cluster
from teams import actions, policy
from teams.choices import TeamRole
from teams.models import Invitation, Membership, hash_invitation_token
from tests.teams.team_world import make_user

pytestmark = pytest.mark.django_db


# The last owner


def test_the_last_owner_cannot_be_demoted(world):
    owner = world.memberships["owner"]
    with pytest.raises(ValidationError, match="olga is the last owner of team “Alpha”; make another member owner"):
        actions.change_role(acting_user=world.user("owner"), membership=owner, role=TeamRole.OPERATOR)
    owner.refresh_from_db()
    assert owner.role == TeamRole.OWNER


def test_the_last_owner_cannot_be_removed_nor_leave(world):
    owner = world.memberships["owner"]
    for acting in (world.user("owner"), world.user("superuser"), None):
        with pytest.raises(ValidationError, match="last owner of team “Alpha” and cannot be removed"):
            actions.remove_member(acting_user=acting, membership=owner)
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_with_a_second_owner_the_first_may_step_down(world):
    actions.change_role(acting_user=world.user("owner"), membership=world.memberships["operator"], role=TeamRole.OWNER)
    actions.change_role(acting_user=world.user("owner"), membership=world.memberships["owner"], role=TeamRole.VIEWER)
    roles = dict(Membership.objects.filter(team=world.alpha.team).values_list("user__username", "role"))
    assert roles == {"otto": "owner", "olga": "viewer", "vera": "viewer"}


def test_the_last_owner_page_says_why_and_changes_nothing(world):
    client = world.client("owner")
    url = reverse("team-member-role", args=["alpha", world.memberships["owner"].pk])
    response = client.post(url, {"role": "viewer"}, follow=True)
    assert response.status_code == 200
    assert "olga is the last owner of team “Alpha”" in response.content.decode()
    response = client.post(reverse("team-member-remove", args=["alpha", world.memberships["owner"].pk]), follow=True)
    assert "cannot be removed" in response.content.decode()
    assert Membership.objects.get(pk=world.memberships["owner"].pk).role == TeamRole.OWNER


# Roles


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_owners_manage_members(world, role):
    target = world.memberships["viewer"]
    article = "an" if role == "operator" else "a"
    with pytest.raises(PermissionDenied, match=f"You are {article} {role} of team “Alpha”; to manage"):
        actions.change_role(acting_user=world.user(role), membership=target, role=TeamRole.OWNER)
    with pytest.raises(PermissionDenied):
        actions.invite_member(acting_user=world.user(role), team=world.alpha.team, email="x@example.net", role="viewer")
    assert Membership.objects.get(pk=target.pk).role == TeamRole.VIEWER


def test_an_owner_changes_a_role_on_the_team_page(world):
    client = world.client("owner")
    url = reverse("team-member-role", args=["alpha", world.memberships["viewer"].pk])
    response = client.post(url, {"role": "operator"}, follow=True)
    assert "vera is now operator of “Alpha”" in response.content.decode()
    assert Membership.objects.get(pk=world.memberships["viewer"].pk).role == TeamRole.OPERATOR
    entry = AuditEntry.objects.get(action="membership.update")
    assert entry.changes == {"role": ["viewer", "operator"]} and entry.team_id == world.alpha.team.pk
    # Her next request is made with the new role: she may now edit the inventory.
    patched = world.client("viewer").patch(f"/api/clusters/{world.alpha.cluster.slug}/", {"description": "x"})
    assert patched.status_code == 200


def test_a_member_may_leave_and_then_sees_nothing(world):
    client = world.client("viewer")
    url = reverse("team-member-remove", args=["alpha", world.memberships["viewer"].pk])
    assert "Leave team “Alpha”?" in client.get(url).content.decode()
    assert client.post(url).status_code == 302
    assert not Membership.objects.filter(pk=world.memberships["viewer"].pk).exists()
    assert client.get(reverse("cluster-detail", args=["alpha-web"])).status_code == 404


def test_a_removed_members_token_loses_access_at_once(world):
    from rest_framework.test import APIClient

    from accounts.actions import create_api_token

    _token, key = create_api_token(acting_user=None, user=world.user("operator"), name="ci")
    api = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/clusters/alpha-web/").status_code == 200
    actions.remove_member(acting_user=world.user("owner"), membership=world.memberships["operator"])
    assert api.get("/api/clusters/alpha-web/").status_code == 404
    assert api.get("/api/clusters/").json()["count"] == 0


# Actions that trigger work ask the policy


def test_viewers_cannot_drain_and_operators_can(world):
    real_server = world.alpha.real_server
    with pytest.raises(PermissionDenied, match="You are a viewer of team “Alpha”; to change real server"):
        cluster_actions.set_real_server_state(
            acting_user=world.user("viewer"), real_server=real_server, state="draining"
        )
    cluster_actions.set_real_server_state(acting_user=world.user("operator"), real_server=real_server, state="draining")
    real_server.refresh_from_db()
    assert real_server.state == "draining"
    cluster_actions.set_real_server_state(acting_user=None, real_server=real_server, state="active")  # the system


def test_only_owners_delete_clusters(world):
    with pytest.raises(PermissionDenied, match="you need the owner role"):
        cluster_actions.delete_cluster(acting_user=world.user("operator"), cluster=world.alpha.cluster)
    assert Cluster.objects.filter(pk=world.alpha.cluster.pk).exists()
    cluster_actions.delete_cluster(acting_user=world.user("owner"), cluster=world.alpha.cluster)
    assert not Cluster.objects.filter(pk=world.alpha.cluster.pk).exists()


def test_assigning_a_host_needs_the_operator_role_for_host_and_cluster(world):
    """Bruno owns bravo and views alpha: he may not put bravo's host into alpha's cluster, nor the reverse."""
    bruno = world.user("bravo_owner")
    Membership.objects.create(team=world.alpha.team, user=bruno, role=TeamRole.VIEWER)
    with pytest.raises(PermissionDenied, match="You are a viewer of team “Alpha”"):
        cluster_actions.assign_host_role(
            acting_user=bruno, cluster=world.alpha.cluster, host=world.bravo.spare_host, role="real_server"
        )
    Membership.objects.filter(team=world.alpha.team, user=bruno).update(role=TeamRole.OPERATOR)
    policy.forget_roles(bruno)
    role = cluster_actions.assign_host_role(
        acting_user=bruno, cluster=world.alpha.cluster, host=world.bravo.spare_host, role="real_server"
    )
    assert role.host.team == world.bravo.team
    with pytest.raises(PermissionDenied, match="You are not a member of team “Bravo”"):
        cluster_actions.assign_host_role(
            acting_user=world.user("owner"), cluster=world.alpha.cluster, host=world.bravo.host, role="real_server"
        )


def test_policy_names_operator_work_and_refuses_unknown_actions(world):
    cluster = world.alpha.cluster
    for action in ("plan", "apply", "drain", "reconcile", "enroll", "revoke", "edit"):
        assert policy.can(world.user("operator"), action, cluster)
        assert not policy.can(world.user("viewer"), action, cluster)
    assert policy.can(world.user("viewer"), "view", cluster)
    assert not policy.can(world.user("operator"), "transfer", cluster)
    with pytest.raises(ValueError, match="knows no action “launch”"):
        policy.can(world.user("owner"), "launch", cluster)


def test_inactive_users_may_do_nothing(world):
    owner = world.user("owner")
    owner.is_active = False
    owner.save()
    assert not policy.can(owner, "view", world.alpha.cluster)
    assert not selectors.visible_clusters(owner).exists()


# Transfers


def test_an_owner_of_both_teams_transfers_a_cluster(world):
    client = world.client("owner")
    url = reverse("team-cluster-transfer", args=["alpha", "alpha-web"])
    page = client.get(url).content.decode()
    assert "Alpha two" in page and "Bravo" not in page  # only teams she owns
    response = client.post(url, {"team": "alpha-two"}, follow=True)
    assert "now belongs to team “Alpha two”" in response.content.decode()
    assert Cluster.objects.get(slug="alpha-web").team == world.alpha_two
    assert world.client("viewer").get(reverse("cluster-detail", args=["alpha-web"])).status_code == 404
    entries = AuditEntry.objects.filter(action="cluster.transfer")
    assert sorted(entries.values_list("team_id", flat=True)) == sorted([world.alpha.team.pk, world.alpha_two.pk])


def test_a_transfer_to_a_team_the_user_does_not_own_is_refused(world):
    Membership.objects.create(team=world.bravo.team, user=world.user("owner"), role=TeamRole.OPERATOR)
    policy.forget_roles(world.user("owner"))
    with pytest.raises(PermissionDenied, match="only to teams you own; you do not own “Bravo”"):
        cluster_actions.transfer_cluster(
            acting_user=world.user("owner"), cluster=world.alpha.cluster, team=world.bravo.team
        )
    response = world.client("owner").post(
        reverse("team-cluster-transfer", args=["alpha", "alpha-web"]), {"team": "bravo"}
    )
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert Cluster.objects.get(slug="alpha-web").team == world.alpha.team


def test_the_api_transfers_through_the_same_action(world):
    client = world.client("operator")
    response = client.patch("/api/clusters/alpha-web/", {"team": "alpha-two"}, format="json")
    assert response.status_code == 400  # alpha-two is not one of otto's teams: it does not exist for him
    response = world.client("owner").patch("/api/clusters/alpha-web/", {"team": "alpha-two"}, format="json")
    assert response.status_code == 200 and response.json()["team"] == "alpha-two"


# Invitations


def test_an_invitation_is_mailed_stored_hashed_and_works_once(world, client, django_capture_on_commit_callbacks):
    owner = world.client("owner")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(reverse("team-invite", args=["alpha"]), {"email": "nina@example.net", "role": "operator"})
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["nina@example.net"] and "team “Alpha”" in message.subject
    link = next(line for line in message.body.splitlines() if "/invitations/" in line)
    token = link.rstrip("/").rsplit("/", 1)[1]
    invitation = Invitation.objects.get(email="nina@example.net")
    assert invitation.token_hash == hash_invitation_token(token)
    assert token not in str(Invitation.objects.filter(pk=invitation.pk).values().get())

    page = client.get(link)
    assert "Join team “Alpha”" in page.content.decode() and "operator" in page.content.decode()
    form = {"username": "nina", "password1": "a long pass phrase", "password2": "a long pass phrase"}
    response = client.post(link, form)
    assert response.status_code == 302 and response["Location"] == reverse("team-detail", args=["alpha"])
    nina = Membership.objects.get(team=world.alpha.team, user__username="nina")
    assert nina.role == TeamRole.OPERATOR and nina.user.email == "nina@example.net"
    assert "alpha web" in client.get(reverse("dashboard")).content.decode()  # signed in, sees the team

    client.logout()
    assert client.get(link).status_code == 404  # used up
    assert client.post(link, {**form, "username": "nina2"}).status_code == 404


def test_an_expired_invitation_is_refused(world, client):
    Invitation.objects.filter(pk=world.invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    url = reverse("invitation-accept", args=[world.invitation_token])
    assert client.get(url).status_code == 404
    form = {"username": "late", "password1": "a long pass phrase", "password2": "a long pass phrase"}
    assert client.post(url, form).status_code == 404
    assert not Membership.objects.filter(user__username="late").exists()


def test_the_sign_up_form_keeps_what_was_typed_and_says_what_is_wrong(world, client):
    url = reverse("invitation-accept", args=[world.invitation_token])
    response = client.post(url, {"username": "vera", "password1": "short", "password2": "other"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "This user name is taken" in text and "The two passwords differ" in text
    response = client.post(url, {"username": "newbie", "password1": "12345678901", "password2": "12345678901"})
    text = response.content.decode()
    assert response.status_code == 400 and "entirely numeric" in text and 'value="newbie"' in text
    assert Invitation.objects.get(pk=world.invitation.pk).accepted_at is None


def test_a_signed_in_user_joins_with_one_click(world):
    client = world.client("no_team")
    response = client.post(reverse("invitation-accept", args=[world.invitation_token]))
    assert response.status_code == 302
    assert Membership.objects.get(team=world.alpha.team, user=world.user("no_team")).role == TeamRole.VIEWER
    assert client.get(reverse("cluster-detail", args=["alpha-web"])).status_code == 200


def test_the_invite_form_keeps_a_bad_address_and_says_why(world):
    response = world.client("owner").post(reverse("team-invite", args=["alpha"]), {"email": "nina@", "role": "owner"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Enter a valid email address" in text and 'value="nina@"' in text
    assert not Invitation.objects.filter(email__startswith="nina").exists()


def test_an_owner_withdraws_an_invitation(world):
    response = world.client("owner").post(reverse("team-invitation-revoke", args=["alpha", world.invitation.pk]))
    assert response.status_code == 302
    assert not Invitation.objects.filter(pk=world.invitation.pk).exists()
    assert world.client("no_team").get(reverse("invitation-accept", args=[world.invitation_token])).status_code == 404


# Teams


def test_only_superusers_create_teams_and_become_owners(world):
    with pytest.raises(PermissionDenied, match="Only administrators"):
        actions.create_team(acting_user=world.user("owner"), name="Mine", slug="mine", owner=world.user("owner"))
    response = world.client("superuser").post(reverse("team-list"), {"name": "Delta", "slug": "delta"})
    assert response.status_code == 302 and response["Location"] == reverse("team-detail", args=["delta"])
    assert Membership.objects.get(team__slug="delta").user == world.user("superuser")
    response = world.client("superuser").post(reverse("team-list"), {"name": "Delta", "slug": "delta"})
    assert response.status_code == 400 and "Team with this Name already exists" in response.content.decode()


def test_the_team_page_shows_members_and_the_owners_tools(world):
    page = world.client("owner").get(reverse("team-detail", args=["alpha"])).content.decode()
    for name in ("vera", "otto", "olga"):
        assert name in page
    assert "Invite someone" in page and "new@example.net" in page and "Transfer to another team" in page
    page = world.client("viewer").get(reverse("team-detail", args=["alpha"])).content.decode()
    assert "Invite someone" not in page and "new@example.net" not in page and "Change role" not in page


def test_a_new_user_in_a_new_team_needs_no_team_in_the_api(world):
    """A user who may create in exactly one team can leave `team` out; with several teams they must name it."""
    carla = make_user("carla")
    Membership.objects.create(team=world.bravo.team, user=carla, role=TeamRole.OPERATOR)
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_login(carla)
    response = api.post("/api/clusters/", {"name": "carla's", "slug": "carla"}, format="json")
    assert response.status_code == 201 and response.json()["team"] == "bravo"
    response = world.client("owner").post("/api/clusters/", {"name": "olga's", "slug": "olga"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"team": ["Name the team (its slug): you may create clusters in several teams."]}


# The admin (superusers only)


def test_an_administrator_adds_a_user_they_created_to_a_team(world):
    newcomer = make_user("nadia")
    admin = world.client("superuser")
    response = admin.post(
        reverse("admin:teams_membership_add"), {"team": world.alpha.team.pk, "user": newcomer.pk, "role": "operator"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer).role == TeamRole.OPERATOR
    assert AuditEntry.objects.filter(action="membership.create", team_id=world.alpha.team.pk).exists()
    again = admin.post(
        reverse("admin:teams_membership_add"), {"team": world.alpha.team.pk, "user": newcomer.pk, "role": "viewer"}
    )
    assert again.status_code == 200 and "already a member of this team" in again.content.decode()


def test_the_admin_removes_members_but_never_the_last_owner(world):
    admin = world.client("superuser")
    viewer = world.memberships["viewer"]
    assert admin.post(reverse("admin:teams_membership_delete", args=[viewer.pk]), {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    owner = world.memberships["owner"]
    response = admin.post(reverse("admin:teams_membership_delete", args=[owner.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_the_new_team_reads_a_transferred_clusters_whole_history(world):
    cluster_actions.update_virtual_service(
        acting_user=world.user("operator"), virtual_service=world.alpha.service, changes={"scheduler": "wrr"}
    )
    cluster_actions.transfer_cluster(acting_user=world.user("owner"), cluster=world.alpha.cluster, team=world.alpha_two)
    newcomer = make_user("nadia")
    Membership.objects.create(team=world.alpha_two, user=newcomer, role=TeamRole.VIEWER)
    from django.test import Client

    client = Client()
    client.force_login(newcomer)
    page = client.get(reverse("audit-object", args=["clusters.virtualservice", world.alpha.service.pk]))
    assert page.status_code == 200 and "virtual_service.update" in page.content.decode()
    history = client.get(reverse("cluster-history", args=["alpha-web"])).content.decode()
    assert "cluster.transfer" in history
