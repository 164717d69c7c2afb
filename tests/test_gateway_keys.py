"""Gateway keys: created once, stored as hashes, authenticated in constant time; admin auth."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from polyroute.accounting._settings import LedgerSettings
from polyroute.errors import InvalidRequest
from polyroute.gateway import AdminAuth, KeyStore
from polyroute.gateway._keys import KEY_PREFIX, hash_key


def test_create_returns_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    store = KeyStore.open(LedgerSettings(url=str(db)))
    secret, record = store.create("alice", limit=25, limit_reset="monthly", models=["m"], rpm=10)
    store.close()
    assert secret.startswith(KEY_PREFIX) and len(secret) == len(KEY_PREFIX) + 64
    assert record.hash == hash_key(secret)
    assert record.limit == Decimal(25) and record.limit_reset == "monthly" and record.models == ("m",)
    assert secret not in repr(record) and secret[len(KEY_PREFIX) :][:10] not in record.label
    dump = "\n".join(sqlite3.connect(db).iterdump())
    assert secret not in dump and secret[len(KEY_PREFIX) :] not in dump
    again = KeyStore.open(LedgerSettings(url=str(db)))
    assert again.authenticate(secret) == record
    assert again.authenticate(secret[:-1] + ("0" if secret[-1] != "0" else "1")) is None
    again.close()


def test_rotate_disable_delete() -> None:
    store = KeyStore.memory()
    old, record = store.create("bob")
    new, rotated = store.rotate(record.hash)
    assert rotated.hash == record.hash and new != old
    assert store.authenticate(old) is None
    assert store.authenticate(new) is not None
    assert store.update(record.hash, disabled=True).disabled
    assert store.authenticate(new) is not None and store.authenticate(new).disabled  # type: ignore[union-attr]
    assert store.delete(record.hash) is True
    assert store.authenticate(new) is None and store.delete(record.hash) is False
    with pytest.raises(KeyError):
        store.update(record.hash, name="x")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"limit": -1}, "limit"),
        ({"limit": "lots"}, "limit"),
        ({"limit_reset": "hourly"}, "limit_reset"),
        ({"rpm": 0}, "rpm"),
        ({"models": "m"}, "models"),
    ],
)
def test_bad_settings_are_invalid_requests(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        KeyStore.memory().create("x", **kwargs)  # type: ignore[arg-type]
    assert info.value.param == param


def test_a_key_changed_elsewhere_is_seen_after_refresh(tmp_path: Path) -> None:
    settings = LedgerSettings(url=str(tmp_path / "usage.db"))
    a, b = KeyStore.open(settings), KeyStore.open(settings)
    secret, record = a.create("carol")
    assert b.authenticate(secret) is None
    b.refresh()
    assert b.authenticate(secret) == record
    a.update(record.hash, disabled=True)
    b.refresh()
    assert b.authenticate(secret).disabled  # type: ignore[union-attr]
    a.close()
    b.close()


def test_admin_login_link_works_once() -> None:
    auth = AdminAuth("admin-secret")
    assert auth.check_key("admin-secret") and not auth.check_key("admin-secreT")
    token = auth.login_token()
    session = auth.redeem(token)
    assert session is not None
    assert auth.redeem(token) is None
    assert "admin-secret" not in repr(auth)


@pytest.mark.postgres
def test_keys_in_postgres(postgres_url: str, postgres_schema: str) -> None:
    settings = LedgerSettings(url=postgres_url, schema=postgres_schema)
    a, b = KeyStore.open(settings), KeyStore.open(settings)
    secret, record = a.create("pg", limit="2.5", limit_reset="daily", models=["m"], providers=["p"], rpm=5)
    b.refresh()
    assert b.authenticate(secret) == record
    assert record.limit == Decimal("2.5") and record.models == ("m",)
    assert a.update(record.hash, disabled=True).disabled
    new, _ = a.rotate(record.hash)
    b.refresh()
    assert b.authenticate(secret) is None and b.authenticate(new).disabled  # type: ignore[union-attr]
    assert b.delete(record.hash)
    a.refresh()
    assert len(a) == 0
    a.close()
    b.close()
