"""Browser capture: Debian's Chromium, driven by Playwright, behind Naql's recording proxy.

:func:`browse` loads one page the way a reader's browser would and returns everything it saw:
every HTTP exchange (recorded byte for byte by :class:`archive.capture.recorder.RecordingProxy`,
each request guarded), the requests that were refused and why, a full-page PNG screenshot, the
rendered DOM (``document.documentElement.outerHTML`` after scripts ran) and a provenance
summary (browser version, user agent, viewport, timings, budget). It does no database work;
:mod:`archive.capture.capture` writes the WARC and the snapshots.

The browser process:

* is Chromium from ``NAQL_BROWSER_EXECUTABLE`` (``/usr/bin/chromium``), started by Naql itself
  (not by Playwright's launcher) in its own process group with a **fresh profile directory**
  (no cookie, storage, cache or service worker survives a capture), then driven through the
  DevTools protocol with Playwright's ``connect_over_cdp``. Starting it ourselves gives Naql the
  process to kill: a watchdog kills the whole group when the page budget plus a grace period is
  over, and ``PR_SET_PDEATHSIG`` kills it if the worker dies;
* reaches the network only through the recording proxy: ``--proxy-server`` with
  ``--proxy-bypass-list=<-loopback>`` (Chromium otherwise sends loopback requests direct),
  ``--host-resolver-rules`` mapping every name to NOTFOUND (it never resolves a name itself),
  WebRTC limited to proxied UDP (none), QUIC off, background networking off;
* trusts the proxy's per-capture CA only through ``--ignore-certificate-errors-spki-list``;
* blocks popups (``--block-new-web-contents``, and any page a script still opens is closed and
  listed) and downloads (Playwright cancels them; each is listed), dismisses dialogs.

**One browser per worker process**: a module lock serialises browser captures in a process, so a
threaded worker never runs two Chromiums at once.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from archive.capture.fetch import Exchange, FetchLimits, fetch
from archive.capture.recorder import Budget, RecordingProxy
from archive.errors import BrowserFailure, BrowserUnavailable

__all__ = ["browse", "BrowserCapture", "BrowserLimits", "browser_missing_reason", "chromium_path"]

log = logging.getLogger(__name__)

_ONE_BROWSER = threading.Lock()

_SCROLL_JS = """() => {
  const el = document.scrollingElement || document.documentElement;
  window.scrollBy(0, Math.max(200, window.innerHeight * 0.9));
  return [Math.ceil(window.scrollY + window.innerHeight), el.scrollHeight];
}"""


@dataclass(frozen=True)
class BrowserLimits:
    """Budget of one browser capture. Times in seconds, sizes in bytes."""

    page_timeout: float = 45.0  # whole visit: load, settle, scroll, screenshot
    settle_quiet: float = 0.5  # the network is settled after this long with no request in flight
    settle_max: float = 8.0  # longest wait for it to settle (each time)
    scroll_steps: int = 12
    max_requests: int = 300
    max_bytes: int = 80 * 1024 * 1024
    viewport: tuple[int, int] = (1280, 900)
    grace: float = 15.0  # after page_timeout, the watchdog kills the browser

    @classmethod
    def from_settings(cls) -> BrowserLimits:
        w, _, h = str(settings.NAQL_BROWSER_VIEWPORT).partition("x")
        return cls(page_timeout=settings.NAQL_BROWSER_PAGE_TIMEOUT, settle_max=settings.NAQL_BROWSER_SETTLE_MAX,
                   scroll_steps=settings.NAQL_BROWSER_SCROLL_STEPS, max_requests=settings.NAQL_BROWSER_MAX_REQUESTS,
                   max_bytes=settings.NAQL_BROWSER_MAX_BYTES, viewport=(int(w), int(h)))


@dataclass
class BrowserCapture:
    requested_url: str
    final_url: str  # the page's URL when the visit ended (after redirects)
    exchanges: list[Exchange]  # in the order the browser sent the requests
    refused: list[dict]  # {url, method, code, message, at}
    screenshot: bytes | None  # PNG
    dom: str | None  # rendered DOM, serialised
    info: dict = field(default_factory=dict)  # provenance summary (browser, UA, viewport, timings...)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def chromium_path() -> Path:
    return Path(settings.NAQL_BROWSER_EXECUTABLE)


def _binary() -> Path:
    """The Chromium ELF binary to run. Debian's ``/usr/bin/chromium`` is a shell wrapper that
    sources ``/etc/chromium.d`` (Google API keys, extra flags) before exec'ing
    ``/usr/lib/chromium/chromium``; with those keys Chromium signs in to and polls Google services
    during a capture. Naql runs the wrapped binary itself, with a clean environment."""
    exe = chromium_path()
    try:
        with open(exe, "rb") as fh:
            is_script = fh.read(2) == b"#!"
    except OSError:
        return exe
    wrapped = Path("/usr/lib") / exe.name / exe.name
    return wrapped if is_script and wrapped.exists() else exe


def _env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "FONTCONFIG_PATH")
    return {k: v for k, v in os.environ.items() if k in keep}


def browser_missing_reason() -> str | None:
    """Why this process cannot run browser captures, or None when it can."""
    exe = chromium_path()
    if not exe.exists() or not os.access(exe, os.X_OK):
        return f"Chromium is not installed at {exe} (apt-get install chromium, or set NAQL_BROWSER_EXECUTABLE)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    return None


def _guarded_fetcher(ua_holder: dict, ssl_context=None):
    """The recorder's fetcher: the capture settings' guarded fetch, the browser's own request headers."""
    base = FetchLimits(connect_timeout=settings.NAQL_CAPTURE_CONNECT_TIMEOUT,
                       read_timeout=settings.NAQL_CAPTURE_READ_TIMEOUT,
                       total_timeout=settings.NAQL_CAPTURE_TOTAL_TIMEOUT, max_body=settings.NAQL_CAPTURE_MAX_BODY)
    allowed = tuple(settings.NAQL_CAPTURE_ALLOWED_NETWORKS)
    proxy, local_dns = settings.NAQL_CAPTURE_PROXY, settings.NAQL_CAPTURE_PROXY_LOCAL_DNS

    def fetcher(url, *, method, headers, body, max_body):
        ua = next((v for k, v in headers if k.lower() == "user-agent"), None)
        if ua:
            ua_holder.setdefault("user_agent", ua)
        return fetch(url, method=method, headers=headers, body=body, proxy=proxy, allowed_networks=allowed,
                     proxy_local_dns=local_dns, limits=replace(base, max_body=min(base.max_body, max_body)),
                     ssl_context=ssl_context)

    fetcher.allowed_networks = allowed
    return fetcher


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _chromium_args(proxy: RecordingProxy, profile: Path, limits: BrowserLimits) -> list[str]:
    args = [
        str(_binary()), "--headless=new", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}", f"--proxy-server={proxy.proxy_url}", "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={','.join(proxy.ca.spki_hashes())}",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-domain-reliability", "--disable-breakpad", "--no-first-run", "--no-default-browser-check",
        "--disable-default-apps", "--disable-extensions", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
        "--hide-scrollbars", "--block-new-web-contents", "--disable-client-side-phishing-detection",
        "--disable-component-extensions-with-background-pages", "--metrics-recording-only", "--no-service-autorun",
        "--password-store=basic", "--use-mock-keychain", "--disable-search-engine-choice-screen",
        "--disable-field-trial-config", "--variations-server-url=data:,", "--component-updater=url-source=data:,",
        "--gaia-url=data:,", "--lso-url=data:,", "--google-apis-url=data:,", "--disable-back-forward-cache",
        "--disable-features=Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints,OptimizationGuideModelDownloading,"
        "DnsOverHttps,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,AutofillServerCommunication,"
        "InterestFeedContentSuggestions,SafeBrowsing,SignInProfileCreation,ChromeSigninIntercept,AccountConsistency,"
        "HttpsUpgrades,LensOverlay,PrivacySandboxSettings4",
        f"--window-size={limits.viewport[0]},{limits.viewport[1]}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return [*args, "about:blank"]


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BrowserFailure(f"Chromium exited at start (status {proc.returncode})",
                                 details={"log": _tail(profile / "chromium.log")})
        try:
            first = marker.read_text().splitlines()[0]
            return int(first)
        except (OSError, IndexError, ValueError):
            time.sleep(0.05)
    raise BrowserFailure("Chromium did not open its DevTools port in time", details={"log": _tail(profile / "chromium.log")})


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        log.error("Chromium %s did not die", proc.pid)


