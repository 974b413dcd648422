"""Approve and Cancel from the dashboard page: form posts that dispatch a command.

The page (``orders_read``) only reads; its buttons post here. Each form carries an
idempotency key made when the page was rendered, so a double click, or a retry
after a lost answer, runs the command once and answers the same twice
(``orders_write.idempotency``, as for the API's ``Idempotency-Key``). With htmx the
answer is the row's new status cell, swapped in place; without JavaScript, a
redirect back to the page with a message.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from orders_write import idempotency
from orders_write.bus import dispatch
from orders_write.commands import Actor, ApproveOrder, CancelOrder, CommandResult
from orders_write.errors import ErrorCode
from orders_write.models import Order

# A refusal as people say it; other codes show the command's own message.
PLAIN_WORDS = {
    ErrorCode.INVALID_TRANSITION: "This order is no longer pending: someone else has "
    "already approved or cancelled it.",
    ErrorCode.ORDER_NOT_FOUND: "This order does not exist.",
    ErrorCode.REASON_REQUIRED: "Say why the order is cancelled.",
    ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS: "This action is still running; try again in a moment.",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: "This form was already used; reload the page.",
    ErrorCode.IDEMPOTENCY_KEY_INVALID: "This form is out of date; reload the page.",
}
FALLBACK_PAGE = "/dashboard/"


def plain_words(result: CommandResult) -> str:
    return PLAIN_WORDS.get(result.code, result.error or "The order could not be changed.")


def dispatch_once(command: object, actor: Actor, *, key: str, fingerprint: str) -> CommandResult:
    """Dispatch ``command`` unless this key already did: then its stored result.

    The key and the command's outcome commit together (see ``idempotency``).
    """
    with transaction.atomic():
        try:
            claimed = idempotency.claim(user_id=actor.user_id, key=key, fingerprint=fingerprint)
        except idempotency.KeyReused as exc:
            return CommandResult.fail(ErrorCode.IDEMPOTENCY_KEY_REUSED, str(exc))
        except idempotency.KeyInProgress as exc:
            return CommandResult.fail(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS, str(exc))
        if isinstance(claimed, idempotency.StoredResponse):
            return _result_of(claimed.body)
        result = dispatch(command, actor=actor)
        idempotency.record_response(
            claimed,
            status=200 if result.success else 422,
            body={
                "success": result.success,
                "data": result.data,
                "error": result.error,
                "code": result.code,
            },
        )
        return result


def _result_of(body: dict[str, Any]) -> CommandResult:
    if body["success"]:
        return CommandResult.ok(body["data"])
    return CommandResult.fail(ErrorCode(body["code"]), body["error"])


def _act(request: HttpRequest, order_id: uuid.UUID, command: object) -> HttpResponse:
    try:
        key = idempotency.parse_key(request.POST.get("idempotency_key"))
    except idempotency.InvalidKey as exc:
        result = CommandResult.fail(ErrorCode.IDEMPOTENCY_KEY_INVALID, str(exc))
    else:
        key = key or str(uuid.uuid4())  # a form without a key still runs, once
        actor = Actor.from_user(
            request.user, request_id=getattr(request, "request_id", ""), idempotency_key=key
        )
        fingerprint = idempotency.request_fingerprint(
            method="POST",
            path=request.path,
            body={"reason": request.POST.get("reason", "")},
            actor_id=actor.user_id,
        )
        result = dispatch_once(command, actor, key=key, fingerprint=fingerprint)
    return _answer(request, order_id, result)


def _answer(request: HttpRequest, order_id: uuid.UUID, result: CommandResult) -> HttpResponse:
    """htmx: the row's status cell. Otherwise: back to the page, with a message."""
    message = None if result.success else plain_words(result)
    if request.headers.get("HX-Request") == "true":
        status = (
            result.data["status"]
            if result.success
            else Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
        )
        context = {"order_id": order_id, "status": status, "message": message}
        return render(request, "orders_write/dashboard_outcome.html", context)
    if result.success:
        messages.success(request, f"Order {order_id} is now {result.data['status']}.")
    else:
        messages.error(request, f"Order {order_id}: {message}")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = FALLBACK_PAGE
    return HttpResponseRedirect(back)


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


@require_POST
@login_required
def approve(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    """Approve an order from the dashboard (``orders_write.approve_order``)."""
    _require(request, "orders_write.approve_order")
    return _act(request, order_id, ApproveOrder(order_id=order_id))


@require_POST
@login_required
def cancel(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    """Cancel an order with a reason from the dashboard (``orders_write.cancel_order``)."""
    _require(request, "orders_write.cancel_order")
    reason = request.POST.get("reason", "")
    return _act(request, order_id, CancelOrder(order_id=order_id, reason=reason))
