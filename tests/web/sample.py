"""A small Huế of our own for the web map's tests: a base map (wards, river, roads, buildings with
heights), landmarks, investment parcels, an internal layer, and one feature whose text is HTML.

Positions are approximate (sample data); what matters is that each thing lies where a test looks.
"""

from __future__ import annotations

from django.contrib.gis.geos import LineString, Point, Polygon

from layers.models import Category, Layer
from layers.services import FeatureRecord, layer_replace_features

XSS = '<img src=x onerror="window.__xss=1">'
BASE_LAYERS = ["wards", "water", "roads", "buildings"]
DEFAULT_LAYERS = ["landmarks", "parcels"]

LANDMARKS = [
    ("Đại Nội", "Imperial City", 107.5790, 16.4698),
    ("Chùa Thiên Mụ", "Thien Mu Pagoda", 107.5447, 16.4531),
    ("Cầu Trường Tiền", "Truong Tien Bridge", 107.5868, 16.4668),
    ("Chợ Đông Ba", "Dong Ba Market", 107.5885, 16.4727),
    ("Nhà thờ Phủ Cam", "Phu Cam Cathedral", 107.5876, 16.4555),
]
XSS_LANDMARK = (107.5960, 16.4640)
# A building block east of the river: 5 by 4 buildings of 24 m, 40 m apart.
BUILDINGS_ORIGIN = (107.5940, 16.4585)


def _box(lon: float, lat: float, half_lon: float, half_lat: float) -> Polygon:
    return Polygon.from_bbox((lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat))


def _layer(slug: str, category: Category, **fields) -> Layer:
    defaults = {"status": Layer.Status.READY, "visibility": Layer.Visibility.PUBLIC, "max_zoom": 18}
    return Layer.objects.create(slug=slug, category=category, **{**defaults, **fields})


def _schema(*fields: tuple[str, str, str, str]) -> list[dict]:
    return [{"name": n, "type": t, "label_vi": vi, "label_en": en} for n, t, vi, en in fields]


