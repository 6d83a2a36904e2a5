"""Where a sensor layer's readings are served: the URLs the layer API and the web map announce.

A layer's REST payload (`GET /api/v1/layers/{slug}/`) and its entry in the map page's configuration
carry `"sensor": {...}` when the layer is a sensor layer, and `null` otherwise, so a client knows to
join the `latest` readings to the layer's features (by feature id) without knowing the sensors API.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve

from layers.models import Layer

API_ROOT = "/api/v1/sensors/layers/{slug}"


def _served(path: str) -> bool:
    """Say whether a path is routed (the alerts endpoint is an addition to the core API)."""
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def sensor_links(layer: Layer) -> dict | None:
    """Return the sensor URLs of a layer (paths from the site root), or None for other layers.

    `series` holds `{station}` for a station's code. `alerts` is None while no alerts are served.
    """
    config = getattr(layer, "sensor_config", None)
    if config is None:
        return None
    root = API_ROOT.format(slug=layer.slug)
    alerts = f"{root}/alerts"
    return {
        "latest": f"{root}/latest",
        "series": f"{root}/stations/{{station}}/series",
        "alerts": alerts if _served(alerts) else None,
        "stale_after_s": int(config.stale_after.total_seconds()),
    }
