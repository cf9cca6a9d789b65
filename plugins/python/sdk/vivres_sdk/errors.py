"""What a connector raises when it cannot go on; the base class turns each into
the contract's ``connector-error``. Messages must hold no personal value."""

from __future__ import annotations

from typing import Optional


class ConnectorFailure(Exception):
    """Base of the four errors below."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadConfig(ConnectorFailure):
    """The source's configuration is wrong: name the field and what to fix."""


class AuthFailed(ConnectorFailure):
    """The partner refused the credentials (401/403)."""


class PartnerUnavailable(ConnectorFailure):
    """Retryable: the partner is down, rate-limiting or timing out."""

    def __init__(self, message: str, retry_after_secs: Optional[int] = None):
        super().__init__(message)
        self.retry_after_secs = retry_after_secs


class BadData(ConnectorFailure):
    """The partner's format changed, or a checkpoint cannot be read."""
