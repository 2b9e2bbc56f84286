"""One exception hierarchy for the archive app.

Every error carries a stable machine ``code`` (used in job records and API error bodies), a
human ``message`` and whether it is ``permanent`` (retrying will not help) or transient
(a retry with back-off may succeed). Views and tasks map these once; nothing matches strings.
"""

from __future__ import annotations


class ArchiveError(Exception):
    code = "archive_error"
    permanent = True

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details,
                "permanent": self.permanent}


class CaptureError(ArchiveError):
    code = "capture_error"


class InvalidURL(CaptureError):
    code = "invalid_url"


class UnsupportedScheme(CaptureError):
    code = "unsupported_scheme"


class ForbiddenAddress(CaptureError):
    """The URL's host is (or resolves to) an address Naql must never connect to."""

    code = "forbidden_address"


class DNSFailure(CaptureError):
    code = "dns_failure"
    permanent = False


class ConnectionFailed(CaptureError):
    code = "connection_failed"
    permanent = False


class TLSFailure(CaptureError):
    code = "tls_failure"


class FetchTimeout(CaptureError):
    code = "timeout"
    permanent = False


class BodyTooLarge(CaptureError):
    code = "body_too_large"


class ProtocolError(CaptureError):
    """The server answered with something that is not HTTP/1.x."""

    code = "protocol_error"


class RedirectLoop(CaptureError):
    code = "redirect_loop"


class TooManyRedirects(CaptureError):
    code = "too_many_redirects"


class ProxyFailure(CaptureError):
    """The configured outbound proxy reported an error (RFC 9209 Proxy-Status) or refused CONNECT."""

    code = "proxy_error"
    permanent = False


class StorageError(ArchiveError):
    code = "storage_error"
    permanent = False


class StorageFull(StorageError):
    """The disk (or quota) under the temp or WARC directory is full: nothing was published; retry
    once space is freed."""

    code = "storage_full"


class StorageUnavailable(StorageError):
    """The WARC store (e.g. S3) could not be reached or refused the write: nothing was published
    (an object store's PUT is all or nothing); retry with back-off."""

    code = "storage_unavailable"


class ImmutableFileExists(StorageError):
    code = "file_exists"
    permanent = True


class WarcImportError(ArchiveError):
    """A WARC/ARC/WACZ file given to import_warc is malformed, truncated or tampered with."""

    code = "import_error"


class FixityError(ArchiveError):
    code = "fixity_error"


class BrowserUnavailable(CaptureError):
    """This worker has no usable Chromium (or no Playwright): the job waits for one that has."""

    code = "browser_unavailable"
    permanent = False


class BrowserFailure(CaptureError):
    """The capture browser crashed, could not start, or the page could not be loaded at all."""

    code = "browser_failure"
    permanent = False


class PackageError(ArchiveError):
    """A WACZ package cannot be built (nothing visible to package, a record failing fixity, TSA down)."""

    code = "package_error"


class InternalError(ArchiveError):
    """An unexpected bug (any exception that is not an ArchiveError) met while capturing one URL
    of a batch: that URL fails for good, as a crashed single capture does (``details["type"]``:
    the exception's class name); the batch's other URLs go on."""

    code = "internal_error"
