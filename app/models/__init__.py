"""All ORM models; importing this package registers every table on ``Base.metadata``."""

# identity
from app.models.api_key import ApiKey
from app.models.audit import AuditLog
from app.models.base import Base
from app.models.mfa import MfaRecoveryCode

# commerce
from app.models.order import Order, OrderItem
from app.models.outbox import OutboxEvent
from app.models.product import Product
from app.models.refresh_token import RefreshToken, RefreshTokenFamily
from app.models.user import User
from app.models.webhook import WebhookDelivery, WebhookEndpoint

__all__ = ["Base", "ApiKey", "AuditLog", "MfaRecoveryCode", "RefreshToken", "RefreshTokenFamily", "User", "Order", "OrderItem", "Product",
           "OutboxEvent", "WebhookEndpoint", "WebhookDelivery"]
