"""Reads for the investor page: the investment parcels the visitor may see, filtered.

A parcel layer is a visible polygon layer of the investment category (`WEBMAP_INVESTMENT_CATEGORY`).
Its attribute schema says which field holds the area, the zoning, the status and the ward: the
first field whose name is one of `FIELD_NAMES[role]`, so layers imported from different offices
(English or Vietnamese field names) list side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.gis.db.models.functions import Centroid
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.http import QueryDict
from django.utils.translation import get_language

from layers.errors import InvalidParameter
from layers.features.query import parse_number
from layers.models import Feature, GeometryType, Layer
from layers.selectors import layers_visible_to

ROLES = ("area", "zoning", "status", "ward")
FIELD_NAMES = {
    "area": ("area_m2", "area", "dien_tich_m2", "dien_tich", "area_ha", "dien_tich_ha"),
    "zoning": ("zoning", "ten_quy_hoach", "quy_hoach", "land_use", "muc_dich", "chuc_nang"),
    "status": ("status", "trang_thai", "tinh_trang"),
    "ward": ("ward", "phuong", "phuong_xa", "ward_name", "dia_ban"),
}
# Areas are compared and shown in m²; a field in hectares is converted.
SQUARE_METRES_PER_UNIT = {"area_ha": 10_000, "dien_tich_ha": 10_000}
SORTS = {"name": ("name", "pk"), "area": None, "-area": None}
# Numbers sort after strings in jsonb: a bound below every number keeps only numeric values.
LOWEST_NUMBER = -1e300


def investment_layers(*, user: AbstractBaseUser | AnonymousUser | None) -> list[Layer]:
    """Return the visible parcel layers of the investment category."""
    return list(
        layers_visible_to(user=user)
        .filter(category__slug=settings.WEBMAP_INVESTMENT_CATEGORY)
        .filter(geometry_type__in=[GeometryType.POLYGON, GeometryType.MIXED])
        .exclude(status=Layer.Status.DRAFT)
    )


def role_fields(layer: Layer) -> dict[str, str]:
    """Return the attribute that plays each role (area, zoning, status, ward) in the layer."""
    names = [item.get("name") for item in layer.attribute_schema or [] if isinstance(item, dict)]
    roles = {}
    for role, candidates in FIELD_NAMES.items():
        found = next((name for name in candidates if name in names), None)
        if found:
            roles[role] = found
    return roles


def field_label(layer: Layer, name: str) -> str:
    """Return the schema's label of a field in the current language."""
    language = "en" if (get_language() or "vi").startswith("en") else "vi"
    for item in layer.attribute_schema or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get(f"label_{language}") or item.get("label_vi") or name
    return name


def role_labels(layers: list[Layer]) -> dict[str, str]:
    """Return each role's label, from the first layer that has a field for it."""
    labels = {}
    for layer in layers:
        for role, name in role_fields(layer).items():
            # Areas are shown converted to m², whatever unit the layer's own label names.
            if role != "area":
                labels.setdefault(role, field_label(layer, name))
    return labels


def _number(query: QueryDict, name: str) -> float | None:
    """Return the number given as `name`, None when absent; anything else is InvalidParameter."""
    value = query.get(name, "")
    if value.strip() == "":
        return None
    return parse_number(value, parameter=name)


def _text(query: QueryDict, name: str) -> str:
    """Return the text given as `name`; a NUL (which PostgreSQL text cannot hold) is refused."""
    value = query.get(name, "").strip()
    if "\x00" in value:
        raise InvalidParameter(f"{name} holds a NUL character.", parameter=name)
    return value


@dataclass(frozen=True)
class ParcelFilters:
    """What the visitor asked for: an area range (m²), a zoning, a status, a ward, an order."""

    area_min: float | None = None
    area_max: float | None = None
    zoning: str = ""
    status: str = ""
    ward: str = ""
    sort: str = "name"
    errors: tuple[str, ...] = field(default=())

    @classmethod
    def from_query(cls, query: QueryDict) -> ParcelFilters:
        """Return the filters of a query string, or raise InvalidParameter for an area that is not
        a finite number (`nan`, `inf` and `1e309` included)."""
        sort = query.get("sort", "name")
        return cls(
            area_min=_number(query, "area_min"),
            area_max=_number(query, "area_max"),
            zoning=_text(query, "zoning"),
            status=_text(query, "status"),
            ward=_text(query, "ward"),
            sort=sort if sort in SORTS else "name",
        )

    @property
    def active(self) -> bool:
        return any(
            [self.area_min is not None, self.area_max is not None, self.zoning, self.status,
             self.ward]
        )  # fmt: skip


