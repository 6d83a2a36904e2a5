"""Thresholds, alerts and anomalies of sensor datastreams (docs/sensor-alerts.md).

Imported at the end of `sensors.models`, so Django finds these models in the `sensors` app.

- `Threshold`: a level (e.g. the national flood warning levels I, II, III) of a property, a default
  for all its datastreams, or of one datastream (which then overrides the default of the same
  level). Crossing it opens an `Alert`; falling back past it (less the hysteresis) closes it.
- `Alert`: something staff must know now: a threshold crossed or a station that stopped reporting
  (stale). Who (station), what (property, level), when, value; notified by e-mail and webhook
  (`AlertNotification`, one row per event and channel, retried until sent).
- `Anomaly`: a stretch of a series the detectors (sensors/detectors.py) found strange; staff confirm
  or dismiss it. Its observations carry flag 1 (suspect) unless it is dismissed.
- `EvaluationCursor`: how far thresholds have been checked per datastream, so evaluating the same
  range again opens nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Severity(models.TextChoices):
    WARNING = "warning", _("warning")
    ALARM = "alarm", _("alarm")


class Threshold(models.Model):
    """A warning level of a property (default for its datastreams) or of one datastream."""

    class Direction(models.TextChoices):
        ABOVE = "above", _("above (rising to it)")
        BELOW = "below", _("below (falling to it)")

    property = models.ForeignKey(
        "sensors.ObservedProperty",
        on_delete=models.CASCADE,
        related_name="thresholds",
        verbose_name=_("observed property"),
    )
    # Empty: the default for every datastream of the property; set: that datastream's own level,
    # replacing the default of the same level code (each gauge has its own flood levels).
    datastream = models.ForeignKey(
        "sensors.Datastream",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="thresholds",
        verbose_name=_("datastream"),
    )
    # The level's code as the authority names it: "I", "II", "III" (Vietnam's flood warning
    # levels) or "warning", "alarm".
    level = models.CharField(_("level"), max_length=32)
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING
    )
    value = models.FloatField(_("value"))
    direction = models.CharField(
        _("direction"), max_length=8, choices=Direction.choices, default=Direction.ABOVE
    )
    # An alert closes only when the value is back past `value` by this much, so a reading that
    # hovers at the level does not open and close alerts every few minutes.
    hysteresis = models.FloatField(_("hysteresis"), default=0.0)
    # True: an illustrative value, not an official one (shown as such in the admin and the API).
    sample = models.BooleanField(_("sample (not official)"), default=False)
    note = models.TextField(_("note / source"), blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("threshold")
        verbose_name_plural = _("thresholds")
        ordering = ["property_id", "datastream_id", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["property", "level"],
                condition=Q(datastream__isnull=True),
                name="sensors_threshold_property_level",
            ),
            models.UniqueConstraint(
                fields=["datastream", "level"],
                condition=Q(datastream__isnull=False),
                name="sensors_threshold_datastream_level",
            ),
            models.CheckConstraint(
                condition=Q(hysteresis__gte=0), name="sensors_threshold_hysteresis_positive"
            ),
        ]

    def __str__(self) -> str:
        where = f"{self.datastream}" if self.datastream_id else f"{self.property.code}"
        sign = "≥" if self.direction == self.Direction.ABOVE else "≤"
        return f"{where} {self.level} {sign} {self.value:g}"

    def clean(self) -> None:
        if self.datastream_id and self.datastream.property_id != self.property_id:
            raise ValidationError(
                {"datastream": _("This datastream measures another property than the threshold.")}
            )
        if self.hysteresis is not None and self.hysteresis < 0:
            raise ValidationError({"hysteresis": _("The hysteresis cannot be negative.")})

    def crossed_by(self, value: float) -> bool:
        """Return whether a reading reaches this level."""
        if self.direction == self.Direction.ABOVE:
            return value >= self.value
        return value <= self.value

    def cleared_by(self, value: float) -> bool:
        """Return whether a reading is back past this level by the hysteresis."""
        if self.direction == self.Direction.ABOVE:
            return value < self.value - self.hysteresis
        return value > self.value + self.hysteresis


class Alert(models.Model):
    """A threshold crossed (per datastream and level) or a station that stopped reporting."""

    class Kind(models.TextChoices):
        THRESHOLD = "threshold", _("threshold crossed")
        STALE = "stale", _("station stopped reporting")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    station = models.ForeignKey(
        "sensors.Station",
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=_("station"),
    )
    # Empty for a stale alert (about the whole station).
    datastream = models.ForeignKey(
        "sensors.Datastream",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("datastream"),
    )
    threshold = models.ForeignKey(
        Threshold,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("threshold"),
    )
    # Copied from the threshold when opened (a threshold edited later does not rewrite history).
    level = models.CharField(_("level"), max_length=32, blank=True)
    severity = models.CharField(_("severity"), max_length=16, blank=True)
    threshold_value = models.FloatField(_("threshold value"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"))
    opened_value = models.FloatField(_("value when opened"), null=True, blank=True)
    peak_value = models.FloatField(_("peak value"), null=True, blank=True)
    peak_at = models.DateTimeField(_("peak at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_value = models.FloatField(_("value when closed"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["station", "-opened_at"], name="sensors_alert_station")]
        constraints = [
            # At most one open alert per datastream and threshold, and one open stale alert per
            # station: concurrent evaluations cannot open the same alert twice.
            models.UniqueConstraint(
                fields=["datastream", "threshold"],
                condition=Q(closed_at__isnull=True, kind="threshold"),
                name="sensors_alert_one_open_per_threshold",
            ),
            models.UniqueConstraint(
                fields=["station"],
                condition=Q(closed_at__isnull=True, kind="stale"),
                name="sensors_alert_one_open_stale",
            ),
        ]

    def __str__(self) -> str:
        what = self.level if self.kind == self.Kind.THRESHOLD else self.kind
        return f"{self.station} {what} @ {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AlertNotification(models.Model):
    """One message about an alert's opening or closing on one channel, retried until sent."""

    class Event(models.TextChoices):
        OPENED = "opened", _("opened")
        CLOSED = "closed", _("closed")

    class Channel(models.TextChoices):
        EMAIL = "email", _("e-mail")
        WEBHOOK = "webhook", _("webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed (will retry)")
        GAVE_UP = "gave_up", _("gave up")

    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("alert")
    )
    event = models.CharField(_("event"), max_length=8, choices=Event.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("alert notification")
        verbose_name_plural = _("alert notifications")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "event", "channel"], name="sensors_alertnotification_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.event} by {self.channel}: {self.status}"


