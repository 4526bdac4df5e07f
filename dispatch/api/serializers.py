"""API representations of dispatch: revisions, deployments, enrollment."""

from rest_framework import serializers

from clusters.choices import RealServerState
from dispatch.models import Deployment, Revision


class DeploymentSerializer(serializers.ModelSerializer):
    """One host's part of a plan, apply or reconcile."""

    cluster = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    host = serializers.SlugRelatedField(slug_field="hostname", read_only=True)
    revision = serializers.IntegerField(source="revision.number", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Deployment
        fields = [
            "id",
            "kind",
            "cluster",
            "revision",
            "host",
            "serial",
            "status",
            "operations",
            "error",
            "warnings",
            "document",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields


#: What a list of deployments leaves out: the document sent and the operations run are each as large as the
#: cluster's table (about 1 MB at 5,000 real servers); a deployment's own page (`/api/deployments/{id}/`)
#: has them.
LIST_OMITS = ("document", "operations")


class DeploymentListSerializer(DeploymentSerializer):
    """A deployment in a list: its status without the document and the operations."""

    class Meta(DeploymentSerializer.Meta):
        fields = [name for name in DeploymentSerializer.Meta.fields if name not in LIST_OMITS]
        read_only_fields = fields


class RevisionSerializer(serializers.ModelSerializer):
    """An applied state of a cluster, with its deployments."""

    cluster = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    deployments = DeploymentSerializer(many=True, read_only=True)

    class Meta:
        model = Revision
        fields = ["id", "cluster", "number", "created_by_name", "created_at", "inventory", "deployments"]
        read_only_fields = fields


class RevisionListSerializer(RevisionSerializer):
    """A revision in a list: without the inventory, its deployments as in a list of deployments."""

    deployments = DeploymentListSerializer(many=True, read_only=True)

    class Meta(RevisionSerializer.Meta):
        fields = [name for name in RevisionSerializer.Meta.fields if name != "inventory"]
        read_only_fields = fields


class EnrollSerializer(serializers.Serializer):
    """What `lvsweb-agent enroll` sends."""

    token = serializers.CharField(max_length=200)
    public_key = serializers.CharField(max_length=100)
    facts = serializers.DictField(required=False, default=dict)


class EnrollmentAnswerSerializer(serializers.Serializer):
    """What the agent receives: everything its configuration file needs."""

    host = serializers.CharField()
    queue = serializers.CharField()
    broker_url = serializers.CharField()
    control_public_key = serializers.CharField()
    heartbeat_interval = serializers.IntegerField()


class EnrollmentTokenSerializer(serializers.Serializer):
    """A new enrollment token, shown once, with the command to run on the host."""

    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    command = serializers.CharField()
    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why the command may not work from another host (loopback or plain-http console, loopback "
        "broker) and what to set; empty when nothing is wrong.",
    )


class ReconcileSerializer(serializers.Serializer):
    """Which host of the cluster to reconcile."""

    host = serializers.CharField(max_length=253)


class RealServerNowSerializer(serializers.Serializer):
    """The state a real server is put in at once, on the directors too (drain now, enable now, disable now)."""

    state = serializers.ChoiceField(choices=RealServerState.choices)


class InventoryChangeSerializer(serializers.Serializer):
    """One row of a comparison of two inventories."""

    change = serializers.ChoiceField(choices=["added", "removed", "changed"])
    object = serializers.CharField()
    label = serializers.CharField()
    fields = serializers.DictField()
