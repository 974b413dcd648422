"""Customers, payment methods and products are edited directly; the demo login reaches it all."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from orders_write.models import Order, OrderStatus
from tests.admin.conftest import CHANGELIST_URL, action_names
from tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("model_name", "make", "term"),
    [
        ("customer", lambda: CustomerFactory(email="findme@example.com"), "findme@example.com"),
        ("paymentmethod", lambda: PaymentMethodFactory(customer__email="pm@example.com"), "pm@"),
        ("product", lambda: ProductFactory(sku="FIND-ME"), "find-me"),
    ],
)
def test_catalog_and_customers_are_searchable(login, superuser, model_name, make, term):
    wanted = make()
    # Noise that must not match.
    ProductFactory()
    PaymentMethodFactory()

    response = login(superuser).get(
        reverse(f"admin:orders_write_{model_name}_changelist"), {"q": term}
    )

    assert [obj.pk for obj in response.context["cl"].result_list] == [wanted.pk]


def test_a_product_is_edited_in_the_admin(login, superuser):
    product = ProductFactory(price_cents=2_500)

    response = login(superuser).post(
        reverse("admin:orders_write_product_change", args=[product.pk]),
        {"sku": product.sku, "name": "Renamed", "price_cents": "3100", "is_available": "on"},
    )

    assert response.status_code == 302, response.content
    product.refresh_from_db()
    assert (product.name, product.price_cents) == ("Renamed", 3_100)
    listing = login(superuser).get(reverse("admin:orders_write_product_changelist"))
    assert "$31.00" in listing.content.decode()


def test_a_customer_is_suspended_in_the_admin(login, superuser, payment_method):
    customer = payment_method.customer

    response = login(superuser).post(
        reverse("admin:orders_write_customer_change", args=[customer.pk]),
        {
            "name": customer.name,
            "email": customer.email,
            "status": "suspended",
            "payment_methods-TOTAL_FORMS": "1",
            "payment_methods-INITIAL_FORMS": "1",
            "payment_methods-0-id": str(payment_method.pk),
            "payment_methods-0-customer": str(customer.pk),
            "payment_methods-0-label": payment_method.label,
            "payment_methods-0-is_enabled": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].errors
    customer.refresh_from_db()
    payment_method.refresh_from_db()
    assert customer.status == "suspended"
    assert payment_method.is_enabled is False


def test_the_demo_login_reaches_the_whole_back_office(client):
    call_command("seed_demo", orders=3, stdout=io.StringIO())
    assert client.login(username="admin", password="admin")

    index = client.get(reverse("admin:index")).content.decode()
    for name in ["customer", "paymentmethod", "product", "order", "event"]:
        assert reverse(f"admin:orders_write_{name}_changelist") in index
    assert reverse("admin:orders_read_ordersummary_changelist") in index

    listing = client.get(CHANGELIST_URL)
    assert action_names(listing) == {"approve_orders", "cancel_orders"}
    cancellable = Order.objects.exclude(status=OrderStatus.CANCELLED).first()
    page = client.get(reverse("admin:orders_write_order_change", args=[cancellable.pk]))
    assert page.status_code == 200
    assert 'id="cancel-order"' in page.content.decode()
