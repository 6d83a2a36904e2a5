"""REST views of categories and layers: lists and details for all, metadata and style for staff."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from layers import selectors, services
from layers.errors import NotFound, refusal
from layers.features.temporal import temporal_extent
from layers.features.validation import holds_nul
from layers.models import Category, Layer
from layers.querysets import can_edit_layers
from layers.rich_text import clean_attribution
from sensors.links import sensor_links

from .base import ApiView, query_params
from .errors import ErrorSerializer


def layer_or_404(*, slug: str, user) -> Layer:
    """Return the layer if the user may see it; else NotFound (the same for one that is absent)."""
    try:
        return selectors.layer_get_visible(slug=slug, user=user)
    except Layer.DoesNotExist:
        raise NotFound(f"No layer '{slug}'.") from None


def require_staff(request: HttpRequest) -> None:
    """Refuse the request unless the user is GIS staff."""
    if not can_edit_layers(request.user):
        raise refusal(request.user, "Only GIS staff may change layers.")


def extent_bbox(layer: Layer) -> list[float] | None:
    """Return the layer's extent as [min lon, min lat, max lon, max lat]."""
    return list(layer.extent.extent) if layer.extent else None


def layer_links(request: HttpRequest, layer: Layer) -> dict[str, str]:
    """Return the URLs of what the API offers about a layer."""
    absolute = request.build_absolute_uri
    slug = layer.slug
    exports = {
        fmt: absolute(reverse("api:layer-export", kwargs={"slug": slug, "fmt": fmt}))
        for fmt in ("geojson", "csv", "gpkg", "shp.zip")
    }
    return {
        "self": absolute(reverse("api:layer-detail", kwargs={"slug": slug})),
        "features": absolute(reverse("api:layer-features", kwargs={"slug": slug})),
        # The tile routes belong to the tiles package; their paths are fixed by DESIGN.md.
        "tilejson": absolute(f"/tiles/{slug}.json"),
        "tiles": absolute(f"/tiles/{slug}/{{z}}/{{x}}/{{y}}.pbf?v={layer.version}"),
        "ogc_collection": absolute(reverse("ogc:collection", kwargs={"collection_id": slug})),
        # Its MapLibre style (layers/styles.py), the one the web map and GIS clients draw with.
        "style": absolute(reverse("style-layer", kwargs={"slug": slug})),
        "exports": exports,
    }


class CategorySerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)

    class Meta:
        model = Category
        fields = ["slug", "name", "name_vi", "name_en", "order", "icon"]


class CategoryListApi(ApiView):
    """The categories that hold a layer the requester may see."""

    class OutputSerializer(CategorySerializer):
        layer_count = serializers.IntegerField(read_only=True)

        class Meta(CategorySerializer.Meta):
            fields = [*CategorySerializer.Meta.fields, "layer_count"]

    @extend_schema(
        operation_id="categories_list",
        responses={200: OutputSerializer(many=True)},
        tags=["layers"],
    )
    def get(self, request):
        visible = selectors.layers_visible_to(user=request.user).values("pk")
        categories = selectors.categories_with_visible_layers(user=request.user).annotate(
            layer_count=Count("layers", filter=Q(layers__in=visible), distinct=True)
        )
        return Response(self.OutputSerializer(categories, many=True).data)


class LayerSummarySerializer(serializers.ModelSerializer):
    title = serializers.CharField(read_only=True)
    category = CategorySerializer(read_only=True)
    bbox = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    attribution = serializers.SerializerMethodField()
    sensor = serializers.SerializerMethodField()

    class Meta:
        model = Layer
        fields = [
            "slug", "title", "title_vi", "title_en", "category", "geometry_type",
            "feature_count", "version", "visibility", "status", "bbox", "attribution", "links",
            "sensor",
        ]  # fmt: skip

    def get_bbox(self, layer) -> list[float] | None:
        return extent_bbox(layer)

    def get_attribution(self, layer) -> str:
        """Return the attribution as safe HTML (links and inline tags only)."""
        return clean_attribution(layer.attribution)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_links(self, layer) -> dict:
        return layer_links(self.context["request"], layer)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_sensor(self, layer) -> dict | None:
        """Return a sensor layer's reading URLs (its features are stations), else None."""
        links = sensor_links(layer)
        if links is None:
            return None
        # The origin joined by hand: build_absolute_uri would escape the {station} placeholder.
        origin = self.context["request"].build_absolute_uri("/").removesuffix("/")
        urls = ("latest", "series", "alerts")
        return {key: origin + v if key in urls and v else v for key, v in links.items()}


