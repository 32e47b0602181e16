"""docs/configuration.md lists every setting with its environment variable."""

from pathlib import Path

from app.core.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented():
    text = DOC.read_text()
    missing = [name for name in Settings.model_fields if f"`STOREFRONT_{name.upper()}`" not in text]
    assert missing == []
