"""`{{ layer.attribution|attribution_html }}`: a layer's credit as the HTML it is (links kept),
through the one sanitiser (layers/rich_text.py), for pages rendered by Django."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from layers.rich_text import clean_attribution

register = template.Library()


@register.filter
def attribution_html(text: str | None) -> SafeString:
    """Return the attribution cleaned (only links and inline tags), safe to put in a page."""
    return mark_safe(clean_attribution(text))  # nh3 has just cleaned it
