"""The admin gate (core.auth): open without FT_ADMIN_TOKEN, an exact match with one."""

from core import auth


def test_admin_check_is_open_locally_and_exact_when_configured(monkeypatch):
    monkeypatch.delenv("FT_ADMIN_TOKEN", raising=False)
    assert auth.admin_token() is None and auth.check_admin(None)
    monkeypatch.setenv("FT_ADMIN_TOKEN", "s3cret")
    assert auth.check_admin("s3cret")
    assert not any(auth.check_admin(x) for x in (None, "", "s3cre", "s3cret ", "S3CRET"))
