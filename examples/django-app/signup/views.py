"""Signup views: create the account, then one non-blocking Naano call."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.csrf import csrf_exempt

import naano.django

ACCOUNTS: list = []


def landing(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "<h1>Try Acme</h1><form method=post action=/signup>"
        "<input name=email> <input name=company> <button>Sign up</button></form>"
    )


@csrf_exempt
def signup(request: HttpRequest) -> HttpResponse:
    ACCOUNTS.append(request.POST["email"])  # the real work: create the account
    # The middleware knows this request's session; returns at once.
    naano.django.track_signup(email=request.POST["email"], company=request.POST["company"])
    return HttpResponseRedirect("/")


@csrf_exempt
async def signup_async(request: HttpRequest) -> HttpResponse:
    ACCOUNTS.append(request.POST["email"])
    naano.django.track_signup(request, email=request.POST["email"], company=request.POST["company"])
    return HttpResponse("welcome")
