"""Console URLs of teams and invitations."""

from django.urls import path

from teams import views

urlpatterns = [
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("teams/<slug:slug>/", views.TeamDetailView.as_view(), name="team-detail"),
    path("teams/<slug:slug>/invite/", views.InviteView.as_view(), name="team-invite"),
    path("teams/<slug:slug>/members/<int:pk>/role/", views.MemberRoleView.as_view(), name="team-member-role"),
    path("teams/<slug:slug>/members/<int:pk>/remove/", views.MemberRemoveView.as_view(), name="team-member-remove"),
    path(
        "teams/<slug:slug>/invitations/<int:pk>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="team-invitation-revoke",
    ),
    path("invitations/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
]
