"""The production settings come from the environment; `check --deploy` passes with them."""

import importlib
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

import config.settings

ROOT = Path(__file__).resolve().parents[2]

# What `check --deploy` asks for, turned on as a site served only over https would.
SECURE_SETTINGS = {
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
}


def check_deploy(**environment: str) -> subprocess.CompletedProcess:
    """``manage.py check --deploy`` in a production-like environment plus ``environment``."""
    inherited = {name: value for name, value in os.environ.items() if name not in SECURE_SETTINGS}
    production = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "orders.example.com",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**inherited, **production, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_secure_settings_on():
    result = check_deploy(**SECURE_SETTINGS)
    assert result.returncode == 0, result.stderr


def test_with_them_off_check_deploy_names_each_one():
    result = check_deploy()
    assert result.returncode == 1
    assert set(re.findall(r"security\.W\d+", result.stderr)) == {
        "security.W004",  # SECURE_HSTS_SECONDS
        "security.W008",  # SECURE_SSL_REDIRECT
        "security.W012",  # SESSION_COOKIE_SECURE
        "security.W016",  # CSRF_COOKIE_SECURE
    }


@pytest.fixture
def reload_settings(monkeypatch):
    """Execute config/settings.py again under the environment the test sets."""

    def reload(**environment: str):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(config.settings)

    yield reload
    monkeypatch.undo()
    importlib.reload(config.settings)


def test_the_defaults_suit_plain_http_on_127_0_0_1(reload_settings, monkeypatch):
    for name in [*SECURE_SETTINGS, "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS"]:
        monkeypatch.delenv(name, raising=False)
    settings = reload_settings()
    assert not settings.SECURE_SSL_REDIRECT
    assert settings.SECURE_HSTS_SECONDS == 0
    assert not (settings.SESSION_COOKIE_SECURE or settings.CSRF_COOKIE_SECURE)
    assert settings.SECURE_PROXY_SSL_HEADER is None  # no client can claim https
    assert settings.CSRF_TRUSTED_ORIGINS == []


def test_the_proxy_header_and_trusted_origins_are_read_from_the_environment(reload_settings):
    settings = reload_settings(
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
        CSRF_TRUSTED_ORIGINS="https://orders.example.com, https://admin.example.com",
        SECURE_HSTS_SECONDS="3600",
    )
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings.CSRF_TRUSTED_ORIGINS == [
        "https://orders.example.com",
        "https://admin.example.com",
    ]
    assert settings.SECURE_HSTS_SECONDS == 3600


def test_a_metrics_allow_list_is_read_as_networks_and_a_typo_refused(reload_settings):
    settings = reload_settings(METRICS_ALLOWED_IPS="10.0.0.0/8, 192.168.1.7")
    assert settings.METRICS_ALLOWED_IPS == ["10.0.0.0/8", "192.168.1.7"]

    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS"):
        reload_settings(METRICS_ALLOWED_IPS="10.0.0.0/8,10.0.0.300")


def test_an_unknown_log_format_is_refused(reload_settings):
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        reload_settings(LOG_FORMAT="xml")
