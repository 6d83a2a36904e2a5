"""Signing in: API tokens (hashed, expiring, revocable, revoked on a password change) and the
lockout after too many failed sign-ins, in the admin and the API."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
PASSWORD = "Hue-kinh-thanh-1802"


@pytest.fixture
def staff_with_password(staff):
    staff.set_password(PASSWORD)
    staff.save()
    return staff


def login(username: str, password: str = PASSWORD):
    return APIClient().post(LOGIN, {"username": username, "password": password}, format="json")


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def signed_in_as(client: APIClient) -> bool:
    """Return whether the client's token lets it see an internal layer."""
    return client.get("/api/v1/layers/internal-layer/").status_code == 200


def test_a_token_from_login_signs_requests_in(staff_with_password, layers_by_visibility):
    response = login(staff_with_password.username)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expiry"]
    assert signed_in_as(with_token(body["token"]))
    assert not signed_in_as(APIClient())


def test_the_database_holds_only_a_digest_of_the_token(staff_with_password):
    token = login(staff_with_password.username).json()["token"]
    row = AuthToken.objects.get(user=staff_with_password)
    assert row.digest == hash_token(token)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert token not in stored


def test_a_token_expires(settings, staff_with_password, layers_by_visibility):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(seconds=1)}
    token = login(staff_with_password.username).json()["token"]
    client = with_token(token)
    assert signed_in_as(client)
    time.sleep(1.2)
    refused = client.get("/api/v1/layers/internal-layer/")
    assert refused.status_code in (401, 403)
    assert refused.json()["code"] == "authentication-failed"


def test_logout_revokes_the_token_and_logoutall_every_token(
    staff_with_password, layers_by_visibility
):
    first, second, third = (login(staff_with_password.username).json()["token"] for _ in range(3))
    assert with_token(first).post("/api/v1/auth/logout/").status_code == 204
    assert not signed_in_as(with_token(first))
    assert signed_in_as(with_token(second))
    assert with_token(second).post("/api/v1/auth/logoutall/").status_code == 204
    assert not signed_in_as(with_token(second))
    assert not signed_in_as(with_token(third))
    assert not AuthToken.objects.filter(user=staff_with_password).exists()


def test_a_password_change_revokes_every_token(staff_with_password, layers_by_visibility):
    tokens = [login(staff_with_password.username).json()["token"] for _ in range(2)]
    staff_with_password.first_name = "Minh"
    staff_with_password.save()  # not a password change: the tokens stay
    assert signed_in_as(with_token(tokens[0]))
    staff_with_password.set_password("Another-long-passphrase-42")
    staff_with_password.save()
    for token in tokens:
        assert not signed_in_as(with_token(token))
    assert login(staff_with_password.username, "Another-long-passphrase-42").status_code == 200


def test_a_wrong_password_or_a_bad_header_is_refused_plainly(staff_with_password):
    response = login(staff_with_password.username, "wrong")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid-credentials"
    for header in ("Token not-a-token", "Token \xe9\xe9\xe9", "Token"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        refused = client.get("/api/v1/layers/")
        # The token comes first in the settings: a bad one is 401 with the scheme to use.
        assert refused.status_code == 401, header
        assert refused["WWW-Authenticate"] == "Token"
        assert refused.json()["code"] == "authentication-failed"


def test_the_api_login_locks_out_after_too_many_failures(settings, staff_with_password):
    settings.AXES_FAILURE_LIMIT = 5
    for _ in range(20):
        login(staff_with_password.username, "guess")
    locked = login(staff_with_password.username)
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked-out"
    assert "try again in 15 minutes" in locked.json()["detail"]
    assert int(locked["Retry-After"]) == 15 * 60
    assert not AuthToken.objects.filter(user=staff_with_password).exists()


def test_the_admin_login_locks_out_after_too_many_failures(client, settings, staff_with_password):
    settings.AXES_FAILURE_LIMIT = 5
    form = {"username": staff_with_password.username, "next": "/admin/"}
    for _ in range(20):
        client.post("/admin/login/", {**form, "password": "guess"})
    locked = client.post("/admin/login/", {**form, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_right_password_before_the_limit_still_signs_in(client, settings, staff_with_password):
    settings.AXES_FAILURE_LIMIT = 5
    form = {"username": staff_with_password.username, "next": "/admin/"}
    for _ in range(4):
        client.post("/admin/login/", {**form, "password": "guess"})
    response = client.post("/admin/login/", {**form, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff_with_password.pk)


def test_login_takes_a_form_body_too(staff_with_password):
    response = APIClient().post(
        LOGIN, {"username": staff_with_password.username, "password": PASSWORD}
    )  # multipart, as a browser form or `curl -F` sends it
    assert response.status_code == 200, response.content
    assert response.json()["token"]


def test_behind_a_proxy_the_lockout_is_by_the_client_address(settings, staff_with_password):
    settings.NUM_PROXIES = 1
    settings.AXES_FAILURE_LIMIT = 3

    def attempt(password: str, client_address: str):
        return APIClient().post(
            LOGIN,
            {"username": staff_with_password.username, "password": password},
            format="json",
            HTTP_X_FORWARDED_FOR=client_address,
        )

    for _ in range(5):
        attempt("guess", "203.0.113.66")
    assert attempt(PASSWORD, "203.0.113.66").status_code == 429
    assert attempt(PASSWORD, "203.0.113.10").status_code == 200
