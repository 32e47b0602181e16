"""All ORM models; importing this package registers every table on ``Base.metadata``."""

from app.models.base import Base

__all__ = ["Base"]
