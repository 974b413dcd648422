from django.apps import AppConfig
from django.db.backends.signals import connection_created


class OrdersReadConfig(AppConfig):
    name = "orders_read"
    verbose_name = "Orders (read model)"

    def ready(self) -> None:
        from common import health
        from common.metrics import register_scrape_collector
        from common.postgresql import load_timestamps_natively
        from orders_read.daily_sales.projection import daily_sales
        from orders_read.engine import registry
        from orders_read.engine.inline import project_committed_events
        from orders_read.health import PROJECTIONS
        from orders_read.metrics import ProjectionCollector
        from orders_read.order_summary.projection import order_summary
        from orders_write.signals import events_committed

        registry.register(order_summary)
        registry.register(daily_sales)
        register_scrape_collector(ProjectionCollector())
        events_committed.connect(
            project_committed_events, dispatch_uid="orders_read.project_committed_events"
        )
        health.register(PROJECTIONS)
        # Every connection's, the write side's too; the read model's pages are where it pays.
        connection_created.connect(
            load_timestamps_natively, dispatch_uid="common.postgresql.load_timestamps_natively"
        )
