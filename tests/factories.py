"""factory_boy factories for the write models and users."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from orders_write.models import Customer, OrderItem, PaymentMethod, Product


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def permissions(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        """``UserFactory(permissions=["orders_write.add_order", ...])``."""
        if not create or not extracted:
            return
        for perm in extracted:
            app_label, codename = perm.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    status = Customer.Status.ACTIVE


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    customer = factory.SubFactory(CustomerFactory)
    label = "Visa ending 4242"
    is_enabled = True


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Faker("word")
    price_cents = 2_500
    is_available = True


class OrderItemFactory(factory.django.DjangoModelFactory):
    """A line at its product's catalog price; ``.build()`` it (commands place orders)."""

    class Meta:
        model = OrderItem

    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price_cents = factory.SelfAttribute("product.price_cents")
