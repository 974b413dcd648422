"""Load demo data: an admin login, customers, a catalog and orders placed through the bus."""

import io
import os
import random
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from demo.bulk_load import bulk_load_orders
from orders_write.bus import dispatch
from orders_write.commands import Actor, ApproveOrder, CancelOrder, OrderLine, PlaceOrder
from orders_write.models import Customer, Order, PaymentMethod, Product

# Up to this many new orders go through the command bus; more are bulk-loaded.
BULK_THRESHOLD = 1000

CUSTOMERS = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Katherine Johnson", "katherine@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
    ("Donald Knuth", "donald@example.com"),
    ("Margaret Hamilton", "margaret@example.com"),
    ("Frances Allen", "frances@example.com"),
    ("Suspended Sam", "sam@example.com"),  # suspended: his orders are refused
]
PRODUCTS = [
    ("KB-001", "Mechanical keyboard", 12_900),
    ("MS-002", "Wireless mouse", 4_900),
    ("MN-003", "27-inch monitor", 32_900),
    ("LT-004", "Laptop", 189_900),
    ("DK-005", "Standing desk", 64_900),
    ("CH-006", "Ergonomic chair", 89_900),
    ("HS-007", "Headset", 9_900),
    ("CB-008", "USB-C cable", 1_500),
    ("SV-009", "Rack server", 1_250_000),
    ("DS-010", "Discontinued dock", 19_900),  # unavailable
]


class Command(BaseCommand):
    help = (
        "Load demo data (idempotent): a local admin login, customers, products, and "
        "orders placed, approved and cancelled through the command bus. Above "
        f"{BULK_THRESHOLD:,} new orders it loads them in bulk (COPY on PostgreSQL), events "
        "included, then rebuilds the read model from the event log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--orders", type=int, default=60, help="Total orders to have (default 60)."
        )
        parser.add_argument("--seed", type=int, default=7, help="Random seed (default 7).")
        parser.add_argument(
            "--batch-size", type=int, default=10_000, help="Orders per bulk batch (default 10000)."
        )

    def handle(self, *args: object, orders: int, seed: int, **options: object) -> None:
        if orders < 0:
            raise CommandError("--orders must be zero or more")
        admin, password = self._admin()
        customers = self._customers()
        products = self._products()
        missing = orders - Order.objects.count()
        if missing > BULK_THRESHOLD:
            placed = self._bulk(missing, seed, options["batch_size"])
        else:
            placed = self._orders(orders, customers, products, Actor.from_user(admin), seed)
            # The inline path projected these orders; move the checkpoint past them too,
            # so projection_status and /health start at zero lag.
            call_command("catch_up_projections", stdout=io.StringIO())

        token, _ = Token.objects.get_or_create(user=admin)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {Customer.objects.count()} customers, "
                f"{len(products)} products, "
                f"{Order.objects.count()} orders ({placed} placed now)."
            )
        )
        self.stdout.write(f"Demo admin login (local use only): {admin.username} / {password}")
        self.stdout.write(f"Demo API token: {token.key}")

    def _bulk(self, count: int, seed: int, batch_size: int) -> int:
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            rate = done / (time.monotonic() - started)
            self.stdout.write(f"  {done:,}/{total:,} orders written ({rate:,.0f} orders/s)")

        written = bulk_load_orders(
            count, seed=seed + Order.objects.count(), batch_size=batch_size, progress=progress
        )
        # The read model comes from the events, like every other time.
        call_command("rebuild_projections", stdout=self.stdout)
        return written

    def _admin(self) -> tuple[AbstractUser, str]:
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        admin, created = get_user_model().objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        if created:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        return admin, password if created or admin.check_password(password) else "(unchanged)"

    def _customers(self) -> list[Customer]:
        customers = []
        for name, email in CUSTOMERS:
            customer, created = Customer.objects.get_or_create(
                email=email,
                defaults={
                    "name": name,
                    "status": Customer.Status.SUSPENDED
                    if email.startswith("sam@")
                    else Customer.Status.ACTIVE,
                },
            )
            if created:
                PaymentMethod.objects.create(customer=customer, label="Visa ending 4242")
            customers.append(customer)
        return customers

    def _products(self) -> list[Product]:
        return [
            Product.objects.get_or_create(
                sku=sku,
                defaults={"name": name, "price_cents": price, "is_available": sku != "DS-010"},
            )[0]
            for sku, name, price in PRODUCTS
        ]

    def _orders(
        self,
        total: int,
        customers: list[Customer],
        products: list[Product],
        actor: Actor,
        seed: int,
    ) -> int:
        rng = random.Random(seed + Order.objects.count())
        active = [c for c in customers if c.status == Customer.Status.ACTIVE]
        available = [p for p in products if p.is_available]
        placed = 0
        while Order.objects.count() < total:
            customer = rng.choice(active)
            lines = tuple(
                OrderLine(product_id=product.pk, quantity=rng.randint(1, 4))
                for product in rng.sample(available, rng.randint(1, 4))
            )
            result = dispatch(
                PlaceOrder(
                    customer_id=customer.pk,
                    payment_method_id=customer.payment_methods.first().pk,
                    items=lines,
                ),
                actor=actor,
            )
            if not result.success:
                raise CommandError(f"Demo order refused: {result.code} {result.error}")
            placed += 1
            roll = rng.random()
            if roll < 0.4:
                dispatch(ApproveOrder(order_id=result.data["order_id"]), actor=actor)
            elif roll < 0.55:
                dispatch(
                    CancelOrder(order_id=result.data["order_id"], reason="Customer request"),
                    actor=actor,
                )
        return placed
