"""web/routes."""
