"""The OrderSummary projection: one dashboard row per order (``fold``, ``projection``)."""
