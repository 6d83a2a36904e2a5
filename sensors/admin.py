"""Admin of the sensors app.

Thresholds, alerts and anomalies are registered in `admin_alerts` (imported here so Django's
autodiscovery, which imports only `sensors.admin`, finds them). The core models' admin may be
added to this module beside that import.
"""

from . import admin_alerts  # noqa: F401
