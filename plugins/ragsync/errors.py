"""The exceptions ragsync raises on purpose; each message says what is wrong and what to do."""

from __future__ import annotations


class RagSyncError(Exception):
    """Base class of every error ragsync raises deliberately."""


class ConfigError(RagSyncError):
    """A setting, param or connection is invalid; the message names the key and the allowed values."""


class ConnectionNotConfiguredError(ConfigError):
    """An Airflow connection ragsync needs does not exist or lacks a required field."""


class UnknownStoreError(ConfigError):
    """A store code or id does not name an active store view."""


class DatabaseError(RagSyncError):
    """The database could not be reached or refused a statement."""


class DeliveryError(RagSyncError):
    """The RAG backend could not be reached or answered in a way that stops delivery."""