def build() -> dict[str, Layer]:
    """Create the categories, layers and features; return the layers by slug."""
    categories = {
        slug: Category.objects.create(slug=slug, name_vi=vi, name_en=en, order=order)
        for order, (slug, vi, en) in enumerate(
            [
                ("boundaries", "Ranh giới hành chính", "Administrative boundaries"),
                ("water", "Thủy văn", "Water"),
                ("transport", "Giao thông", "Transport"),
                ("urban", "Đô thị", "Urban"),
                ("culture", "Văn hóa, Du lịch", "Culture and tourism"),
                ("investment", "Đầu tư", "Investment"),
                ("planning", "Quy hoạch", "Planning"),
            ]
        )
    }
    layers = {}
    layers["wards"] = _layer(
        "wards", categories["boundaries"], title_vi="Phường", title_en="Wards",
        geometry_type="polygon", name_field="ten",
        attribute_schema=_schema(("ten", "text", "Tên phường", "Ward")),
        style={"layers": [
            {"type": "fill", "paint": {"fill-color": "#fef3c7", "fill-opacity": 0.25}},
            {"type": "line", "paint": {"line-color": "#92400e", "line-width": 1.5,
                                       "line-dasharray": [3, 2]}},
        ]},
        attribution="Sample data",
    )  # fmt: skip
    layer_replace_features(
        layer=layers["wards"],
        records=[
            FeatureRecord(Polygon.from_bbox((107.566, 16.460, 107.5905, 16.482)),
                          {"ten": "Phường Thuận Thành"}),
            FeatureRecord(Polygon.from_bbox((107.5805, 16.445, 107.605, 16.4635)),
                          {"ten": "Phường Vĩnh Ninh"}),
        ],
    )  # fmt: skip
    layers["water"] = _layer(
        "water", categories["water"], title_vi="Sông Hương", title_en="Perfume River",
        geometry_type="polygon", name_field="ten",
        attribute_schema=_schema(("ten", "text", "Tên", "Name")),
        style={"type": "fill", "paint": {"fill-color": "#93c5fd"}},
        attribution="Sample data",
    )  # fmt: skip
    river = LineString(
        (107.540, 16.452), (107.560, 16.455), (107.5815, 16.4622), (107.5888, 16.4685),
        (107.600, 16.4805), (107.615, 16.486), srid=4326,
    )  # fmt: skip
    layer_replace_features(
        layer=layers["water"],
        records=[FeatureRecord(river.buffer(0.0012), {"ten": "Sông Hương"})],
    )
    layers["roads"] = _layer(
        "roads", categories["transport"], title_vi="Đường phố", title_en="Streets",
        geometry_type="line", name_field="ten",
        attribute_schema=_schema(("ten", "text", "Tên đường", "Street"),
                                 ("loai", "text", "Loại", "Class")),
        style={"type": "line", "paint": {
            "line-color": ["match", ["get", "loai"], "chinh", "#f59e0b", "#ffffff"],
            "line-width": 4}},
        attribution="Sample data",
    )  # fmt: skip
    layer_replace_features(
        layer=layers["roads"],
        records=[
            FeatureRecord(LineString((107.5830, 16.4650), (107.6000, 16.4580), srid=4326),
                          {"ten": "Lê Lợi", "loai": "chinh"}),
            FeatureRecord(LineString((107.5790, 16.4720), (107.5900, 16.4760), srid=4326),
                          {"ten": "Trần Hưng Đạo", "loai": "chinh"}),
            FeatureRecord(LineString((107.5700, 16.4600), (107.5700, 16.4800), srid=4326),
                          {"ten": "Lê Duẩn", "loai": "phu"}),
        ],
    )  # fmt: skip
    layers["buildings"] = _layer(
        "buildings", categories["urban"], title_vi="Công trình xây dựng", title_en="Buildings",
        geometry_type="polygon", name_field="ten", min_zoom=13,
        attribute_schema=_schema(("ten", "text", "Tên", "Name"),
                                 ("height_m", "number", "Chiều cao (m)", "Height (m)")),
        style={"type": "fill", "paint": {"fill-color": "#d6c7b4", "fill-outline-color": "#a8977f"},
               "extrusion": {"height": ["get", "height_m"], "color": "#cdb89c"}},
        attribution="Sample data",
    )  # fmt: skip
    lon0, lat0 = BUILDINGS_ORIGIN
    layer_replace_features(
        layer=layers["buildings"],
        records=[
            FeatureRecord(_box(lon0 + i * 0.0004, lat0 + j * 0.0004, 0.00012, 0.00011),
                          {"ten": f"Tòa nhà {i}-{j}", "height_m": 8 + 9 * ((i + j) % 5)})
            for i in range(5) for j in range(4)
        ],
    )  # fmt: skip
    layers["landmarks"] = _layer(
        "landmarks", categories["culture"], title_vi="Di tích, danh thắng",
        title_en="Landmarks", geometry_type="point", name_field="ten",
        attribute_schema=_schema(("ten", "text", "Tên", "Name"),
                                 ("ten_en", "text", "Tên tiếng Anh", "English name"),
                                 ("mo_ta", "text", "Mô tả", "Description")),
        style={"type": "circle", "paint": {
            "circle-color": "#b91c1c", "circle-radius": 7, "circle-stroke-color": "#fff",
            "circle-stroke-width": 2}},
        source="Sample data", licence="CC0", attribution="Sample data (landmarks)",
    )  # fmt: skip
    records = [
        FeatureRecord(Point(lon, lat, srid=4326), {"ten": vi, "ten_en": en, "mo_ta": f"{vi}, Huế"})
        for vi, en, lon, lat in LANDMARKS
    ]
    records.append(
        FeatureRecord(Point(*XSS_LANDMARK, srid=4326),
                      {"ten": "Điểm thử", "ten_en": "Test point", "mo_ta": XSS})
    )  # fmt: skip
    layer_replace_features(layer=layers["landmarks"], records=records)
    layers["parcels"] = _layer(
        "parcels", categories["investment"], title_vi="Khu đất kêu gọi đầu tư",
        title_en="Investment parcels", geometry_type="polygon", name_field="ten",
        attribute_schema=_schema(("ten", "text", "Tên khu đất", "Parcel"),
                                 ("area_m2", "number", "Diện tích (m²)", "Area (m²)"),
                                 ("zoning", "text", "Quy hoạch", "Zoning"),
                                 ("status", "text", "Tình trạng", "Status"),
                                 ("ward", "text", "Phường", "Ward")),
        style={"type": "fill", "paint": {
            "fill-color": ["match", ["get", "status"], "Đang kêu gọi đầu tư", "#16a34a", "#9ca3af"],
            "fill-opacity": 0.5, "fill-outline-color": "#14532d"}},
        attribution="Sample data (parcels)",
    )  # fmt: skip
    parcels = [
        ("Khu đất A1", 12500, "Thương mại dịch vụ", "Đang kêu gọi đầu tư", "Phường Xuân Phú"),
        ("Khu đất A2", 3400, "Nhà ở", "Đang kêu gọi đầu tư", "Phường Xuân Phú"),
        ("Khu đất B1", 8200, "Du lịch", "Đã giao đất", "Phường Vỹ Dạ"),
        ("Khu đất B2", 25000, "Thương mại dịch vụ", "Đang kêu gọi đầu tư", "Phường Vỹ Dạ"),
        ("Khu đất C1", 950, "Nhà ở", "Đã giao đất", "Phường An Đông"),
    ]
    layer_replace_features(
        layer=layers["parcels"],
        records=[
            FeatureRecord(_box(107.605 + 0.004 * index, 16.452, 0.0012, 0.001),
                          {"ten": name, "area_m2": area, "zoning": zoning, "status": status,
                           "ward": ward})
            for index, (name, area, zoning, status, ward) in enumerate(parcels)
        ],
    )  # fmt: skip
    layers["internal-plan"] = _layer(
        "internal-plan", categories["planning"], title_vi="Quy hoạch nội bộ",
        title_en="Internal plan", geometry_type="polygon", name_field="ten",
        visibility=Layer.Visibility.INTERNAL,
        attribute_schema=_schema(("ten", "text", "Tên", "Name")),
        style={"type": "fill", "paint": {"fill-color": "#7c3aed", "fill-opacity": 0.4}},
    )  # fmt: skip
    layer_replace_features(
        layer=layers["internal-plan"],
        records=[FeatureRecord(_box(107.5760, 16.4700, 0.002, 0.0015), {"ten": "Khu nội bộ"})],
    )
    for layer in layers.values():
        layer.refresh_from_db()
    return layers
