"""The use cases' error type (defined in domain so that validation rules raise the same one)."""

from domain.errors import ServiceError

__all__ = ["ServiceError"]
