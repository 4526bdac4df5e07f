"""Enumerations of teams."""

from django.db import models


class TeamRole(models.TextChoices):
    """What a member may do with the team's clusters; each role includes everything of the roles below it."""

    OWNER = "owner", "owner"
    OPERATOR = "operator", "operator"
    VIEWER = "viewer", "viewer"

    @property
    def rank(self) -> int:
        """3 for owner, 2 for operator, 1 for viewer: a role is enough when its rank is at least the needed one."""
        return {"owner": 3, "operator": 2, "viewer": 1}[self.value]
