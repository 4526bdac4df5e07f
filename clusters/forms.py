"""Console forms of the inventory."""

from django import forms

from clusters.models import HealthCheck

HEALTH_CHECK_FIELDS = [
    "check_type",
    "port",
    "path",
    "host_header",
    "expect_status_min",
    "expect_status_max",
    "body_match",
    "interval",
    "timeout",
    "rise",
    "fall",
    "on_failure",
    "tunnel_path",
    "quorum",
    "sorry_address",
    "sorry_port",
    "sorry_forward_method",
]
#: Only a service's check has a quorum and a sorry server.
SERVICE_ONLY_FIELDS = ("quorum", "sorry_address", "sorry_port", "sorry_forward_method")


class HealthCheckForm(forms.ModelForm):
    """A health check; the model's own rules (through the action) decide what is valid."""

    class Meta:
        model = HealthCheck
        fields = HEALTH_CHECK_FIELDS

    def __init__(self, *args, for_real_server: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if for_real_server:
            for name in SERVICE_ONLY_FIELDS:
                del self.fields[name]

    def _post_clean(self):
        # The action validates the whole object (clean() needs its service); the form checks field types only.
        pass
