"""Admin of the sensors app.

Thresholds, alerts and anomalies are registered in `admin_alerts`, sensor layers, properties,
sources, stations and datastreams in `admin_core` (imported here so Django's autodiscovery, which
imports only `sensors.admin`, finds them).
"""

from . import admin_alerts, admin_core  # noqa: F401
