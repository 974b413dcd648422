"""Output only: read-model rows as the dashboard shows them."""

from rest_framework import serializers

from orders_read.models import OrderSummary


class OrderSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderSummary
        fields = [
            "order_id",
            "customer_id",
            "customer_name",
            "customer_email",
            "status",
            "item_count",
            "total_cents",
            "formatted_total",
            "placed_at",
            "last_updated",
            "is_high_value",
            "day_placed",
            "version",
        ]
        read_only_fields = fields
