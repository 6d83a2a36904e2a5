"""An anomaly's explanation in words, in the reader's language, from the numbers a detector kept.

The detectors (sensors/detectors.py) stay free of Django and of words: each finding carries its
numbers in `details`. The sentence is made here, with gettext, when it is shown (the API, the
admin), so a Vietnamese operator reads Vietnamese and an English client English. The text stored
with the anomaly (`Anomaly.explanation`, searched in the admin) is the English one, made once
when it is found.
"""

from __future__ import annotations

import math

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def number(value: float | None) -> str:
    """Four significant digits, as a reading is usually precise to (0.0012, 12.35, 1235)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    return f"{value:.4g}"


def duration(seconds: float) -> str:
    """Hours and minutes, e.g. "2 h 30 min" ("2 giờ 30 phút")."""
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    if hours:
        return _("%(hours)d h") % {"hours": hours}
    return _("%(minutes)d min") % {"minutes": minutes}


def _out_of_range(d: dict) -> str:
    low = number(d["min"]) if d.get("min") is not None else "-∞"
    high = number(d["max"]) if d.get("max") is not None else "+∞"
    return ngettext(
        "%(count)d reading outside the physical range [%(low)s, %(high)s]; the furthest is "
        "%(value)s",
        "%(count)d readings outside the physical range [%(low)s, %(high)s]; the furthest is "
        "%(value)s",
        d["count"],
    ) % {"count": d["count"], "low": low, "high": high, "value": number(d["value"])}


def _spike_or_drop(d: dict, *, above: bool) -> str:
    if above:
        sentence = _(
            "%(value)s is %(deviations).1f robust standard deviations above its neighbours "
            "(median before %(baseline)s); the readings after it came back"
        )
    else:
        sentence = _(
            "%(value)s is %(deviations).1f robust standard deviations below its neighbours "
            "(median before %(baseline)s); the readings after it came back"
        )
    baseline = number(d["baseline"])
    return sentence % {
        "value": number(d["value"]),
        "deviations": d["deviations"],
        "baseline": baseline,
    }


def _flatline(d: dict) -> str:
    return _(
        "%(count)d readings stayed at %(value)s for %(duration)s: a stuck or disconnected sensor?"
    ) % {"count": d["count"], "value": number(d["value"]), "duration": duration(d["duration_s"])}


def _gap(d: dict) -> str:
    return _(
        "no reading for %(duration)s (about %(missing)d missing at one every %(interval)s)"
    ) % {
        "duration": duration(d["duration_s"]),
        "missing": d["missing"],
        "interval": duration(d["expected_interval_s"]),
    }


def _seasonal(d: dict) -> str:
    words = {
        "count": d["count"],
        "value": number(d["value"]),
        "baseline": number(d["baseline"]),
        "days": d["days"],
        "deviations": abs(d["deviations"]),
    }
    if d["deviations"] > 0:
        sentence = _(
            "%(count)d readings above the usual level for this hour of day: %(value)s against "
            "a median of %(baseline)s over the previous %(days)d days (%(deviations).1f robust "
            "standard deviations)"
        )
    else:
        sentence = _(
            "%(count)d readings below the usual level for this hour of day: %(value)s against "
            "a median of %(baseline)s over the previous %(days)d days (%(deviations).1f robust "
            "standard deviations)"
        )
    return sentence % words


SENTENCES = {
    "out_of_range": _out_of_range,
    "spike": lambda d: _spike_or_drop(d, above=True),
    "drop": lambda d: _spike_or_drop(d, above=False),
    "flatline": _flatline,
    "gap": _gap,
    "seasonal": _seasonal,
}


def explain(kind: str, details: dict, *, fallback: str = "") -> str:
    """Return the explanation of an anomaly in the active language.

    `fallback` (the stored English text) is returned when the details lack a number the sentence
    needs: an anomaly found before the details held them all.
    """
    sentence = SENTENCES.get(kind)
    try:
        return sentence(details) if sentence else fallback
    except (KeyError, TypeError, ValueError):
        return fallback


def explain_in_english(kind: str, details: dict) -> str:
    """Return the explanation stored with the anomaly (English, whatever the worker's language)."""
    with translation.override("en"):
        return explain(kind, details)
