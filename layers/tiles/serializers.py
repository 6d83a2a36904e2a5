"""Serializers of the tile-job API: what staff send to start a seed and what a job looks like."""

from rest_framework import serializers

from layers.models import MAX_ZOOM, TileJob


class TileSeedInput(serializers.Serializer):
    """Optional zoom range of a seed; the layer's min zoom and prebuild depth by default."""

    min_zoom = serializers.IntegerField(required=False, min_value=0, max_value=MAX_ZOOM)
    max_zoom = serializers.IntegerField(required=False, min_value=0, max_value=MAX_ZOOM)

    def validate(self, data: dict) -> dict:
        low, high = data.get("min_zoom"), data.get("max_zoom")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"min_zoom": "min_zoom must not exceed max_zoom."})
        return data


class TileJobOutput(serializers.ModelSerializer):
    """A tile job with its progress, and the depth its plan chose within the tile budget."""

    layer = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    url = serializers.SerializerMethodField()
    progress = serializers.DictField(source="progress_summary", read_only=True)
    created_by = serializers.StringRelatedField()

    class Meta:
        model = TileJob
        fields = [
            "id",
            "url",
            "layer",
            "status",
            "min_zoom",
            "max_zoom",
            "requested_max_zoom",
            "report",
            "progress",
            "tiles_rendered",
            "tiles_skipped",
            "messages",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, job: TileJob) -> str:
        request = self.context.get("request")
        path = f"/api/v1/tile-jobs/{job.pk}/"
        return request.build_absolute_uri(path) if request else path
