"""The admin's banner of open sensor alerts, on every admin page staff open."""

from django import template

from layers.models import Layer
from sensors.models_alerts import Alert

register = template.Library()
SHOWN = 10


@register.inclusion_tag("sensors/admin/alerts_banner.html", takes_context=True)
def open_alerts_banner(context) -> dict:
    """Return the open alerts of the layers the staff member may see (the worst first)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"alerts": [], "count": 0}
    if not user.has_perm("sensors.view_alert"):
        return {"alerts": [], "count": 0}
    open_alerts = Alert.objects.filter(
        closed_at__isnull=True, station__layer__in=Layer.objects.visible_to(user).values("pk")
    )
    count = open_alerts.count()
    if not count:
        return {"alerts": [], "count": 0}
    # Alarms before warnings, then the newest first.
    shown = list(
        open_alerts.select_related("station", "datastream__property").order_by(
            "severity", "-opened_at"
        )[:SHOWN]
    )
    return {"alerts": shown, "count": count, "more": count - len(shown)}
