"""Orders in the back office: viewed here, approved and cancelled through the command bus.

Approving and cancelling dispatch ``ApproveOrder`` / ``CancelOrder`` with the admin
user as the actor, so the handler checks the rules, appends the event and the read
model follows. Nothing here writes an order's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from common.admin import LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, short_uuid
from orders_write.admin.events import stream_history
from orders_write.bus import dispatch
from orders_write.commands import Actor, ApproveOrder, CancelOrder, CommandResult
from orders_write.models import Order, OrderItem, OrderStatus
from orders_write.money import format_cents

# How many refused orders one message lists by id before it only counts the rest.
MAX_LISTED_FAILURES = 20


class CancelReasonForm(forms.Form):
    # Input shaping only: a blank reason reaches the handler, which answers REASON_REQUIRED
    # (the browser still asks for one first, through the `required` attribute).
    reason = forms.CharField(
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "required": True}),
        help_text="Recorded on each cancelled order and in its event history.",
    )


class OrderItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderItem
    fields = ["product", "quantity", "unit_price", "line_total"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderItem]:
        return super().get_queryset(request).select_related("product").order_by("pk")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may see the order sees its lines.
        return OrderAdmin.can_view_orders(request)

    @admin.display(description="Unit price")
    def unit_price(self, item: OrderItem) -> str:
        return format_cents(item.unit_price_cents)

    @admin.display(description="Line total")
    def line_total(self, item: OrderItem) -> str:
        return format_cents(item.line_total_cents)


@admin.register(Order)
class OrderAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, UUIDSearchMixin, admin.ModelAdmin):
    """Orders are placed by commands and only viewed here; approve and cancel dispatch commands."""

    list_display = ["short_id", "status", "customer_display", "total", "placed_at"]
    list_display_links = ["short_id"]
    list_filter = ["status", ("placed_at", admin.DateFieldListFilter)]
    list_select_related = ["customer"]
    # Each list is an index read in this order (order_placed, order_status_placed,
    # order_email_placed), stopping at the page's last row.
    ordering = ["-placed_at", "-id"]
    # A pasted order id is a primary-key lookup (UUIDSearchMixin); anything else, an
    # exact email (the email the order was placed with).
    search_fields = ["customer_email__exact"]
    search_help_text = "Search by a customer's exact email, or paste a full order id."
    list_per_page = 50
    actions = ["approve_orders", "cancel_orders"]
    inlines = [OrderItemInline]
    fieldsets = [
        (None, {"fields": ["id", "status", "total", "version"]}),
        ("Placed", {"fields": ["customer", "payment_method", "placed_at", "placed_by"]}),
        ("Approval", {"fields": ["approved_by", "approved_at"]}),
        ("Cancellation", {"fields": ["cancelled_by", "cancelled_at", "cancel_reason"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    # -- permissions ----------------------------------------------------------------------

    @staticmethod
    def can_view_orders(request: HttpRequest) -> bool:
        """Seeing orders: the view or change permission, or the right to approve or cancel."""
        return any(
            request.user.has_perm(f"orders_write.{codename}")
            for codename in ("view_order", "change_order", "approve_order", "cancel_order")
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.can_view_orders(request)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders_write.approve_order")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders_write.cancel_order")

    # -- the list -------------------------------------------------------------------------

    @admin.display(description="Order", ordering="id")
    def short_id(self, order: Order) -> str:
        return short_uuid(order.pk)

    @admin.display(description="Customer", ordering="customer__email")
    def customer_display(self, order: Order) -> str:
        return f"{order.customer.name} <{order.customer.email}>"

    @admin.display(description="Total", ordering="total_cents")
    def total(self, order: Order) -> str:
        return format_cents(order.total_cents)

    # -- actions --------------------------------------------------------------------------

    @admin.action(description="Approve selected orders", permissions=["approve"])
    def approve_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._dispatch_each(
            request,
            queryset.values_list("pk", flat=True),
            lambda order_id: ApproveOrder(order_id=order_id),
            done="approved",
        )

    @admin.action(description="Cancel selected orders…", permissions=["cancel"])
    def cancel_orders(
        self, request: HttpRequest, queryset: QuerySet[Order]
    ) -> TemplateResponse | None:
        # Django's delete_selected pattern: the first POST shows a confirmation page
        # asking for the reason; its form posts the same action back with `post`.
        form = CancelReasonForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._dispatch_each(
                request,
                queryset.values_list("pk", flat=True),
                lambda order_id: CancelOrder(order_id=order_id, reason=reason),
                done="cancelled",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel orders",
            "opts": self.opts,
            "orders": queryset.select_related("customer"),
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/orders_write/order/cancel_selected_confirmation.html", context
        )

    def _dispatch_each(
        self,
        request: HttpRequest,
        order_ids: Iterable[uuid.UUID],
        make_command: Callable[[uuid.UUID], object],
        *,
        done: str,
    ) -> None:
        """Dispatch one command per order (each its own transaction) and report the outcome."""
        actor = Actor.from_user(request.user)
        outcomes: list[tuple[uuid.UUID, CommandResult]] = [
            (order_id, dispatch(make_command(order_id), actor=actor))
            for order_id in list(order_ids)
        ]
        succeeded = sum(result.success for _, result in outcomes)
        failures = [(order_id, result) for order_id, result in outcomes if not result.success]
        if succeeded:
            self.message_user(
                request,
                ngettext("%(count)d order %(done)s.", "%(count)d orders %(done)s.", succeeded)
                % {"count": succeeded, "done": done},
                messages.SUCCESS,
            )
        if failures:
            listed = "; ".join(
                f"{order_id}: {result.code}" for order_id, result in failures[:MAX_LISTED_FAILURES]
            )
            if len(failures) > MAX_LISTED_FAILURES:
                listed += f"; and {len(failures) - MAX_LISTED_FAILURES} more"
            self.message_user(
                request,
                ngettext(
                    "%(count)d order could not be %(done)s: %(listed)s",
                    "%(count)d orders could not be %(done)s: %(listed)s",
                    len(failures),
                )
                % {"count": len(failures), "done": done, "listed": listed},
                messages.ERROR,
            )

    # -- the change page: items, event history, Approve and Cancel buttons -----------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view  # staff login and CSRF protection
        return [
            path(
                "<path:object_id>/approve/",
                wrap(require_POST(self.approve_view)),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/cancel/",
                wrap(require_POST(self.cancel_view)),
                name="{}_{}_cancel".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        order = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if order is not None:
            context.update(
                event_history=stream_history(order.pk),
                can_approve=self.has_approve_permission(request)
                and order.can_move_to(OrderStatus.APPROVED),
                can_cancel=self.has_cancel_permission(request)
                and order.can_move_to(OrderStatus.CANCELLED),
                cancel_form=CancelReasonForm(auto_id="id_cancel_%s"),
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_approve_permission(request):
            raise PermissionDenied
        return self._order_command_view(request, object_id, ApproveOrder, done="approved")

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        form = CancelReasonForm(request.POST)
        if not form.is_valid():
            self.message_user(
                request, f"Order not cancelled: {form.errors.as_text()}", messages.ERROR
            )
            return HttpResponseRedirect(self._change_url(object_id))
        reason = form.cleaned_data["reason"]
        return self._order_command_view(
            request,
            object_id,
            lambda order_id: CancelOrder(order_id=order_id, reason=reason),
            done="cancelled",
        )

    def _order_command_view(
        self,
        request: HttpRequest,
        object_id: str,
        make_command: Callable[[uuid.UUID], object],
        *,
        done: str,
    ) -> HttpResponse:
        order = self.get_object(request, unquote(object_id))
        if order is None:
            self.message_user(request, f"No order with id {object_id!r}.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:orders_write_order_changelist"))
        self._dispatch_each(request, [order.pk], make_command, done=done)
        return HttpResponseRedirect(self._change_url(order.pk))

    def _change_url(self, object_id: object) -> str:
        return reverse(
            "admin:orders_write_order_change",
            args=[quote(object_id)],
            current_app=self.admin_site.name,
        )
