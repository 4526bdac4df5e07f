"""The alerts pages: a team's channels, rules, silences and recent alerts; one alert with its delivery log.

Views parse input and call `alerts.actions`, which ask the policy. A team or object outside the user's teams
answers 404; a change their role does not allow answers 403 with the policy's reason.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.generic import TemplateView, View

from alerts import actions
from alerts.forms import ChannelForm, RuleForm, SilenceForm
from alerts.models import Alert, Channel, Rule, Silence
from teams import policy
from teams.models import Team

RECENT_ALERTS = 50


def _errors_into(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class TeamAlertsView(LoginRequiredMixin, TemplateView):
    """A team's alerts: channels, rules, silences, and the latest alerts."""

    template_name = "alerts/team_alerts.html"

    @cached_property
    def team(self) -> Team:
        return get_object_or_404(policy.visible_teams(self.request.user), slug=self.kwargs["slug"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user, team, now = self.request.user, self.team, timezone.now()
        can_manage = policy.can(user, policy.MANAGE, team)
        can_change = policy.can(user, policy.CHANGE, team)
        context.update(
            team=team,
            can_manage=can_manage,
            can_change=can_change,
            channels=team.alert_channels.order_by("name"),
            rules=team.alert_rules.prefetch_related("clusters", "channels").order_by("name"),
            silences=team.alert_silences.filter(ends_at__gt=now).select_related("cluster").order_by("ends_at"),
            alerts=team.alerts.order_by("-opened_at", "-id")[:RECENT_ALERTS],
        )
        if can_manage:
            context.setdefault("channel_form", ChannelForm())
            context.setdefault("rule_form", RuleForm(team=team))
        if can_change:
            context.setdefault("silence_form", SilenceForm(team=team))
        return context

    def back(self):
        return redirect("alerts-team", slug=self.team.slug)


class ChannelCreateView(TeamAlertsView):
    """POST: a new channel; a webhook's signing secret is shown on the answer, once."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.MANAGE, self.team)
        form = ChannelForm(request.POST)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in ChannelForm.Meta.fields}
            try:
                channel, secret = actions.create_channel(acting_user=request.user, team=self.team, fields=fields)
            except ValidationError as exc:
                _errors_into(form, exc)
            else:
                context = self.get_context_data(new_channel=channel, new_secret=secret)
                return self.render_to_response(context, status=201)
        return self.render_to_response(self.get_context_data(channel_form=form), status=400)


class RuleCreateView(TeamAlertsView):
    """POST: a new rule."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.MANAGE, self.team)
        form = RuleForm(request.POST, team=self.team)
        if form.is_valid():
            data = form.cleaned_data
            fields = {name: data[name] for name in ("name", "event_types", "min_severity", "group_seconds")}
            try:
                rule = actions.create_rule(
                    acting_user=request.user,
                    team=self.team,
                    fields=fields,
                    clusters=list(data["clusters"]),
                    channels=list(data["channels"]),
                )
            except ValidationError as exc:
                _errors_into(form, exc)
            else:
                messages.success(request, f"Rule “{rule}” created.")
                return self.back()
        return self.render_to_response(self.get_context_data(rule_form=form), status=400)


class SilenceCreateView(TeamAlertsView):
    """POST: silence the team's alerts for a while (operators and owners)."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.CHANGE, self.team)
        form = SilenceForm(request.POST, team=self.team)
        if form.is_valid():
            silence = actions.create_silence(
                acting_user=request.user,
                team=self.team,
                ends_at=timezone.now() + form.duration,
                cluster=form.cleaned_data["cluster"],
                event_type=form.cleaned_data["event_type"],
                reason=form.cleaned_data["reason"],
            )
            messages.success(request, f"{silence.get_summary()}.")
            return self.back()
        return self.render_to_response(self.get_context_data(silence_form=form), status=400)


class ObjectView(LoginRequiredMixin, View):
    """POST on one object of the user's teams (404 for any other), then back to its team's alerts page."""

    http_method_names = ["post"]
    model: type[Model] = Channel

    @cached_property
    def object(self):
        rows = policy.filtered_by_team(self.model._default_manager.select_related("team"), self.request.user, "team_id")
        return get_object_or_404(rows, pk=self.kwargs["pk"])

    def back(self):
        return redirect("alerts-team", slug=self.object.team.slug)


class ChannelTestView(ObjectView):
    """POST: send a test alert to the channel."""

    def post(self, request, *args, **kwargs):
        actions.send_test_alert(acting_user=request.user, channel=self.object)
        messages.success(request, f"Test alert queued for “{self.object.name}”: its delivery log shows how it went.")
        return self.back()


class ChannelRotateView(ObjectView):
    """POST: a new signing secret, shown once."""

    def post(self, request, *args, **kwargs):
        try:
            secret = actions.rotate_secret(acting_user=request.user, channel=self.object)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"New signing secret of “{self.object.name}”, shown only now: {secret}")
        return self.back()


class ChannelDeleteView(ObjectView):
    """POST: delete the channel."""

    def post(self, request, *args, **kwargs):
        actions.delete_channel(acting_user=request.user, channel=self.object)
        messages.success(request, f"Channel “{self.object.name}” deleted.")
        return self.back()


class RuleDeleteView(ObjectView):
    """POST: delete the rule."""

    model = Rule

    def post(self, request, *args, **kwargs):
        actions.delete_rule(acting_user=request.user, rule=self.object)
        messages.success(request, f"Rule “{self.object.name}” deleted.")
        return self.back()


class SilenceEndView(ObjectView):
    """POST: end the silence now."""

    model = Silence

    def post(self, request, *args, **kwargs):
        actions.end_silence(acting_user=request.user, silence=self.object)
        messages.success(request, "Silence ended.")
        return self.back()


class AlertAcknowledgeView(ObjectView):
    """POST: acknowledge the alert (operators and owners)."""

    model = Alert

    def post(self, request, *args, **kwargs):
        alert = actions.acknowledge_alert(acting_user=request.user, alert=self.object)
        messages.success(request, f"Acknowledged by {alert.acknowledged_by}.")
        return redirect(alert)


class AlertDetailView(LoginRequiredMixin, TemplateView):
    """One alert: its items, who acknowledged it, and — for the team's owners — its delivery log."""

    template_name = "alerts/alert_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        rows = policy.filtered_by_team(Alert.objects.select_related("team", "silence"), user, "team_id")
        alert = get_object_or_404(rows, pk=self.kwargs["pk"])
        can_manage = policy.can(user, policy.MANAGE, alert)
        context.update(
            alert=alert,
            team=alert.team,
            can_change=policy.can(user, policy.CHANGE, alert),
            can_manage=can_manage,
            deliveries=alert.deliveries.select_related("channel").order_by("id") if can_manage else None,
        )
        return context
