"""Dispatch models: revisions of a cluster, deployments to hosts, enrollment tokens."""

from agents.models.deployments import Deployment
from agents.models.enrollment import EnrollmentToken
from agents.models.revisions import Revision

__all__ = ["Deployment", "EnrollmentToken", "Revision"]
