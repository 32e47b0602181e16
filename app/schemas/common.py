"""Shared schema pieces: the strict base model and the cursor-pagination envelope."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class StrictInput(BaseModel):
    """Input bodies accept only the fields they declare (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Opaque; pass it as `cursor` to get the next page. Null on the last page.")
    limit: int
