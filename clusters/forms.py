"""Forms of the console's inventory pages: they parse input; the actions validate and decide.

The forms are ModelForms for their widgets, labels and help texts, but they never validate the model
themselves: the view hands `cleaned_data` to the action (clusters/actions), and the action's ValidationError
— the same the API returns — is put back on the form next to the field it names.
"""

import copy

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import construct_instance

from clusters.choices import CHECKS_FOR_PROTOCOL, HealthCheckType
from clusters.models import Cluster, HealthCheck, Host, RealServer, VipGroup, VirtualService
from clusters.models.clusters import CLUSTER_FIELDS
from clusters.models.ha import VIP_GROUP_FIELDS
from clusters.models.health import HEALTH_CHECK_FIELDS
from clusters.models.real_servers import REAL_SERVER_FIELDS
from clusters.models.virtual_services import VIRTUAL_SERVICE_FIELDS
from teams import policy
from teams.choices import TeamRole
from teams.models import Team


class ActionForm(forms.ModelForm):
    """A ModelForm whose model validation is left to the action it feeds."""

    def _post_clean(self):
        # ModelForm would copy the data onto the instance and run full_clean(); the action does both, under
        # its lock and with the policy, so here the form only parses.
        pass

    def add_action_errors(self, exc: ValidationError) -> None:
        """Show an action's errors: each next to its field, the rest at the top of the form."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            target = name if name in self.fields and name != NON_FIELD_ERRORS else None
            for error in errors:
                if target is None and name != NON_FIELD_ERRORS:
                    error = ValidationError(f"{name.replace('_', ' ')}: {' '.join(error.messages)}")
                self.add_error(target, error)

    #: Whether a form that did not parse also shows what the model's rules say of the fields that did.
    check_model_on_parse_errors = False

    def add_model_errors(self) -> None:
        """After a parse error, add the model's own errors on the other fields, so that all show at once.

        The action (and the API, which validates every field before answering) would report them too; without
        this, a user fixes one field, submits, and only then learns of the next. Nothing is saved here: the
        checks run on a copy of the instance, and errors on fields that already have one are not repeated.
        """
        instance = construct_instance(self, copy.copy(self.instance), fields=list(self.cleaned_data))
        # The model's field validators (port 1–65535, ...) run only in the action, like its clean(): run both
        # on the fields this form has and that parsed, as full_clean() would.
        checked = [name for name in self.fields if name not in self.errors]
        excluded = [field.name for field in instance._meta.fields if field.name not in checked]
        for check in (lambda: instance.clean_fields(exclude=excluded), instance.clean):
            try:
                check()
            except ValidationError as exc:
                self._add_model_error(exc)
            except (TypeError, ValueError):
                pass  # a rule compared a value that did not parse: the parse error already says what is wrong

    def _add_model_error(self, exc: ValidationError) -> None:
        errors = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.error_list}
        for name, field_errors in errors.items():
            target = name if name in self.fields else None
            if target is not None and target in self.errors:
                continue  # its own error says more (the model saw the field's default instead)
            for error in field_errors:
                if target is None and name != NON_FIELD_ERRORS:
                    error = ValidationError(f"{name.replace('_', ' ')}: {' '.join(error.messages)}")
                self.add_error(target, error)

    def changes(self) -> dict:
        """The cleaned values of the form's fields, ready for the action."""
        return {name: self.cleaned_data[name] for name in self.fields if name in self.cleaned_data}


class ClusterForm(ActionForm):
    """A cluster's name, slug, description and drain timeout; its team when it is created."""

    class Meta:
        model = Cluster
        fields = list(CLUSTER_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"drain_timeout": "Drain timeout (seconds)"}

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A cluster changes team only by a transfer (owners of both teams, on the team page).
            del self.fields["team"]
        else:
            teams = policy.teams_where(user, TeamRole.OPERATOR).order_by("name") if user else Team.objects.none()
            self.fields["team"].queryset = teams
            self.fields["team"].help_text = "Its members see the cluster; its operators and owners change it."
            if len(teams) == 1:
                self.fields["team"].initial = teams[0].pk


