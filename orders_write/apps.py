from django.apps import AppConfig


class OrdersWriteConfig(AppConfig):
    name = "orders_write"
    verbose_name = "Orders (write side)"

    def ready(self) -> None:
        from orders_write import handlers  # noqa: F401  (registers the command handlers)
