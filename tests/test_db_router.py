"""The replica router's rules: which requests may read the replica, the pin, streamed answers.

The routing itself, against a real primary and standby, is in tests/scale/test_replica.py.
"""

import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from mapserver.db_router import (
    PIN_COOKIE,
    PIN_SALT,
    ReplicaReadsMiddleware,
    ReplicaRouter,
    may_read_replica,
    read_alias,
)
from tests.factories import UserFactory

READS = [
    "/tiles/di-tich/14/13088/7431.pbf",
    "/tiles/di-tich.json",
    "/api/v1/layers/di-tich/features/",
    "/api/v1/layers/di-tich/features/7/",
    "/api/v1/search/",
    "/api/v1/identify/",
    "/ogc/collections/di-tich/items",
    "/ogc/collections/di-tich/items/7",
]
NOT_READS = [
    "/api/v1/layers/",
    "/api/v1/layers/di-tich/",
    "/api/v1/imports/3/",
    "/api/v1/exports/3/",
    "/api/v1/tile-jobs/3/",
    "/api/v1/layers/di-tich/export.gpkg",
    "/admin/layers/layer/",
    "/ogc/collections",
    "/",
]


def request(path: str, method: str = "get", user=None, **extra):
    made = getattr(RequestFactory(), method)(path, **extra)
    made.user = user or AnonymousUser()
    return made


def pin_cookie(*, age_s: float = 0) -> str:
    """Return a pin cookie's value as the middleware signs it, made `age_s` seconds ago."""
    signer = signing.get_cookie_signer(salt=PIN_COOKIE + PIN_SALT)
    if not age_s:
        return signer.sign("1")
    original = time.time
    try:
        time.time = lambda: original() - age_s
        return signer.sign("1")
    finally:
        time.time = original


@pytest.mark.parametrize("path", READS)
def test_anonymous_gets_of_read_endpoints_may_read_the_replica(path):
    assert may_read_replica(request(path))
    assert may_read_replica(request(path, "head"))


@pytest.mark.parametrize("path", NOT_READS)
def test_other_routes_read_the_primary(path):
    assert not may_read_replica(request(path))


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_use_the_primary(method):
    assert not may_read_replica(request("/api/v1/layers/di-tich/features/7/", method))


@pytest.mark.django_db
def test_staff_and_token_clients_read_the_primary_other_users_the_replica():
    path = "/api/v1/layers/di-tich/features/"
    assert not may_read_replica(request(path, user=UserFactory(is_staff=True)))
    assert may_read_replica(request(path, user=UserFactory()))
    assert not may_read_replica(request(path, HTTP_AUTHORIZATION="Token abc"))


def test_a_fresh_pin_sends_the_client_to_the_primary_a_forged_or_old_one_does_not(settings):
    settings.DATABASE_REPLICA_PIN_S = 15
    path = "/api/v1/search/"

    def with_cookie(value: str):
        made = request(path)
        made.COOKIES[PIN_COOKIE] = value
        return made

    assert not may_read_replica(with_cookie(pin_cookie()))
    assert may_read_replica(with_cookie(pin_cookie(age_s=20)))
    assert may_read_replica(with_cookie("1"))


def test_every_write_answer_pins_the_client_reads_do_not(settings):
    settings.DATABASE_REPLICA_PIN_S = 15
    middleware = ReplicaReadsMiddleware(lambda request: HttpResponse(status=400))
    written = middleware(request("/api/v1/layers/di-tich/features/7/", "patch"))
    cookie = written.cookies[PIN_COOKIE]
    assert cookie["max-age"] == 15 and cookie["httponly"]
    again = request("/api/v1/search/")
    again.COOKIES[PIN_COOKIE] = cookie.value
    assert not may_read_replica(again)
    read = middleware(request("/api/v1/search/"))
    assert PIN_COOKIE not in read.cookies


def test_reads_route_to_the_replica_during_the_view_and_while_a_streamed_answer_is_sent():
    seen = {}

    def view(request):
        seen["view"] = read_alias()
        seen["router"] = ReplicaRouter().db_for_read(None)

        def chunks():
            yield read_alias().encode()
            yield read_alias().encode()

        return StreamingHttpResponse(chunks())

    response = ReplicaReadsMiddleware(view)(request("/api/v1/layers/di-tich/features/"))
    assert read_alias() == "default"  # only inside the request
    assert b"".join(response.streaming_content) == b"replicareplica"
    assert seen == {"view": "replica", "router": "replica"}
    assert ReplicaRouter().db_for_write(None) == "default"
    assert read_alias() == "default"
