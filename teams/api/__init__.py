"""REST API of teams."""