class Anomaly(models.Model):
    """A stretch of a datastream's series that looks wrong, with why; reviewed by staff."""

    class Kind(models.TextChoices):
        SPIKE = "spike", _("spike")
        DROP = "drop", _("drop")
        FLATLINE = "flatline", _("flat line")
        GAP = "gap", _("gap")
        OUT_OF_RANGE = "out_of_range", _("outside the physical range")
        SEASONAL = "seasonal", _("unusual for the hour of day")

    class Status(models.TextChoices):
        NEW = "new", _("new")
        CONFIRMED = "confirmed", _("confirmed")
        DISMISSED = "dismissed", _("dismissed")

    datastream = models.ForeignKey(
        "sensors.Datastream",
        on_delete=models.CASCADE,
        related_name="anomalies",
        verbose_name=_("datastream"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # The first and last observation it covers (for a gap: the readings on either side).
    time_start = models.DateTimeField(_("from"))
    time_end = models.DateTimeField(_("until"))
    score = models.FloatField(_("score"))
    explanation = models.TextField(_("explanation"))
    details = models.JSONField(_("details"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default="new")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("found at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("anomaly")
        verbose_name_plural = _("anomalies")
        ordering = ["-time_start"]
        indexes = [
            models.Index(fields=["datastream", "kind", "time_start"], name="sensors_anomaly_ds"),
            models.Index(fields=["status", "-time_start"], name="sensors_anomaly_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["datastream", "kind", "time_start"], name="sensors_anomaly_once"
            ),
            models.CheckConstraint(
                condition=Q(time_end__gte=models.F("time_start")), name="sensors_anomaly_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.datastream} {self.kind} @ {self.time_start:%Y-%m-%d %H:%M}"


class EvaluationCursor(models.Model):
    """How far a datastream's thresholds have been checked (the newest observation seen)."""

    datastream = models.OneToOneField(
        "sensors.Datastream",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="evaluation_cursor",
    )
    thresholds_until = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("evaluation cursor")
        verbose_name_plural = _("evaluation cursors")

    def __str__(self) -> str:
        return f"{self.datastream_id} until {self.thresholds_until}"
