"""Secrets are never printed: a ``--storage`` URL's password is masked in every error that
names the URL, including the driver's own words."""
from __future__ import annotations

import pytest

from hub_core.common.errors import UsageError
from hub_core.common.redact import hide, redact_url
from hub_core.train.tune import Settings, open_storage


def test_a_storage_password_is_masked_when_the_database_cannot_be_opened(tmp_path):
    url = "postgresql://hub:s3cr%40t-pw@127.0.0.1:1/studies"
    with pytest.raises(UsageError) as caught:
        open_storage(Settings(trials=1, out=str(tmp_path), storage=url))
    message = str(caught.value)
    assert "postgresql://hub:***@127.0.0.1:1/studies" in message, message
    assert "s3cr" not in message and "\n" not in message


def test_redaction_covers_odd_urls_and_messages():
    assert redact_url("sqlite:///x/study.db") == "sqlite:///x/study.db"
    assert redact_url("mysql://u:p%3Aw@h/db") == "mysql://u:***@h/db"
    assert "pw" not in redact_url("postgresql://u:pw@[::1/db")  # malformed: the credentials are dropped
    assert hide('connection to "u:p:w@h" failed for p:w', "mysql://u:p%3Aw@h/db") == \
        'connection to "u:***@h" failed for ***'