def browse(url: str, *, limits: BrowserLimits | None = None, ssl_context=None) -> BrowserCapture:
    """Visit ``url`` in a fresh Chromium behind the recording proxy; return what was recorded.

    Raises ``BrowserUnavailable`` when this process has no Chromium/Playwright and
    ``BrowserFailure`` when the browser cannot be started or driven at all. A page that never
    finishes loading is not an error: the budget ends the visit and what was recorded is kept
    (``info["load"]`` says ``"timeout"``). ``ssl_context`` is for tests (trust a test origin's CA).
    """
    reason = browser_missing_reason()
    if reason:
        raise BrowserUnavailable(reason, details={"executable": str(chromium_path())})
    limits = limits or BrowserLimits.from_settings()
    with _ONE_BROWSER:
        # Playwright's sync API runs an event loop in the calling thread; a thread of its own keeps
        # that loop away from the caller's (Django's ORM refuses to run in a thread with a loop).
        box: dict = {}
        t = threading.Thread(target=_browse_thread, args=(url, limits, ssl_context, box), name="naql-browser")
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["result"]


def _browse_thread(url, limits, ssl_context, box) -> None:
    try:
        box["result"] = _browse(url, limits, ssl_context)
    except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
        box["error"] = exc


def _browse(url: str, limits: BrowserLimits, ssl_context) -> BrowserCapture:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    started_at = datetime.now(UTC)
    deadline = t0 + limits.page_timeout
    ua_holder: dict = {}
    tmp_root = Path(settings.NAQL_TMP_DIR)
    tmp_root.mkdir(parents=True, exist_ok=True)
    proxy = RecordingProxy(_guarded_fetcher(ua_holder, ssl_context),
                           Budget(deadline=deadline, max_requests=limits.max_requests, max_bytes=limits.max_bytes),
                           io_timeout=settings.NAQL_CAPTURE_READ_TIMEOUT, tmp_dir=tmp_root).start()
    profile = Path(tempfile.mkdtemp(prefix="naql-chromium-", dir=tmp_root))
    proc: subprocess.Popen | None = None
    watchdog: threading.Timer | None = None
    killed = threading.Event()
    info: dict = {"viewport": {"width": limits.viewport[0], "height": limits.viewport[1]},
                  "budget": {"seconds": limits.page_timeout, "requests": limits.max_requests, "bytes": limits.max_bytes},
                  "popups_blocked": [], "downloads_blocked": [], "dialogs_dismissed": 0, "load": "ok"}
    timings: dict = {}
    screenshot = dom = None
    final_url = url
    try:
        with open(profile / "chromium.log", "wb") as logf:
            proc = subprocess.Popen(_chromium_args(proxy, profile, limits), stdout=logf, stderr=logf,  # noqa: S603
                                    stdin=subprocess.DEVNULL, env=_env(), start_new_session=True, preexec_fn=_set_pdeathsig)  # noqa: PLW1509

        def kill_on_timeout():
            killed.set()
            log.warning("browser capture of %s over budget: killing Chromium %s", url, proc.pid)
            _kill(proc)

        watchdog = threading.Timer(limits.page_timeout + limits.grace, kill_on_timeout)
        watchdog.daemon = True
        watchdog.start()
        port = _devtools_port(profile, proc, timeout=min(20.0, limits.page_timeout))
        timings["browser_start_ms"] = round((time.monotonic() - t0) * 1000, 1)
        with sync_playwright() as pw:
            browser = pw.chromium.connect_over_cdp(f"http://127.0.0.1:{port}", timeout=20_000)
            info["browser"] = {"name": "chromium", "version": browser.version, "executable": str(chromium_path())}
            context = browser.new_context(viewport={"width": limits.viewport[0], "height": limits.viewport[1]},
                                          accept_downloads=False, service_workers="block")

            def on_page(p):
                if p is not page:
                    info["popups_blocked"].append(p.url)
                    try:
                        p.close()
                    except PlaywrightError:
                        pass

            page = context.new_page()
            context.on("page", on_page)
            page.on("download", lambda d: (info["downloads_blocked"].append(d.url), d.cancel()))
            page.on("dialog", lambda d: (info.__setitem__("dialogs_dismissed", info["dialogs_dismissed"] + 1),
                                         d.dismiss()))

            def left_ms() -> float:
                return max(0.0, (deadline - time.monotonic()) * 1000)

            t_nav = time.monotonic()
            try:
                page.goto(url, wait_until="load", timeout=max(1000.0, left_ms() * 0.6))
            except PlaywrightError as exc:
                if "Timeout" not in type(exc).__name__ and "Timeout" not in str(exc):
                    if not proxy.exchanges:
                        raise BrowserFailure(f"the page could not be loaded: {str(exc).splitlines()[0]}",
                                             details={"url": url, "refused": proxy.refused[:20]}) from exc
                    info["load"] = f"error: {str(exc).splitlines()[0][:200]}"
                else:
                    info["load"] = "timeout"
            timings["load_ms"] = round((time.monotonic() - t_nav) * 1000, 1)
            t_settle = time.monotonic()
            settled = proxy.wait_idle(limits.settle_quiet, min(limits.settle_max, left_ms() / 1000 * 0.5))
            timings["settle_ms"] = round((time.monotonic() - t_settle) * 1000, 1)
            t_scroll = time.monotonic()
            steps = 0
            try:
                for _ in range(limits.scroll_steps):
                    if left_ms() < 3000:
                        break
                    bottom, height = page.evaluate(_SCROLL_JS)
                    steps += 1
                    page.wait_for_timeout(150)
                    if bottom >= height:
                        break
                settled = proxy.wait_idle(limits.settle_quiet, min(limits.settle_max, left_ms() / 1000 * 0.5)) and settled
                page.evaluate("() => window.scrollTo(0, 0)")
            except PlaywrightError as exc:
                info["scroll_error"] = str(exc).splitlines()[0][:200]
            timings["scroll_ms"] = round((time.monotonic() - t_scroll) * 1000, 1)
            info["scroll_steps"] = steps
            info["network_settled"] = settled
            t_shot = time.monotonic()
            try:
                screenshot = page.screenshot(full_page=True, type="png", timeout=max(1000.0, min(15000.0, left_ms())))
            except PlaywrightError as exc:
                info["screenshot_error"] = str(exc).splitlines()[0][:200]
            timings["screenshot_ms"] = round((time.monotonic() - t_shot) * 1000, 1)
            try:
                dom = page.content()
                final_url = page.url
                info["user_agent"] = page.evaluate("() => navigator.userAgent")
            except PlaywrightError as exc:
                info["dom_error"] = str(exc).splitlines()[0][:200]
            try:
                context.close()
                browser.close()
            except PlaywrightError:
                pass
    except BrowserFailure:
        raise
    except Exception as exc:
        if killed.is_set():
            raise BrowserFailure(f"the browser was killed after {limits.page_timeout + limits.grace:.0f}s",
                                 details={"url": url}) from exc
        if proc is not None and proc.poll() is not None:
            raise BrowserFailure(f"Chromium died during the capture (status {proc.returncode})",
                                 details={"url": url, "log": _tail(profile / "chromium.log")}) from exc
        raise BrowserFailure(f"browser capture failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                             details={"url": url}) from exc
    finally:
        if watchdog is not None:
            watchdog.cancel()
        if proc is not None:
            _kill(proc)
        proxy.stop()
        shutil.rmtree(profile, ignore_errors=True)
    timings["total_ms"] = round((time.monotonic() - t0) * 1000, 1)
    info["user_agent"] = info.get("user_agent") or ua_holder.get("user_agent", "")
    info["timings"] = timings
    info["requests"] = {"seen": proxy.requests_seen, "recorded": len(proxy.exchanges), "refused": len(proxy.refused),
                        "bytes_kept": proxy.bytes_kept}
    info["refused"] = proxy.refused
    log.debug("browser capture of %s: %s", url, json.dumps(info["requests"]))
    return BrowserCapture(url, final_url, proxy.sorted_exchanges(), list(proxy.refused), screenshot, dom, info,
                          started_at)
