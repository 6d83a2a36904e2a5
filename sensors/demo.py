"""The sensor demo: monitoring stations around Huế, 30 days of synthetic history, sample thresholds.

`demo_sensors_load()` (called by `manage.py loaddemo`) makes the public sensor layer
`hue_monitoring_stations`: 20 stations at approximate real places (water level along the Perfume
River, the Bồ river and the lagoons, rain gauges upstream, salinity at the river mouth and the
water intake, air quality in the city), their datastreams, the flood warning levels of the Kim
Long and Phú Ốc gauges, and 30 days of 10-minute readings ending now. The history holds an
autumn flood (two rain bursts upstream, the river rising past warning levels I, II and III and
falling back) and four sensor faults for the detectors to find: a spike, a flat-lined gauge, a
gap and an out-of-range value (`FAULTS`).

Every value is synthetic (`series()`: deterministic functions of the time before the load plus
seeded noise); the layer says so. The history is written through `sensors.ingest` (the one write
path: partitions, `Latest`, and the evaluation queued for thresholds and anomalies). Loading again
replaces the demo datastreams' readings, alerts and anomalies with a history ending at the new
"now": the same stations, datastreams and number of readings; the values shift with the clock.
`sensors_demo_publish` continues the same functions past the end (`value_at`).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from layers.demo.catalogue import catalogue_load
from layers.demo.load import DemoDataError, category_upsert
from layers.models import Feature, Layer
from layers.services import FeatureRecord, layer_replace_features

from .ingest import ingest
from .models import (
    Alert,
    Anomaly,
    Datastream,
    EvaluationCursor,
    Latest,
    Observation,
    ObservedProperty,
    SensorLayer,
    SensorSource,
    Station,
    Threshold,
)
from .senml import Reading

LAYER_SLUG = "hue_monitoring_stations"
SOURCE_NAME = "demo"
# The demo catalogue's category (fixtures/demo/catalogue.json): "Môi trường - Cảnh quan".
CATEGORY_SLUG = "environment"
STEP = timedelta(minutes=10)
HISTORY_DAYS = 30
# Huế's clock (UTC+7, no daylight saving): the air's daily cycle follows it.
LOCAL_OFFSET_H = 7


@dataclass(frozen=True)
class PropertySpec:
    code: str
    name_vi: str
    name_en: str
    unit: str
    physical_min: float
    physical_max: float
    seasonal: bool = False
    decimals: int = 2


PROPERTIES = {
    spec.code: spec
    for spec in (
        PropertySpec("water_level", "Mực nước", "Water level", "m", -2.0, 20.0),
        # Per 10 minutes, the stations' reporting step; Huế's heaviest bursts stay well under 60.
        PropertySpec("rainfall", "Lượng mưa", "Rainfall", "mm", 0.0, 100.0, decimals=1),
        PropertySpec("salinity", "Độ mặn", "Salinity", "‰", 0.0, 45.0),
        PropertySpec("pm25", "Bụi mịn PM2.5", "PM2.5", "µg/m³", 0.0, 1000.0, True, decimals=1),
        PropertySpec("temperature", "Nhiệt độ", "Temperature", "°C", -5.0, 50.0, decimals=1),
    )
}


@dataclass(frozen=True)
class StationSpec:
    """A demo station: where, what it measures, and the parameters of its synthetic series.

    `base`/`rise` are the water level at rest and the flood's added height at its peak (m),
    `lag_h` the flood's delay after Kim Long's, `tide_m` the tide's half range; `rain` scales
    the storm at a rain gauge; `air` is the PM2.5 background (µg/m³).
    """

    code: str
    name: str
    kind_vi: str
    water: str
    lon: float
    lat: float
    properties: tuple[str, ...]
    base: float = 0.0
    rise: float = 0.0
    lag_h: float = 0.0
    tide_m: float = 0.0
    rain: float = 0.0
    salinity: float = 0.0
    air: float = 0.0


LEVEL, RAIN, SALT = "Trạm thủy văn", "Trạm đo mưa", "Trạm đo mặn"
AIR = "Trạm quan trắc không khí"
STATIONS = (
    # The Perfume River (Sông Hương), upstream to the sea, and the Bồ river.
    StationSpec("TUAN", "Ngã ba Tuần", LEVEL, "Sông Hương", 107.5600, 16.3860,
                ("water_level",), base=1.9, rise=6.3, lag_h=-3),
    StationSpec("VAN_NIEN", "Vạn Niên (cửa lấy nước)", SALT, "Sông Hương", 107.5440, 16.4460,
                ("salinity",), tide_m=0.05, salinity=0.08),
    StationSpec("KIM_LONG", "Kim Long", LEVEL, "Sông Hương", 107.5560, 16.4528,
                ("water_level", "rainfall"), base=0.55, rise=3.5, tide_m=0.06, rain=0.7),
    StationSpec("DAP_DA", "Đập Đá", LEVEL, "Sông Hương", 107.6005, 16.4800,
                ("water_level",), base=0.45, rise=3.2, lag_h=1, tide_m=0.1),
    StationSpec("BAO_VINH", "Bao Vinh", LEVEL, "Sông Hương", 107.6085, 16.4843,
                ("water_level",), base=0.40, rise=2.9, lag_h=2, tide_m=0.14),
    StationSpec("THAO_LONG", "Đập Thảo Long", LEVEL, "Sông Hương", 107.6420, 16.5200,
                ("water_level", "salinity"), base=0.35, rise=2.3, lag_h=3, tide_m=0.2,
                salinity=0.6),
    StationSpec("PHU_OC", "Phú Ốc", LEVEL, "Sông Bồ", 107.4710, 16.5300,
                ("water_level",), base=0.8, rise=4.25, lag_h=-1),
    # The lagoons: Tam Giang at the Thuận An mouth and at Quảng Điền, Cầu Hai to the south-east.
    StationSpec("THUAN_AN", "Cửa Thuận An", LEVEL, "Phá Tam Giang", 107.6480, 16.5560,
                ("water_level", "salinity"), base=0.15, rise=1.2, lag_h=5, tide_m=0.35,
                salinity=24.0),
    StationSpec("TAM_GIANG", "Phá Tam Giang (Quảng Điền)", LEVEL, "Phá Tam Giang", 107.5350,
                16.6220, ("water_level",), base=0.25, rise=1.0, lag_h=8, tide_m=0.15),
    StationSpec("CAU_HAI", "Đầm Cầu Hai", LEVEL, "Đầm Cầu Hai", 107.8850, 16.3050,
                ("water_level", "salinity"), base=0.2, rise=0.6, lag_h=10, tide_m=0.25,
                salinity=16.0),
    # Rain gauges upstream: the storm falls in the mountains and reaches Huế as the flood.
    StationSpec("A_LUOI", "A Lưới", RAIN, "Thượng nguồn sông Hương", 107.2300, 16.2700,
                ("rainfall",), rain=1.4),
    StationSpec("BINH_DIEN", "Bình Điền", RAIN, "Sông Hữu Trạch", 107.4950, 16.3620,
                ("rainfall",), rain=1.2),
    StationSpec("TA_TRACH", "Hồ Tả Trạch", RAIN, "Sông Tả Trạch", 107.6250, 16.3400,
                ("rainfall",), rain=1.1),
    StationSpec("NAM_DONG", "Nam Đông", RAIN, "Sông Tả Trạch", 107.7208, 16.1625,
                ("rainfall",), rain=1.3),
    StationSpec("CO_BI", "Cổ Bi", RAIN, "Sông Bồ", 107.4300, 16.4700, ("rainfall",), rain=1.0),
    # Air quality in the city.
    StationSpec("AQ_DAI_NOI", "Đại Nội", AIR, "", 107.5780, 16.4690,
                ("pm25", "temperature"), air=20.0),
    StationSpec("AQ_LE_LOI", "Lê Lợi", AIR, "", 107.5905, 16.4660,
                ("pm25", "temperature"), air=30.0),
    StationSpec("AQ_AN_CUU", "An Cựu", AIR, "", 107.6010, 16.4560,
                ("pm25", "temperature"), air=34.0),
    StationSpec("AQ_VY_DA", "Vỹ Dạ", AIR, "", 107.6090, 16.4780,
                ("pm25", "temperature"), air=26.0),
    StationSpec("AQ_PHU_BAI", "Phú Bài", AIR, "", 107.6880, 16.3950,
                ("pm25", "temperature"), air=38.0),
)  # fmt: skip
STATIONS_BY_CODE = {spec.code: spec for spec in STATIONS}

# The flood (hours before the end of the history): two rain bursts upstream, then Kim Long's
# level peaks twice: a first crest over level II, the main one over level III.
RAIN_BURSTS_H = ((-8.2 * 24, 8.0, 2.5), (-6.9 * 24, 14.0, 4.0))  # (centre, width, mm/10 min)
FLOOD_CRESTS_H = ((-7.8 * 24, 6.0, 14.0, 0.45), (-6.2 * 24, 12.0, 34.0, 1.0))  # centre, rise w,
# fall w, share of the station's `rise`.

# Flood warning levels at the gauges (m). Kim Long (Sông Hương) I/II/III = 1.0/2.0/3.5 and Phú Ốc
# (Sông Bồ) III = 4.5 are the national levels as the hydrological bulletins quote them; Phú Ốc's
# I and II are marked sample (commonly quoted, not checked against the decision's text).
BULLETIN = (
    "Mức báo động tại trạm chính, bản tin thủy văn hạn ngắn các sông Trung Bộ (Trung tâm Dự báo "
    "KTTV quốc gia, bảng mức báo động, như evn.com.vn đăng lại); Huế Ngày Nay 1/11/2025: "
    "BĐ2 Kim Long 2,0 m, BĐ3 Kim Long 3,5 m, BĐ3 Phú Ốc 4,5 m."
)
THRESHOLDS = (
    ("KIM_LONG", "water_level", "I", "warning", 1.0, False, BULLETIN),
    ("KIM_LONG", "water_level", "II", "warning", 2.0, False, BULLETIN),
    ("KIM_LONG", "water_level", "III", "alarm", 3.5, False, BULLETIN),
    ("PHU_OC", "water_level", "I", "warning", 1.5, True, "Sample value (not verified)."),
    ("PHU_OC", "water_level", "II", "warning", 3.0, True, "Sample value (not verified)."),
    ("PHU_OC", "water_level", "III", "alarm", 4.5, False, BULLETIN),
    # Property defaults for every datastream of the property (sample levels for the demo).
    (None, "pm25", "warning", "warning", 50.0, True, "Sample level for the demo."),
    (None, "pm25", "alarm", "alarm", 150.0, True, "Sample level for the demo."),
    (None, "salinity", "warning", "warning", 1.0, True, "Sample level (a water intake's limit)."),
)


@dataclass(frozen=True)
class Fault:
    """A sensor fault written into the history: what the anomaly detectors should find."""

    station: str
    property: str
    kind: str  # spike | flatline | gap | out_of_range
    start_h: float  # hours before the end of the history
    hours: float = 0.0
    value: float = 0.0


FAULTS = (
    Fault("AQ_LE_LOI", "pm25", "spike", -20 * 24 + 3, value=480.0),
    Fault("BAO_VINH", "water_level", "flatline", -12 * 24, hours=18),
    Fault("NAM_DONG", "rainfall", "gap", -4 * 24, hours=8),
    Fault("AQ_PHU_BAI", "temperature", "out_of_range", -15 * 24 + 5, value=85.0),
)


def _bump(t_h: np.ndarray, centre: float, rise_w: float, fall_w: float) -> np.ndarray:
    """Return an asymmetric bell: 1 at `centre`, rising over `rise_w`, falling over `fall_w`."""
    width = np.where(t_h < centre, rise_w, fall_w)
    return np.exp(-(((t_h - centre) / width) ** 2))


def flood_shape(t_h: np.ndarray, lag_h: float = 0.0) -> np.ndarray:
    """Return the flood's share of a station's rise (0 at rest, 1 at the main crest)."""
    shifted = t_h - lag_h
    return sum(share * _bump(shifted, c, rw, fw) for c, rw, fw, share in FLOOD_CRESTS_H)


def rain_envelope(t_h: np.ndarray) -> np.ndarray:
    """Return the storm's mean intensity upstream (mm per 10 minutes)."""
    return sum(peak * _bump(t_h, c, w, w) for c, w, peak in RAIN_BURSTS_H)


