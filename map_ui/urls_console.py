"""Routes for the console pages."""

urlpatterns: list = []
