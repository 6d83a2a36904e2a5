"""The API tests' fixtures (clients, the layer of Huế), for the OGC CRS tests."""

from tests.api.conftest import _private_tile_cache, api, hue_places  # noqa: F401