def _tide(t_h: np.ndarray) -> np.ndarray:
    # The semi-diurnal lunar tide (M2, 12.42 h) with a smaller diurnal one (K1, 23.93 h).
    return np.sin(2 * np.pi * t_h / 12.42) + 0.3 * np.sin(2 * np.pi * t_h / 23.93 + 1.0)


def _local_hour(times: np.ndarray) -> np.ndarray:
    seconds = times.astype("datetime64[s]").astype(np.int64)
    return ((seconds / 3600.0) + LOCAL_OFFSET_H) % 24


def series(
    station: StationSpec, prop: str, t_h: np.ndarray, times: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Return a station's synthetic values of one property at the given instants.

    `t_h` is hours relative to the end of the history (negative before it), `times` the same
    instants as numpy datetimes (for the time of day).
    """
    n = len(t_h)
    if prop == "water_level":
        flood = station.rise * flood_shape(t_h, station.lag_h)
        # The tide reaches upstream less when the river runs high.
        tide = station.tide_m * _tide(t_h) * (1 - 0.7 * flood_shape(t_h, station.lag_h))
        return station.base + flood + tide + rng.normal(0, 0.01, n)
    if prop == "rainfall":
        mean = rain_envelope(t_h) * station.rain
        wet = rng.random(n) < np.clip(0.08 + mean, 0, 0.9)  # showers more often in the storm
        amount = np.where(wet, rng.gamma(2.0, 0.5 * np.maximum(mean, 0.2)), 0.0)
        return np.round(amount, 1)
    if prop == "salinity":
        fresh = 1 - 0.85 * np.clip(flood_shape(t_h, station.lag_h + 4), 0, 1)
        tidal = 1 + 0.25 * _tide(t_h)
        return np.maximum(station.salinity * tidal * fresh + rng.normal(0, 0.02, n), 0.0)
    hour = _local_hour(times)
    washed = 1 - 0.6 * np.clip(rain_envelope(t_h) / 4.0, 0, 1)
    if prop == "pm25":
        rush = 0.45 * np.exp(-(((hour - 7.5) / 1.5) ** 2)) + 0.6 * np.exp(-(((hour - 19) / 2) ** 2))
        return station.air * (0.8 + rush) * washed * rng.lognormal(0, 0.12, n)
    if prop == "temperature":
        cooling = 1.5 * (t_h / (HISTORY_DAYS * 24))  # autumn: about 1.5 °C cooler over the month
        daily = 3.5 * np.sin(2 * np.pi * (hour - 9) / 24) * washed
        return 25.0 + cooling + daily - 3.0 * (1 - washed) + rng.normal(0, 0.15, n)
    raise ValueError(f"No synthetic series for {prop!r}")


def _seed(station: str, prop: str) -> int:
    return zlib.crc32(f"{station}:{prop}".encode())


def history(end: datetime) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Return every datastream's (times, values) for the 30 days up to `end`, faults included."""
    steps = int(timedelta(days=HISTORY_DAYS) / STEP)
    offsets = np.arange(-steps + 1, 1)  # the last reading is at `end`
    t_h = offsets * (STEP.total_seconds() / 3600)
    end64 = np.datetime64(end.astimezone(UTC).replace(tzinfo=None), "s")
    times = end64 + offsets * np.timedelta64(int(STEP.total_seconds()), "s")
    out = {}
    for station in STATIONS:
        for prop in station.properties:
            rng = np.random.default_rng(_seed(station.code, prop))
            values = series(station, prop, t_h, times, rng)
            values = np.round(values, PROPERTIES[prop].decimals)
            keep = np.ones(len(values), dtype=bool)
            for fault in FAULTS:
                if (fault.station, fault.property) != (station.code, prop):
                    continue
                inside = (t_h >= fault.start_h) & (t_h < fault.start_h + max(fault.hours, 1e-9))
                first = int(np.argmax(inside))
                if fault.kind == "gap":
                    keep &= ~inside
                elif fault.kind == "flatline":
                    values[inside] = values[first]
                else:  # a spike or an out-of-range value: one reading
                    values[first] = fault.value
            out[(station.code, prop)] = (times[keep], values[keep])
    return out


def value_at(station_code: str, prop: str, at: datetime, end: datetime) -> float:
    """Return a plausible new reading at `at` continuing the history that ended at `end`."""
    station = STATIONS_BY_CODE[station_code]
    t_h = np.array([(at - end).total_seconds() / 3600])
    times = np.array([np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "s")])
    value = series(station, prop, t_h, times, np.random.default_rng())[0]
    return round(float(value), PROPERTIES[prop].decimals)


