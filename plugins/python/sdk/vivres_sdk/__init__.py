"""The Vivres guest SDK for Python connectors (componentize-py, contract
``vivres:connector@0.2.0``).

A connector subclasses :class:`Connector`, overrides ``spec`` and ``read`` (and
``check``, ``discover``, ``parse_config`` if it needs to), and names its class
``Connector`` at the top of its app module::

    import vivres_sdk
    class KoboSurveys(vivres_sdk.Connector): ...
    Connector = KoboSurveys

Everything the host gives a plugin is here: ``log``, ``secret``, ``now``,
``inbox_dir``; and ``model``, ``http``, ``fr``, ``inbox``, ``state``.
"""

from __future__ import annotations

import json
import traceback
from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

from . import fr, http, inbox, model, state
from .errors import AuthFailed, BadConfig, BadData, ConnectorFailure, PartnerUnavailable

__all__ = [
    "AuthFailed",
    "BadConfig",
    "BadData",
    "Connector",
    "ConnectorFailure",
    "PartnerUnavailable",
    "fr",
    "http",
    "inbox",
    "inbox_dir",
    "log",
    "model",
    "now",
    "secret",
    "state",
]


class log:
    """Into the run's log. Log counts and keys, never a personal value."""

    @staticmethod
    def trace(message: str) -> None:
        host.log(host.LogLevel.TRACE, message)

    @staticmethod
    def debug(message: str) -> None:
        host.log(host.LogLevel.DEBUG, message)

    @staticmethod
    def info(message: str) -> None:
        host.log(host.LogLevel.INFO, message)

    @staticmethod
    def warn(message: str) -> None:
        host.log(host.LogLevel.WARN, message)

    @staticmethod
    def error(message: str) -> None:
        host.log(host.LogLevel.ERROR, message)


def secret(name: str) -> Optional[str]:
    """A secret of the source's configuration, by the name the configuration gives."""
    return host.secret(name)


def now() -> int:
    """Wall clock, seconds since the Unix epoch."""
    return host.now()


def inbox_dir() -> Optional[str]:
    """The read-only directory of export files (``/inbox``), if the source has one."""
    return host.inbox_dir()


def _to_wit(error: ConnectorFailure):
    if isinstance(error, BadConfig):
        return types.ConnectorError_BadConfig(error.message)
    if isinstance(error, AuthFailed):
        return types.ConnectorError_AuthFailed(error.message)
    if isinstance(error, PartnerUnavailable):
        return types.ConnectorError_PartnerUnavailable(
            types.Unavailable(message=error.message, retry_after_secs=error.retry_after_secs)
        )
    return types.ConnectorError_BadData(error.message)


def _where(error: BaseException) -> str:
    """Where a bug happened, without the exception's message: messages of
    ``KeyError`` and friends repeat partner values, which must not reach the run
    report."""
    frames = traceback.extract_tb(error.__traceback__)
    place = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {place}"


def _guard(what: str, call):
    """Runs one export: a ``ConnectorFailure`` becomes the contract's error, and any
    other exception (a bug) a ``bad-data`` naming its place, never its message."""
    try:
        return call()
    except Err:
        raise
    except ConnectorFailure as e:
        raise Err(_to_wit(e)) from None
    except Exception as e:  # a bug in the connector: fail the run, leak nothing
        raise Err(types.ConnectorError_BadData(f"connector error in {what}: {_where(e)}")) from None


class Connector(exports.Connector):
    """Base class of a Python connector. Override ``spec`` and ``read``; the
    defaults: ``parse_config`` gives the JSON object as a ``dict``; ``check``
    accepts; ``discover`` returns ``spec().streams``.

    Nothing survives between calls: each call may run in a fresh instance.
    """

    # --- to override -------------------------------------------------------

    def spec(self) -> types.ConnectorSpec:
        raise NotImplementedError("a connector must override spec()")

    def parse_config(self, config: dict):
        """Checks the configuration and returns what the other methods receive as
        ``config``; raise ``BadConfig`` naming the field. Called before every call."""
        return config

    def check_config(self, config) -> None:
        """Can the partner be reached with this configuration? One cheap call."""

    def discover_streams(self, config) -> List[types.StreamInfo]:
        return list(self.spec().streams)

    def read_batch(self, config, stream: str, state: Optional[str]) -> types.Batch:
        """One batch: the host stores it (items, rejects, state) in one transaction,
        then calls again with that state while ``batch.more`` is true."""
        raise NotImplementedError("a connector must override read_batch()")

    # --- the contract's exports (do not override) --------------------------

    def _config(self, text: str):
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise BadConfig(f"the configuration is not JSON: {e.msg}") from None
        if not isinstance(parsed, dict):
            raise BadConfig("the configuration must be a JSON object")
        return self.parse_config(parsed)

    def check(self, config: str) -> None:
        return _guard("check", lambda: self.check_config(self._config(config)))

    def discover(self, config: str) -> List[types.StreamInfo]:
        return _guard("discover", lambda: self.discover_streams(self._config(config)))

    def read(self, config: str, stream: str, state: Optional[str]) -> types.Batch:
        return _guard("read", lambda: self.read_batch(self._config(config), stream, state))