class VirtualServiceForm(ActionForm):
    """A virtual service: VIP and port (or a firewall mark), scheduler, persistence, default forwarding."""

    check_model_on_parse_errors = True

    class Meta:
        model = VirtualService
        fields = [*VIRTUAL_SERVICE_FIELDS, "vip_group"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "forward_method": forms.Select(attrs={"data-method-help": "forwarding-methods"}),
        }
        labels = {"persistence_timeout": "Persistence timeout (seconds)"}

    def __init__(self, *args, cluster=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this cluster's VIP groups (docs/ha.md); none at all when it has none.
        groups = cluster.vip_groups.all() if cluster is not None else self.fields["vip_group"].queryset.none()
        self.fields["vip_group"].queryset = groups
        self.fields["vip_group"].empty_label = "— none: every director of the cluster holds the VIP —"


class RealServerForm(ActionForm):
    """A real server: address, port, weight, forwarding (and tunnel), thresholds, state and host."""

    class Meta:
        model = RealServer
        fields = [*REAL_SERVER_FIELDS, "host", "configured_by_hand", "description"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "forward_method": forms.Select(attrs={"data-method-help": "forwarding-methods"}),
            "tunnel_type": forms.Select(attrs={"data-method-help": "tunnel-types"}),
        }

    def __init__(self, *args, user=None, virtual_service=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Linking a host needs the operator role for it (the action asks again): offer only those, and the
        # host already linked.
        hosts = (
            Host.objects.filter(team__in=policy.teams_where(user, TeamRole.OPERATOR)) if user else Host.objects.none()
        )
        if self.instance.host_id:
            hosts = hosts | Host.objects.filter(pk=self.instance.host_id)
        self.fields["host"].queryset = hosts.order_by("hostname")
        self.fields["host"].empty_label = "— automatic: the team's host with this address —"
        if virtual_service is not None and not self.instance.pk:
            self.fields["forward_method"].initial = virtual_service.forward_method
            if virtual_service.port:
                self.fields["port"].help_text = (
                    f"Empty means {virtual_service.port}, the virtual port. In TUN and DR mode it must equal "
                    "it; only NAT maps ports."
                )


#: The settings that belong to some check types only.
CHECK_SETTINGS = {
    ("http", "https"): ("path", "host_header", "expect_status_min", "expect_status_max", "body_match"),
    ("udp",): ("payload", "payload_hex", "reply_match", "reply_pattern"),
    ("dns",): ("query_name", "query_type"),
}
#: Only a service's check has a quorum and a sorry server.
SERVICE_ONLY_FIELDS = ("quorum", "sorry_address", "sorry_port", "sorry_forward_method")


class HealthCheckForm(ActionForm):
    """A health check of a virtual service, or (without quorum and sorry server) a real server's override.

    Given the service, it offers only the checks that speak its protocol (a firewall-mark service: all), and
    the tunnel-path check only for TCP services (and, on an override, a TUN real server).
    """

    class Meta:
        model = HealthCheck
        fields = HEALTH_CHECK_FIELDS

    def __init__(
        self,
        *args,
        for_real_server: bool = False,
        service: VirtualService | None = None,
        real_server: RealServer | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if for_real_server:
            for name in SERVICE_ONLY_FIELDS:
                del self.fields[name]
        self.offered = {choice.value for choice in HealthCheckType}
        fitting = CHECKS_FOR_PROTOCOL.get(service.protocol) if service is not None else None
        if fitting is not None:
            self.offered = {HealthCheckType.NONE.value, *(kind.value for kind in fitting)}
            if self.instance.pk:
                self.offered.add(self.instance.check_type)  # a check saved before the rule: shown, refused on save
            check_type = self.fields["check_type"]
            assert isinstance(check_type, forms.ChoiceField)
            check_type.choices = [c for c in HealthCheckType.choices if c[0] in self.offered]
            if not self.instance.pk:
                self.initial["check_type"] = fitting[0].value  # the service's own protocol's check first
        # The tunnel-path check is a TCP SYN to the VIP through a TUN real server's tunnel.
        if service is not None and (
            service.protocol != "tcp" or (real_server is not None and real_server.forward_method != "tun")
        ):
            del self.fields["tunnel_path"]
        # Settings of checks not offered are left out (they keep their defaults), not shown and posted empty.
        for kinds, names in CHECK_SETTINGS.items():
            if not self.offers(*kinds):
                for name in names:
                    del self.fields[name]

    def offers(self, *kinds: str) -> bool:
        """Whether any of these check types is offered (the template shows their settings only then)."""
        return any(kind in self.offered for kind in kinds)


class VipGroupForm(ActionForm):
    """A VIP group: one VRRP instance of the cluster's directors (docs/ha.md)."""

    class Meta:
        model = VipGroup
        fields = list(VIP_GROUP_FIELDS)
        widgets = {"auth_pass": forms.TextInput(attrs={"autocomplete": "off"})}
