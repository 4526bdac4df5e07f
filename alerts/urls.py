"""Console URLs of alerts: a team's alerts page, its forms, and one alert with its delivery log."""

from django.urls import path

from alerts import views

urlpatterns = [
    path("teams/<slug:slug>/alerts/", views.TeamAlertsView.as_view(), name="alerts-team"),
    path("teams/<slug:slug>/alerts/channels/", views.ChannelCreateView.as_view(), name="alerts-channel-create"),
    path("teams/<slug:slug>/alerts/rules/", views.RuleCreateView.as_view(), name="alerts-rule-create"),
    path("teams/<slug:slug>/alerts/silences/", views.SilenceCreateView.as_view(), name="alerts-silence-create"),
    path("alerts/channels/<int:pk>/test/", views.ChannelTestView.as_view(), name="alerts-channel-test"),
    path("alerts/channels/<int:pk>/rotate/", views.ChannelRotateView.as_view(), name="alerts-channel-rotate"),
    path("alerts/channels/<int:pk>/delete/", views.ChannelDeleteView.as_view(), name="alerts-channel-delete"),
    path("alerts/rules/<int:pk>/delete/", views.RuleDeleteView.as_view(), name="alerts-rule-delete"),
    path("alerts/silences/<int:pk>/end/", views.SilenceEndView.as_view(), name="alerts-silence-end"),
    path("alerts/<int:pk>/", views.AlertDetailView.as_view(), name="alerts-alert-detail"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAcknowledgeView.as_view(), name="alerts-alert-ack"),
]
