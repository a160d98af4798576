"""The YandexArt client's exceptions: a small hierarchy that callers branch on.

    YandexArtError
    ├── ContentRefused      the prompt was refused by the content filter (never retry it)
    ├── InvalidRequest      any other 400 (a bug or a configuration problem, not the user's)
    ├── QuotaExceeded       429: the folder's quota is used up for now (not billed, retry later)
    ├── AuthError           401/403: the credential or its role is wrong
    │   └── ModelDenied     403 "Access to model ... denied": the model is not available
    ├── TransientError      5xx, timeouts, connection errors (see `maybe_accepted`)
    ├── OperationNotFound   404 on poll: unknown or expired operation id
    ├── OperationFailed     the operation finished with an error
    └── DeadlineExceeded    the job's deadline passed before an image arrived

Messages never contain a credential.
"""

from __future__ import annotations


class YandexArtError(Exception):
    """Base class. `status` is the HTTP status (None for network errors)."""

    def __init__(
        self, message: str, *, status: int | None = None, grpc_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.grpc_code = grpc_code


class ContentRefused(YandexArtError):
    """The content filter refused the prompt ("may violate the terms of use")."""


class InvalidRequest(YandexArtError):
    """A 400 that is not a refusal: bad parameter, folder mismatch, unknown model."""

    def __init__(self, message: str, *, status: int | None = None,
                 grpc_code: int | None = None, setting_hint: str | None = None) -> None:
        super().__init__(message, status=status, grpc_code=grpc_code)
        self.setting_hint = setting_hint


class QuotaExceeded(YandexArtError):
    """429: the request was not accepted (not billed); try again later."""


class AuthError(YandexArtError):
    """401/403. `setting_hint` names the configuration an operator should check."""

    def __init__(self, message: str, *, status: int | None = None,
                 grpc_code: int | None = None, setting_hint: str) -> None:
        super().__init__(message, status=status, grpc_code=grpc_code)
        self.setting_hint = setting_hint


class ModelDenied(AuthError):
    """403 "Access to model ... denied"."""


class TransientError(YandexArtError):
    """A failure worth retrying later.

    `maybe_accepted` is True when a submit may have reached the server and created a billed
    operation (a read timeout, a dropped connection): such a submit must not be repeated.
    """

    def __init__(self, message: str, *, status: int | None = None,
                 grpc_code: int | None = None, maybe_accepted: bool = False) -> None:
        super().__init__(message, status=status, grpc_code=grpc_code)
        self.maybe_accepted = maybe_accepted


class OperationNotFound(YandexArtError):
    """404 on poll: the operation id is unknown or its result expired (kept 3 days)."""


class OperationFailed(YandexArtError):
    """The operation finished with an error instead of an image."""


class DeadlineExceeded(YandexArtError):
    """The job's deadline passed before the image was ready."""
