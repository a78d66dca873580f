"""Routes for the crew pages."""

urlpatterns: list = []
