"""Output only: read-model rows as the dashboard shows them."""

from rest_framework import serializers

from orders_read.models import DASHBOARD_FIELDS, OrderSummary


class OrderSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderSummary
        fields = DASHBOARD_FIELDS
        read_only_fields = fields
