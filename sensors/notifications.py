"""Telling people about alerts: e-mail to staff (or SENSORS_ALERT_EMAILS) and an optional webhook.

An alert's opening or closing makes one `AlertNotification` row per channel, inside the
evaluation's transaction, and queues `sensors.tasks.alert_notify` for it (layers.queueing: sent
once that transaction commits). Sending never happens inside an evaluation, so a slow mail server
or webhook never holds one up. A failed send is logged and kept with the next attempt's time
(doubling from SENSORS_ALERT_RETRY_S); `notifications_retry` (celery beat) queues the due ones
again, until SENSORS_ALERT_MAX_ATTEMPTS.

The webhook receives a JSON POST: `who` (layer, station), `what` (property, level), `when`, `value`
(see docs/sensor-alerts.md), signed with HMAC-SHA256 in `X-Signature-SHA256` when
SENSORS_ALERT_WEBHOOK_SECRET is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import timedelta

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from layers.queueing import enqueue

from .models_alerts import Alert, AlertNotification

logger = logging.getLogger(__name__)

EVENT_OPENED = AlertNotification.Event.OPENED
EVENT_CLOSED = AlertNotification.Event.CLOSED
NOTIFY_TASK = "sensors.tasks.alert_notify"


def email_recipients() -> list[str]:
    """Return who gets alert e-mails: SENSORS_ALERT_EMAILS, else the active staff's addresses."""
    if settings.SENSORS_ALERT_EMAILS:
        return list(settings.SENSORS_ALERT_EMAILS)
    users = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def channels() -> list[str]:
    """Return the channels alerts go out on now."""
    out = []
    if email_recipients():
        out.append(AlertNotification.Channel.EMAIL)
    if settings.SENSORS_ALERT_WEBHOOK_URL:
        out.append(AlertNotification.Channel.WEBHOOK)
    return out


def alert_event(*, alert: Alert, event: str) -> list[AlertNotification]:
    """Record that an alert opened or closed and queue its messages (once per channel)."""
    made = []
    for channel in channels():
        row, created = AlertNotification.objects.get_or_create(
            alert=alert, event=event, channel=channel
        )
        if created:
            enqueue(NOTIFY_TASK, notification_id=row.pk)
            made.append(row)
    return made


def payload(alert: Alert, event: str) -> dict:
    """Return the webhook's JSON body for an alert event."""
    station = alert.station
    prop = alert.datastream.property if alert.datastream_id else None
    closed = event == EVENT_CLOSED
    return {
        "event": event,
        "alert": alert.pk,
        "kind": alert.kind,
        "who": {
            "layer": station.layer.slug,
            "station": station.code,
            "name": station.name,
            "feature_id": station.feature_id,
        },
        "what": {
            "property": prop.code if prop else None,
            "unit": prop.unit if prop else None,
            "level": alert.level,
            "severity": alert.severity,
            "threshold": alert.threshold_value,
        },
        "when": (alert.closed_at if closed else alert.opened_at).isoformat(),
        "value": alert.closed_value if closed else alert.opened_value,
        "peak": alert.peak_value,
        "opened_at": alert.opened_at.isoformat(),
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
    }


def _subject_and_body(alert: Alert, event: str) -> tuple[str, str]:
    data = payload(alert, event)
    who = f"{data['who']['name'] or data['who']['station']} ({data['who']['station']})"
    if alert.kind == Alert.Kind.STALE:
        what = _("stopped reporting") if event == EVENT_OPENED else _("reports again")
        subject = _("[Sensors] %(who)s %(what)s") % {"who": who, "what": what}
    else:
        what = data["what"]
        verb = _("reached level") if event == EVENT_OPENED else _("fell back below level")
        subject = _("[Sensors] %(who)s: %(property)s %(verb)s %(level)s (%(value)s %(unit)s)") % {
            "who": who,
            "property": what["property"],
            "verb": verb,
            "level": what["level"],
            "value": data["value"],
            "unit": what["unit"],
        }
    lines = [subject, ""] + [
        f"{key}: {value}" for key, value in data.items() if not isinstance(value, dict)
    ]
    lines += [f"{key}: {value}" for key, value in data["who"].items()]
    lines += [f"{key}: {value}" for key, value in data["what"].items()]
    return subject, "\n".join(lines)


def send_email(alert: Alert, event: str) -> None:
    """Send the alert e-mail (in the site's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _subject_and_body(alert, event)
    send_mail(subject, body, None, email_recipients(), fail_silently=False)


def send_webhook(alert: Alert, event: str) -> None:
    """POST the alert to the webhook; raise on a network error or an answer other than 2xx."""
    body = json.dumps(payload(alert, event)).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "mapserver-sensors"}
    secret = settings.SENSORS_ALERT_WEBHOOK_SECRET
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Signature-SHA256"] = digest
    answer = requests.post(
        settings.SENSORS_ALERT_WEBHOOK_URL,
        data=body,
        headers=headers,
        timeout=settings.SENSORS_ALERT_WEBHOOK_TIMEOUT_S,
        allow_redirects=False,
    )
    answer.raise_for_status()


SENDERS = {
    AlertNotification.Channel.EMAIL: send_email,
    AlertNotification.Channel.WEBHOOK: send_webhook,
}


def notification_send(*, notification_id: int) -> str:
    """Send one notification unless already sent; record the outcome; return its status."""
    with transaction.atomic():
        row = (
            AlertNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("alert__station__layer", "alert__datastream__property")
            .filter(pk=notification_id)
            .first()
        )
        if row is None:  # gone, or another worker is sending it now
            return "missing"
        if row.status in (AlertNotification.Status.SENT, AlertNotification.Status.GAVE_UP):
            return row.status
        row.attempts += 1
        try:
            SENDERS[row.channel](row.alert, row.event)
        except Exception as error:  # any failure: log it, keep the row for a later attempt
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            if row.attempts >= settings.SENSORS_ALERT_MAX_ATTEMPTS:
                row.status = AlertNotification.Status.GAVE_UP
                row.next_attempt_at = None
            else:
                row.status = AlertNotification.Status.FAILED
                delay = settings.SENSORS_ALERT_RETRY_S * 2 ** (row.attempts - 1)
                row.next_attempt_at = timezone.now() + timedelta(seconds=delay)
            logger.warning(
                "Alert %s: the %s %s notification failed (attempt %s, %s): %s",
                row.alert_id,
                row.event,
                row.channel,
                row.attempts,
                row.status,
                row.last_error,
            )
        else:
            row.status = AlertNotification.Status.SENT
            row.sent_at = timezone.now()
            row.next_attempt_at = None
            row.last_error = ""
        row.save()
        return row.status


def notifications_retry(*, now=None) -> int:
    """Queue again the failed notifications whose next attempt is due; return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            AlertNotification.objects.select_for_update(skip_locked=True)
            .filter(status=AlertNotification.Status.FAILED, next_attempt_at__lte=now)
            .values_list("pk", flat=True)[:200]
        )
        # Claimed by clearing the time: the next beat does not queue them a second time.
        AlertNotification.objects.filter(pk__in=due).update(next_attempt_at=None)
        for pk in due:
            enqueue(NOTIFY_TASK, notification_id=pk)
    return len(due)
