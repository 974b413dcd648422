"""The daily_sales projection: orders and money per UTC day, by status (``projection``)."""