def _layer_condition(layer: Layer, filters: ParcelFilters) -> Q | None:
    """Return the condition a parcel of this layer meets, or None if it can meet none."""
    roles = role_fields(layer)
    condition = Q(layer=layer)
    for role in ("zoning", "status", "ward"):
        wanted = getattr(filters, role)
        if not wanted:
            continue
        if role not in roles:
            return None
        condition &= Q(**{f"attributes__{roles[role]}": wanted})
    if filters.area_min is not None or filters.area_max is not None:
        if "area" not in roles:
            return None
        area = f"attributes__{roles['area']}"
        per_unit = SQUARE_METRES_PER_UNIT.get(roles["area"], 1)
        condition &= Q(**{f"{area}__gte": LOWEST_NUMBER})
        if filters.area_min is not None:
            condition &= Q(**{f"{area}__gte": filters.area_min / per_unit})
        if filters.area_max is not None:
            condition &= Q(**{f"{area}__lte": filters.area_max / per_unit})
    return condition


def parcel_queryset(*, layers: list[Layer], filters: ParcelFilters) -> QuerySet[Feature]:
    """Return the parcels of the layers that meet the filters, in the asked order."""
    conditions = [c for c in (_layer_condition(layer, filters) for layer in layers) if c]
    if not conditions:
        return Feature.objects.none()
    where = conditions[0]
    for condition in conditions[1:]:
        where |= condition
    parcels = Feature.objects.filter(where).annotate(centre=Centroid("geom"))
    if filters.sort in ("area", "-area") and layers:
        # One layer's area field orders them all: parcels of other layers follow.
        area_field = next((role_fields(layer).get("area") for layer in layers), None)
        if area_field:
            key = "attributes__" + area_field
            return parcels.order_by(f"-{key}" if filters.sort == "-area" else key, "pk")
    return parcels.order_by("name", "pk")


@dataclass(frozen=True)
class ParcelRow:
    """One line of the investor page."""

    layer: Layer
    id: int
    name: str
    values: dict[str, object]
    lon: float
    lat: float
    attributes: dict

    @property
    def area_text(self) -> str:
        """Return the area with thousands grouped the local way (25.000 in Vietnamese)."""
        area = self.values.get("area")
        if not isinstance(area, int | float):
            return "" if area is None else str(area)
        grouped = f"{area:,.0f}"
        return grouped.replace(",", ".") if (get_language() or "vi").startswith("vi") else grouped

    @property
    def map_fragment(self) -> str:
        return f"map=17/{self.lat:.6f}/{self.lon:.6f}&feature={self.layer.slug}/{self.id}"


class ParcelRows:
    """A lazy sequence of ParcelRow over a queryset, so the paginator slices in SQL."""

    def __init__(self, parcels: QuerySet[Feature], layers: list[Layer]):
        self.parcels = parcels
        self.layers = {layer.pk: layer for layer in layers}
        self.roles = {layer.pk: role_fields(layer) for layer in layers}

    def count(self) -> int:
        return self.parcels.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._row(feature) for feature in self.parcels[index]]
        return self._row(self.parcels[index])

    def _row(self, feature: Feature) -> ParcelRow:
        roles = self.roles[feature.layer_id]
        attributes = feature.attributes or {}
        values = {role: attributes.get(roles[role]) if role in roles else None for role in ROLES}
        if isinstance(values["area"], int | float):
            values["area"] = values["area"] * SQUARE_METRES_PER_UNIT.get(roles["area"], 1)
        return ParcelRow(
            layer=self.layers[feature.layer_id],
            id=feature.pk,
            name=feature.name or f"#{feature.pk}",
            values=values,
            lon=feature.centre.x,
            lat=feature.centre.y,
            attributes=attributes,
        )


def parcel_rows(*, layers: list[Layer], filters: ParcelFilters) -> ParcelRows:
    """Return the rows of the investor page for these filters."""
    return ParcelRows(parcel_queryset(layers=layers, filters=filters), layers)


def parcel_choices(*, layers: list[Layer]) -> dict[str, list[str]]:
    """Return the values each filter offers: the distinct zonings, statuses and wards."""
    choices: dict[str, set[str]] = {"zoning": set(), "status": set(), "ward": set()}
    for layer in layers:
        roles = role_fields(layer)
        for role in choices:
            if role not in roles:
                continue
            values = (
                Feature.objects.filter(layer=layer)
                .annotate(value=KeyTextTransform(roles[role], "attributes"))
                .exclude(value__isnull=True)
                .exclude(value="")
                .values_list("value", flat=True)
                .distinct()
            )
            choices[role].update(values)
    return {role: sorted(values) for role, values in choices.items()}
