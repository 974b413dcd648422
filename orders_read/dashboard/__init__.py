"""The ``/dashboard/`` page: figures, a chart, the approval queue and the orders table."""
