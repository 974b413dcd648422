"""Plumbing shared by the apps; it imports neither ``orders_write`` nor ``orders_read``."""