# --- Writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorDemoOutcome:
    stations: int
    datastreams: int
    observations: int
    thresholds: int
    end: datetime


def _features() -> list[FeatureRecord]:
    records = []
    for spec in STATIONS:
        names = [f"{PROPERTIES[p].name_vi} ({PROPERTIES[p].unit})" for p in spec.properties]
        records.append(
            FeatureRecord(
                geom=Point(spec.lon, spec.lat, srid=4326),
                attributes={
                    "station": spec.code,
                    "ten": spec.name,
                    "loai": spec.kind_vi,
                    "song_dam_pha": spec.water,
                    "dai_luong": ", ".join(names),
                    "du_lieu": "Dữ liệu mẫu tổng hợp (synthetic sample data)",
                },
            )
        )
    return records


LAYER_FIELDS = {
    "title_vi": "Trạm quan trắc",
    "title_en": "Monitoring stations",
    "description_vi": (
        "Trạm quan trắc mực nước, lượng mưa, độ mặn và chất lượng không khí quanh Huế. Vị trí "
        "gần đúng; số liệu là dữ liệu mẫu tổng hợp (một đợt lũ mùa thu và vài lỗi cảm biến), "
        "không phải số liệu đo thật."
    ),
    "description_en": (
        "Stations measuring water level, rainfall, salinity and air quality around Huế. "
        "Approximate positions; the readings are synthetic sample data (an autumn flood and a "
        "few sensor faults), not real measurements."
    ),
    "geometry_type": "point",
    "name_field": "ten",
    "attribute_schema": [
        {"name": "station", "type": "text", "label_vi": "Mã trạm", "label_en": "Station code"},
        {"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"},
        {"name": "loai", "type": "text", "label_vi": "Loại trạm", "label_en": "Kind"},
        {
            "name": "song_dam_pha",
            "type": "text",
            "label_vi": "Sông, đầm, phá",
            "label_en": "River or lagoon",
        },
        {"name": "dai_luong", "type": "text", "label_vi": "Đại lượng đo", "label_en": "Measures"},
        {"name": "du_lieu", "type": "text", "label_vi": "Dữ liệu", "label_en": "Data"},
    ],
    "style": {
        "type": "circle",
        "paint": {
            "circle-color": "#1f78b4",
            "circle-radius": 6,
            "circle-stroke-color": "#ffffff",
            "circle-stroke-width": 2,
        },
    },
    "min_zoom": 7,
    "max_zoom": 22,
    "prebuild_zoom": 12,
    "visibility": "public",
    "source": (
        "Dữ liệu mẫu sinh bởi `manage.py loaddemo` (sensors/demo.py): vị trí gần đúng của các "
        "trạm quanh Huế, chuỗi số liệu tổng hợp. Mức báo động lũ Kim Long, Phú Ốc (III): bản "
        "tin thủy văn của Trung tâm Dự báo KTTV quốc gia."
    ),
    "licence": "Dữ liệu mẫu, không dùng cho mục đích chính thức.",
    "attribution": (
        "Dữ liệu mẫu (synthetic sample data): trạm quan trắc quanh Huế, vị trí gần đúng"
    ),
}


