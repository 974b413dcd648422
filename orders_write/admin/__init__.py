"""The back office: catalog and customers are edited here; orders change only through commands.

One module per thing administered; importing them registers their admins.
"""

from orders_write.admin import catalog, events, orders

__all__ = ["catalog", "events", "orders"]
