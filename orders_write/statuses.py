"""The order statuses: published, so the read side can name them without the write models."""

from django.db import models


class OrderStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    APPROVED = "APPROVED", "Approved"
    CANCELLED = "CANCELLED", "Cancelled"
