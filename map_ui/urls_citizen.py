"""Routes for the citizen pages."""

urlpatterns: list = []
