"""Secrets are masked as the config models mark them (config/masking.py)."""

from __future__ import annotations

from pydantic import BaseModel

from sitewatch.config import models
from sitewatch.config.masking import CREDENTIAL_NAME, MASK, mask_entry, secret_marks


def _models() -> list[type[BaseModel]]:
    return [
        m
        for m in vars(models).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == models.__name__
    ]


def test_every_field_named_like_a_credential_is_marked() -> None:
    """A new field called ``token`` or ``api_key`` cannot be shown by forgetting to mark it."""
    unmarked = [
        f"{m.__name__}.{name}"
        for m in _models()
        for name in m.model_fields
        if CREDENTIAL_NAME.search(name) and name != "key" and name not in secret_marks(m)
    ]
    assert unmarked == []


def test_marked_fields_are_masked_and_references_kept() -> None:
    hook = {
        "name": "ops",
        "type": "webhook",
        "url": "https://hooks.example/x",
        "secret": "s3cret-value",
        "headers": {"Authorization": "Bearer abc", "X-Team": "ops", "Cookie": "${COOKIE}"},
    }
    shown = mask_entry("alerts", hook)
    assert shown["secret"] == MASK
    assert shown["headers"] == {"Authorization": MASK, "X-Team": "ops", "Cookie": "${COOKIE}"}
    assert shown["url"] == hook["url"] and shown["name"] == "ops"
    mail = {"name": "m", "type": "email", "host": "smtp", "password": "${SMTP_PASSWORD}"}
    assert mask_entry("alerts", mail)["password"] == "${SMTP_PASSWORD}"
    assert mask_entry("alerts", {**mail, "password": "hunter2"})["password"] == MASK


def test_website_key_is_not_a_secret_but_unknown_credentials_are() -> None:
    site = {"name": "Shop", "key": "shop", "url": "https://shop.example", "api_token": "t0k"}
    shown = mask_entry("websites", site)
    assert shown["key"] == "shop" and shown["api_token"] == MASK
    assert mask_entry("websites", {"headers": {"X-Api-Key": "k", "Accept": "text/html"}}) == {
        "headers": {"X-Api-Key": MASK, "Accept": "text/html"}
    }
