"""Errors a forward proxy reports in an RFC 9209 ``Proxy-Status`` header, raised as Naql's own
(``DNSFailure``, ``ConnectionFailed``, ``FetchTimeout``, ``TLSFailure`` …) by :mod:`archive.capture.fetch`."""

from __future__ import annotations

import re

from archive.errors import (
    BodyTooLarge,
    CaptureError,
    ConnectionFailed,
    DNSFailure,
    FetchTimeout,
    ForbiddenAddress,
    ProtocolError,
    ProxyFailure,
    TLSFailure,
)

__all__ = ["PROXY_STATUS_ERRORS", "raise_for_proxy_status"]

PROXY_STATUS_ERRORS: dict[str, type[CaptureError]] = {
    "dns_timeout": DNSFailure,
    "dns_error": DNSFailure,
    "destination_not_found": DNSFailure,
    "destination_unavailable": ConnectionFailed,
    "destination_ip_prohibited": ForbiddenAddress,
    "destination_ip_unroutable": ConnectionFailed,
    "connection_refused": ConnectionFailed,
    "connection_terminated": ConnectionFailed,
    "connection_timeout": FetchTimeout,
    "connection_read_timeout": FetchTimeout,
    "connection_write_timeout": FetchTimeout,
    "connection_limit_reached": ProxyFailure,
    "tls_protocol_error": TLSFailure,
    "tls_certificate_error": TLSFailure,
    "tls_alert_received": TLSFailure,
    "http_request_error": ProxyFailure,
    "http_request_denied": ProxyFailure,
    "http_response_incomplete": ProtocolError,
    "http_response_header_section_size": ProtocolError,
    "http_response_header_size": ProtocolError,
    "http_response_body_size": BodyTooLarge,
    "http_response_trailer_section_size": ProtocolError,
    "http_response_trailer_size": ProtocolError,
    "http_response_transfer_coding": ProtocolError,
    "http_response_content_coding": ProtocolError,
    "http_response_timeout": FetchTimeout,
    "http_upgrade_failed": ProtocolError,
    "http_protocol_error": ProtocolError,
    "proxy_internal_response": ProxyFailure,
    "proxy_internal_error": ProxyFailure,
    "proxy_configuration_error": ProxyFailure,
    "proxy_loop_detected": ProxyFailure,
}

_SF_PARAM_RE = re.compile(r'\s*;\s*([a-z*][a-z0-9_\-.*]*)(?:=("(?:[^"\\]|\\.)*"|[^;,\s]*))?')


def _parse_proxy_status(values: list[str]) -> list[dict[str, str]]:
    """Members of a Proxy-Status field as dicts (``proxy`` + params), best effort."""
    members = []
    for value in values:
        for raw in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', value):
            raw = raw.strip()
            if not raw:
                continue
            name, _, params = raw.partition(";")
            member = {"proxy": name.strip().strip('"')}
            for m in _SF_PARAM_RE.finditer(";" + params):
                val = m.group(2) or ""
                if val.startswith('"'):
                    val = re.sub(r"\\(.)", r"\1", val[1:-1])
                member[m.group(1)] = val
            members.append(member)
    return members


def raise_for_proxy_status(headers: list[tuple[str, str]], status: int, url: str, proxy: str) -> None:
    values = [v for k, v in headers if k.lower() == "proxy-status"]
    if not values:
        return
    for member in _parse_proxy_status(values):
        err = member.get("error")
        if not err:
            continue
        exc_cls = PROXY_STATUS_ERRORS.get(err, ProxyFailure)
        text = member.get("details", "")
        message = f"proxy reported {err}" + (f": {text}" if text else "") + f" for {url}"
        raise exc_cls(message, details={"url": url, "proxy": proxy, "proxy_status": ", ".join(values),
                                        "proxy_error": err, "proxy_details": text, "status": status})