class LayerDetailSerializer(LayerSummarySerializer):
    description = serializers.CharField(read_only=True)
    temporal = serializers.SerializerMethodField()

    class Meta(LayerSummarySerializer.Meta):
        fields = [
            *LayerSummarySerializer.Meta.fields,
            "description", "description_vi", "description_en", "attribute_schema", "name_field",
            "style", "min_zoom", "max_zoom", "source", "licence", "metadata", "updated_at",
            "temporal",
        ]  # fmt: skip

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "A time-enabled layer's time fields and its temporal extent from "
            "its data (an open end is null); `datetime=` selects its features. Null: not "
            "time-enabled.",
            "properties": {
                "interval": {"type": "array", "items": {"type": "array"}},
                "start_field": {"type": "string"},
                "end_field": {"type": "string", "nullable": True},
            },
        }
    )
    def get_temporal(self, layer) -> dict | None:
        return temporal_extent(layer)


class LayerListApi(ApiView):
    """The layers the requester may see, by category and title."""

    @extend_schema(
        operation_id="layers_list",
        parameters=[
            OpenApiParameter("category", str, description="A category slug."),
            OpenApiParameter("q", str, description="Words of the title (accents optional)."),
        ],
        responses={200: LayerSummarySerializer(many=True), 400: ErrorSerializer},
        tags=["layers"],
    )
    def get(self, request):
        params = query_params(request)
        layers = selectors.layer_list(
            user=request.user, category=params.get("category"), text=params.get("q", "")
        ).select_related("sensor_config")
        data = LayerSummarySerializer(layers, many=True, context={"request": request}).data
        return Response(data)


class LayerDetailApi(ApiView):
    """One layer: metadata, attribute schema, style, extent, count, version and links."""

    class InputSerializer(serializers.Serializer):
        title_vi = serializers.CharField(max_length=200, required=False)
        title_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
        description_vi = serializers.CharField(required=False, allow_blank=True)
        description_en = serializers.CharField(required=False, allow_blank=True)
        category = serializers.SlugRelatedField(
            slug_field="slug", queryset=Category.objects.all(), required=False
        )
        style = serializers.JSONField(required=False)
        attribute_schema = serializers.JSONField(required=False)
        name_field = serializers.CharField(max_length=100, required=False, allow_blank=True)
        time_start_field = serializers.CharField(max_length=100, required=False, allow_blank=True)
        time_end_field = serializers.CharField(max_length=100, required=False, allow_blank=True)
        min_zoom = serializers.IntegerField(min_value=0, max_value=24, required=False)
        max_zoom = serializers.IntegerField(min_value=0, max_value=24, required=False)
        source = serializers.CharField(required=False, allow_blank=True)
        licence = serializers.CharField(max_length=200, required=False, allow_blank=True)
        attribution = serializers.CharField(required=False, allow_blank=True)
        visibility = serializers.ChoiceField(choices=Layer.Visibility.choices, required=False)
        status = serializers.ChoiceField(choices=Layer.Status.choices, required=False)
        metadata = serializers.JSONField(required=False)

        def validate(self, data):
            for name in ("style", "metadata", "attribute_schema"):
                if holds_nul(data.get(name)):
                    raise serializers.ValidationError({name: "NUL characters are not allowed."})
            return data

        def validate_style(self, value):
            if not isinstance(value, dict):
                raise serializers.ValidationError("The style must be a JSON object.")
            return value

        def validate_metadata(self, value):
            if not isinstance(value, dict):
                raise serializers.ValidationError("The metadata must be a JSON object.")
            return value

        def validate_attribute_schema(self, value):
            valid = isinstance(value, list) and all(
                isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
                for item in value
            )
            if not valid:
                raise serializers.ValidationError(
                    'The attribute schema is a list of {"name", "type", "label_vi", "label_en"}.'
                )
            return value

    @extend_schema(
        operation_id="layers_retrieve",
        responses={200: LayerDetailSerializer, 404: ErrorSerializer},
        tags=["layers"],
    )
    def get(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        return Response(LayerDetailSerializer(layer, context={"request": request}).data)

    @extend_schema(
        operation_id="layers_partial_update",
        request=InputSerializer,
        responses={
            200: LayerDetailSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="Staff: change a layer's metadata or style; the layer's version goes up.",
        tags=["staff"],
    )
    def patch(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        require_staff(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        layer = services.layer_update(layer=layer, data=serializer.validated_data)
        return Response(
            LayerDetailSerializer(layer, context={"request": request}).data,
            status=status.HTTP_200_OK,
        )