def _fingerprint(records: list[FeatureRecord]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.geom.wkb)
        digest.update(json.dumps(record.attributes, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


@transaction.atomic
def _layer_and_stations() -> tuple[Layer, dict[tuple[str, str], Datastream]]:
    """Upsert the layer, its features, the properties, the demo source, stations, datastreams."""
    spec = next(c for c in catalogue_load().categories if c.slug == CATEGORY_SLUG)
    category = category_upsert(spec=spec)
    layer = Layer.objects.select_for_update().filter(slug=LAYER_SLUG).first()
    if layer is not None and not layer.metadata.get("sensor_demo"):
        raise DemoDataError(
            f"A layer {LAYER_SLUG!r} exists that the demo did not make: left alone."
        )
    # Not `metadata["demo"]`: loaddemo --prune deletes those the catalogue does not list.
    layer = layer or Layer(slug=LAYER_SLUG, metadata={"sensor_demo": True})
    values = {**LAYER_FIELDS, "category_id": category.pk}
    changed = [name for name, value in values.items() if getattr(layer, name) != value]
    for name in changed:
        setattr(layer, name, values[name])
    if layer.pk is None:
        layer.save()
    elif changed:  # saved only when it differs: a save changes what caches key on
        layer.save(update_fields=[*changed, "updated_at"])
    records = _features()
    fingerprint = _fingerprint(records)
    if layer.metadata.get("demo_fingerprint") != fingerprint or layer.feature_count != len(records):
        layer_replace_features(layer=layer, records=records)
        layer.metadata = {**layer.metadata, "demo_fingerprint": fingerprint}
    layer.status = Layer.Status.READY
    layer.save(update_fields=["metadata", "status", "updated_at"])
    SensorLayer.objects.get_or_create(layer=layer)
    properties = {}
    for spec in PROPERTIES.values():
        properties[spec.code], _ = ObservedProperty.objects.update_or_create(
            code=spec.code,
            defaults={
                "name_vi": spec.name_vi,
                "name_en": spec.name_en,
                "unit": spec.unit,
                "physical_min": spec.physical_min,
                "physical_max": spec.physical_max,
                "seasonal": spec.seasonal,
            },
        )
    source, _ = SensorSource.objects.get_or_create(name=SOURCE_NAME)
    feature_ids = dict(Feature.objects.filter(layer=layer).values_list("attributes__station", "pk"))
    datastreams = {}
    for spec in STATIONS:
        station, _ = Station.objects.update_or_create(
            layer=layer,
            code=spec.code,
            defaults={
                "feature_id": feature_ids[spec.code],
                "name": spec.name,
                "source": source,
                "active": True,
            },
        )
        for prop in spec.properties:
            datastreams[(spec.code, prop)], _ = Datastream.objects.get_or_create(
                station=station, property=properties[prop]
            )
    Station.objects.filter(layer=layer).exclude(code__in=STATIONS_BY_CODE).delete()
    return layer, datastreams


def _thresholds(datastreams: dict[tuple[str, str], Datastream]) -> int:
    for station, prop, level, severity, value, sample, note in THRESHOLDS:
        datastream = datastreams[(station, prop)] if station else None
        Threshold.objects.update_or_create(
            property=ObservedProperty.objects.get(code=prop),
            datastream=datastream,
            level=level,
            defaults={
                "severity": severity,
                "value": value,
                "direction": Threshold.Direction.ABOVE,
                "hysteresis": 0.1 if prop == "water_level" else 0.0,
                "sample": sample,
                "note": note,
                "active": True,
            },
        )
    return len(THRESHOLDS)


def _clear_history(datastream_ids: list[int]) -> None:
    """Remove the demo datastreams' readings and what was derived from them."""
    Alert.objects.filter(datastream_id__in=datastream_ids).delete()
    Anomaly.objects.filter(datastream_id__in=datastream_ids).delete()
    EvaluationCursor.objects.filter(datastream_id__in=datastream_ids).delete()
    Latest.objects.filter(datastream_id__in=datastream_ids).delete()
    Observation.objects.filter(datastream_id__in=datastream_ids).delete()


def demo_sensors_load(
    *, now: datetime | None = None, report: Callable[[str], None] | None = None
) -> SensorDemoOutcome:
    """Load the sensor demo: layer, stations, thresholds, and 30 days of history up to now."""
    now = now or timezone.now()
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    end -= timedelta(minutes=end.minute % 10)  # on the stations' 10-minute grid
    layer, datastreams = _layer_and_stations()
    thresholds = _thresholds(datastreams)
    readings = []
    for (station, prop), (times, values) in history(end).items():
        for at, value in zip(times.tolist(), values.tolist(), strict=True):
            readings.append(
                Reading(len(readings), station, prop, at.replace(tzinfo=UTC), float(value))
            )
    source = SensorSource.objects.get(name=SOURCE_NAME)
    with transaction.atomic():
        _clear_history([d.pk for d in datastreams.values()])
        result = ingest(readings, source=source, now=end)
    if result.rejected:
        raise DemoDataError(f"The demo history was refused: {result.rejected[:3]}")
    layer.metadata = {**layer.metadata, "sensor_demo_end": end.isoformat()}
    layer.save(update_fields=["metadata", "updated_at"])
    outcome = SensorDemoOutcome(len(STATIONS), len(datastreams), result.accepted, thresholds, end)
    if report:
        report(
            f"{LAYER_SLUG:<28} {outcome.stations:>6} stations, {outcome.datastreams} datastreams, "
            f"{outcome.observations} readings up to {end:%Y-%m-%d %H:%M} UTC"
        )
    return outcome


def demo_end(layer: Layer) -> datetime | None:
    """Return the end of the loaded history (what `value_at` continues), if the demo is loaded."""
    raw = (layer.metadata or {}).get("sensor_demo_end")
    return datetime.fromisoformat(raw) if raw else None
