"""The questionnaire's pages. The link's token is checked once (`open_link`), then moved
into the session and out of the address bar: the pages after it know only the session's
invitation, so there is no identifier in any URL to change, and nothing of another
patient to reach. The pages name no patient and show no clinical data.

Whatever is wrong with a link (made up, tampered, expired, already used, cancelled), the
answer is the same page, word for word: it says plainly that the link cannot be used,
and does not tell whether it ever existed.
"""

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone, translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from followup.delivery.invitations import secret_of
from followup.models import PromInvitation, PromLink
from followup.models.proms import token_hash
from patients.base import ratelimit

from . import answers

SESSION_KEY = "prom_invitation"
LANGUAGE_KEY = "prom_language"
RATE_WINDOW = 600  # seconds


def _language(request) -> str:
    return request.session.get(LANGUAGE_KEY) or translation.get_language_from_request(request)


def _page(request, template: str, context: dict | None = None, status: int = 200,
          language: str | None = None) -> HttpResponse:  # fmt: skip
    language = language or _language(request)
    with translation.override(language):
        response = TemplateResponse(
            request, f"proms/{template}", {"language": language, **(context or {})},
            status=status,
        )  # fmt: skip
        response.render()
    response["Content-Language"] = language
    return response


def _no_referrer(response: HttpResponse) -> HttpResponse:
    """The answers to a link's URL carry its token: none of it goes on in a Referer. (Only
    there: with no referrer at all, the browser posts the forms after it with `Origin:
    null`, which the CSRF check rightly refuses.)"""
    response["Referrer-Policy"] = "no-referrer"
    return response


def unavailable(request, status: int = 404) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return _page(request, "unavailable.html", status=status)


def _rate_limited(request, what: str, limit: int) -> bool:
    return ratelimit.exceeded(request, f"proms:{what}", limit, RATE_WINDOW)


def _too_many(request) -> HttpResponse:
    return _no_referrer(_page(request, "too_many.html", status=429))


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_link(request, token: str):
    if _rate_limited(request, "open", settings.PROM_LINK_RATE):
        return _too_many(request)
    now = timezone.now()
    secret = secret_of(token)
    link = (
        PromLink.objects.select_related("invitation__checkpoint")
        .filter(token_hash=token_hash(secret))
        .first()
        if secret
        else None
    )
    if link is None or not link.invitation.usable_at(now):
        return _no_referrer(unavailable(request))
    invitation = link.invitation
    answers.pin_instruments(invitation, now)
    request.session.cycle_key()  # a new session for this questionnaire alone
    request.session[SESSION_KEY] = invitation.pk
    request.session[LANGUAGE_KEY] = invitation.language
    return _no_referrer(redirect("proms:page"))


def _invitation(request, now) -> PromInvitation | None:
    pk = request.session.get(SESSION_KEY)
    invitation = (
        PromInvitation.objects.select_related("checkpoint").filter(pk=pk).first() if pk else None
    )
    return invitation if invitation is not None and invitation.usable_at(now) else None


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def page(request):
    now = timezone.now()
    invitation = _invitation(request, now)
    if invitation is None:
        return unavailable(request)
    error = False
    if request.method == "POST" and _rate_limited(request, "answer", settings.PROM_ANSWER_RATE):
        return _too_many(request)
    if request.method == "POST":
        position = _int(request.POST.get("position"))
        value = None if "back" in request.POST else _int(request.POST.get("answer"))
        if position is None or (value is None and "back" not in request.POST):
            error = True
        else:
            try:
                invitation = answers.answer(invitation.pk, position, value, now)
            except answers.Refused:
                error = invitation.usable_at(now)
                if not error:
                    return unavailable(request)
            if not error:
                if invitation.completed_at:
                    request.session.pop(SESSION_KEY, None)
                    return redirect("proms:thanks")
                return redirect("proms:page")  # POST, redirect, GET: a reload posts nothing
    flat = answers.screens(invitation)
    if invitation.position >= len(flat):
        return unavailable(request)
    screen = flat[invitation.position]
    language = invitation.language
    item = screen.item
    chosen = invitation.answers.get(screen.instrument.code, {}).get(item.code)
    context = {
        "position": invitation.position,
        "number": invitation.position + 1,
        "total": len(flat),
        "question": item.text.get(language, ""),
        "low": item.low.get(language, ""),
        "high": item.high.get(language, ""),
        "options": [
            (o.value, o.text.get(language, str(o.value)), o.value == chosen) for o in item.options
        ],
        "scale": len(item.options) > 6,  # a 0-10 scale: a row of numbers
        "error": error,
    }
    return _page(request, "screen.html", context, status=400 if error else 200, language=language)


@never_cache
@require_http_methods(["GET", "HEAD"])
def thanks(request):
    return _page(request, "thanks.html")


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None
