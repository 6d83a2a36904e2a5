"""The admin's banner of failing and paused layer sources, on every admin page staff open."""

from django import template
from django.db.models import Q

from sources.models import LayerSource, RunStatus

register = template.Library()


@register.inclusion_tag("sources/admin/failure_banner.html", takes_context=True)
def source_failures_banner(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"failing": []}
    if not user.has_perm("sources.view_layersource") and not user.has_perm("layers.change_layer"):
        return {"failing": []}
    failing = list(
        LayerSource.objects.filter(Q(last_status=RunStatus.FAILED) | Q(paused_at__isnull=False))
        .select_related("layer")
        .order_by("layer__slug")[:20]
    )
    return {"failing": failing}
