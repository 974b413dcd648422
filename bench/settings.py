"""The product's settings plus the baselines' URLs (bench only, never in the product)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
