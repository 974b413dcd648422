from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data and bulk loading (``seed_demo``): tooling, not part of the running system.

    It writes through the write side's public modules; neither side imports it.
    """

    name = "demo"
    verbose_name = "Demo data"
