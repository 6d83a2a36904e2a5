"""Fixtures of the API tests: clients signed in as each kind of user, and a small layer of Huế."""

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from rest_framework.test import APIClient

from layers.services import FeatureRecord, layer_replace_features
from tests.factories import LayerFactory

HUE_SCHEMA = [
    {"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"},
    {"name": "loai", "type": "text", "label_vi": "Loại", "label_en": "Kind"},
    {"name": "so_tang", "type": "integer", "label_vi": "Số tầng", "label_en": "Floors"},
    {"name": "dien_tich", "type": "real", "label_vi": "Diện tích", "label_en": "Area"},
    {"name": "mo_cua", "type": "boolean", "label_vi": "Mở cửa", "label_en": "Open"},
]
# (name, kind, floors, area, open, lon, lat): real places of Huế, approximately placed.
HUE_PLACES = [
    ("Đại Nội", "di tích", 1, 520000.0, True, 107.5786, 16.4698),
    ("Bệnh viện Trung ương Huế", "bệnh viện", 9, 120000.5, True, 107.5885, 16.4620),
    ("Bệnh viện Đại học Y Dược Huế", "bệnh viện", 7, 30000.0, True, 107.5952, 16.4589),
    ("Chùa Thiên Mụ", "chùa", 7, 25000.0, True, 107.5454, 16.4535),
    ("Cầu Trường Tiền", "cầu", None, 6000.0, True, 107.5897, 16.4683),
    ("Chợ Đông Ba", "chợ", 2, 47000.0, False, 107.5889, 16.4727),
    ("Lăng Tự Đức", "di tích", 1, 120000.0, True, 107.5647, 16.4339),
    ("Trường Quốc Học", "trường học", 2, 20000.0, True, 107.5860, 16.4605),
]


def hue_records():
    return [
        FeatureRecord(
            geom=Point(lon, lat, srid=4326),
            attributes={"ten": name, "loai": kind, "so_tang": floors, "dien_tich": area,
                        "mo_cua": is_open},
        )
        for name, kind, floors, area, is_open, lon, lat in HUE_PLACES
    ]  # fmt: skip


@pytest.fixture(autouse=True)
def _private_tile_cache(settings, tmp_path):
    """Writes through the API reach the tile cache: give each test its own, never var/tiles."""
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None


@pytest.fixture
def hue_places(category):
    """A public point layer of eight places of Huế with Vietnamese names."""
    layer = LayerFactory(
        slug="dia-diem-hue",
        title_vi="Địa điểm Huế",
        title_en="Places of Huế",
        category=category,
        visibility="public",
        geometry_type="point",
        name_field="ten",
        attribute_schema=HUE_SCHEMA,
        attribution="© Thành phố Huế",
    )
    layer_replace_features(layer=layer, records=hue_records())
    layer.refresh_from_db()
    return layer


@pytest.fixture
def river_and_citadel(category):
    """A public mixed layer: a line (the Perfume River, roughly) and a polygon (the Citadel)."""
    layer = LayerFactory(
        slug="song-va-kinh-thanh", category=category, geometry_type="mixed", name_field="ten"
    )
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(
                geom=LineString((107.54, 16.45), (107.58, 16.466), (107.60, 16.47), srid=4326),
                attributes={"ten": "Sông Hương"},
            ),
            FeatureRecord(
                geom=Polygon.from_bbox((107.565, 16.461, 107.590, 16.482)),
                attributes={"ten": "Kinh thành Huế"},
            ),
        ],
    )
    layer.refresh_from_db()
    return layer


@pytest.fixture
def api():
    """Return a function giving an API client signed in as a user (None: anonymous)."""

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None and user.is_authenticated:
            client.force_login(user)
        return client

    return client_for
