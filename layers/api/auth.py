"""Signing in to the REST API: hashed, expiring, revocable tokens (django-rest-knox) and lockouts.

`POST /api/v1/auth/login/` trades a username and password for a token, which is shown once and
kept only as a SHA-512 digest; it expires after `REST_KNOX["TOKEN_TTL"]`. `logout/` revokes the
token used, `logoutall/` every token of its user, and so does a change of the user's password.
Failed sign-ins count toward django-axes' lockout, here and in the admin alike; a locked-out
requester gets one clear answer (`lockout_response`).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, user_logged_in, user_logged_out
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from knox.settings import knox_settings
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .authentication import TokenAuthentication
from .base import ApiView
from .errors import ErrorSerializer, error_body
from .throttles import ScopedThrottle

LOCKED_OUT_CODE = "locked-out"


def client_ip(request: HttpRequest) -> str | None:
    """Return the requester's address as DRF's throttles see it (NUM_PROXIES from the end of
    X-Forwarded-For behind proxies, else REMOTE_ADDR), for django-axes."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
        if addresses:
            return addresses[-min(settings.NUM_PROXIES, len(addresses))]
    return request.META.get("REMOTE_ADDR")


def cool_off_seconds() -> int:
    """Return how long a locked-out requester waits, in whole seconds."""
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """Return the answer to a requester locked out after too many failed sign-ins."""
    minutes = math.ceil(cool_off_seconds() / 60)
    message = (
        f"Too many failed sign-ins for this account from your address: try again in {minutes} "
        "minutes, or ask an administrator to unlock it."
    )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            error_body(code=LOCKED_OUT_CODE, detail=message),
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    else:
        response = HttpResponse(
            message,
            content_type="text/plain; charset=utf-8",
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    response["Retry-After"] = str(cool_off_seconds())
    return response


class LoginApi(ApiView):
    """Trade a username and password for an API token."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedThrottle,)
    throttle_scope = "login"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    class TokenOutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
        expiry = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="auth_login",
        request=InputSerializer,
        responses={
            200: TokenOutputSerializer,
            400: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Locked out or throttled."),
        },
        description="Sign in: the token is shown once, stored as a digest, and expires "
        "(`API_TOKEN_TTL_HOURS`). Too many failures lock the username out from that address.",
        tags=["auth"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # django-axes reads and marks the Django request, not DRF's wrapper.
        django_request = request._request
        user = authenticate(
            request=django_request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None or not user.is_active:
            return Response(
                error_body(code="invalid-credentials", detail="Wrong username or password."),
                status=status.HTTP_400_BAD_REQUEST,
            )
        limit = knox_settings.TOKEN_LIMIT_PER_USER
        if limit is not None:
            live = user.auth_token_set.filter(expiry__gt=timezone.now()).count()
            if live >= limit:
                return Response(
                    error_body(
                        code="too-many-tokens",
                        detail=f"This account already has {limit} live tokens: "
                        "sign out of one (logout/ or logoutall/) first.",
                    ),
                    status=status.HTTP_403_FORBIDDEN,
                )
        instance, token = AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
        user_logged_in.send(sender=user.__class__, request=django_request, user=user)
        return Response(
            self.TokenOutputSerializer({"token": token, "expiry": instance.expiry}).data
        )


class LogoutApi(ApiView):
    """Revoke the token this request is signed with."""

    authentication_classes = (TokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="auth_logout",
        request=None,
        responses={204: None, 401: ErrorSerializer},
        tags=["auth"],
    )
    def post(self, request):
        request.auth.delete()
        user_logged_out.send(
            sender=request.user.__class__, request=request._request, user=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(ApiView):
    """Revoke every token of the signed-in user."""

    authentication_classes = (TokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="auth_logoutall",
        request=None,
        responses={204: None, 401: ErrorSerializer},
        tags=["auth"],
    )
    def post(self, request):
        request.user.auth_token_set.all().delete()
        user_logged_out.send(
            sender=request.user.__class__, request=request._request, user=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


User = get_user_model()


@receiver(pre_save, sender=User, dispatch_uid="api-tokens-password-changed")
def _note_password_change(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    """Note whether this save changes the user's password hash."""
    instance._password_changed = False
    if (
        raw
        or instance.pk is None
        or (update_fields is not None and "password" not in update_fields)
    ):
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = stored is not None and stored != instance.password


@receiver(post_save, sender=User, dispatch_uid="api-tokens-revoke-on-password-change")
def _revoke_tokens_on_password_change(sender, instance, created=False, **kwargs) -> None:
    """Revoke every API token of a user whose password just changed."""
    if not created and getattr(instance, "_password_changed", False):
        AuthToken.objects.filter(user=instance).delete()
        instance._password_changed = False
