"""Fixtures of the saved maps' tests."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api():
    """Return a function giving an API client signed in as a user (None: anonymous)."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return client_for
