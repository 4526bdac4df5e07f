"""Dispatch models: revisions of a cluster, deployments to hosts, enrollment tokens, report streams."""

from agents.models.deployments import Deployment
from agents.models.enrollment import EnrollmentToken
from agents.models.revisions import Revision
from agents.models.streams import ReportStream

__all__ = ["Deployment", "EnrollmentToken", "ReportStream", "Revision"]
