import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_citizen_registers_and_gets_a_token_and_the_citizen_role(api_client):
    response = api_client.post("/api/v1/auth/register/", {
        "username": "layla", "email": "layla@example.org", "password": "snowy-road-42"},
        format="json")

    assert response.status_code == 201
    user = get_user_model().objects.get(username="layla")
    assert list(user.groups.values_list("name", flat=True)) == ["citizen"]
    assert response.json()["token"] == user.auth_token.key


def test_taken_username_is_refused_with_409(api_client):
    get_user_model().objects.create_user(username="layla", password="x")

    response = api_client.post("/api/v1/auth/register/", {
        "username": "layla", "password": "snowy-road-42"}, format="json")

    assert response.status_code == 409
    assert get_user_model().objects.filter(username="layla").count() == 1


def test_weak_password_is_refused_and_no_user_created(api_client):
    response = api_client.post("/api/v1/auth/register/", {
        "username": "omid", "password": "12345678"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not get_user_model().objects.filter(username="omid").exists()


def test_health_reports_database_and_redis_ok(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_openapi_schema_lists_the_report_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert "/api/v1/reports/" in response.json()["paths"]
