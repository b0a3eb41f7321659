"""The one way out for every alert: logged, then posted as Slack-compatible JSON to
NELO_ALERT_WEBHOOK_URL. A webhook that is down, slow or failing never breaks a tick (R5)."""

import http.client
import json
import logging
import urllib.request
from urllib.parse import quote

from dagster import AssetCheckKey, AssetKey

from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.resources import AlertsResource

WEBHOOK_TIMEOUT_SECONDS = 2.0
ALERT_INTERVAL_SECONDS = SETTINGS.alert_interval_seconds


def post_webhook(url: str, text: str, timeout: float) -> str | None:
    """POST {"text": ...}; return None when delivered, else why it was not (never raises)."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError, HTTPError (a 500), refused, reset and timeouts are all OSError here.
        return f"{type(exc).__name__}: {exc}"
    return None


class Notifier:
    """Logs every alert and posts it; after the first delivery failure it only logs, so a dead
    webhook costs one timeout per evaluation at most. Also builds the UI links alerts carry."""

    def __init__(self, log: logging.Logger, alerts: AlertsResource) -> None:
        self.log = log
        self.webhook_url = alerts.webhook_url or None
        self.base_url = alerts.ui_base_url.rstrip("/")
        self.webhook_down = False
        self.sent = 0

    def __call__(self, text: str, failure: bool) -> None:
        (self.log.warning if failure else self.log.info)(f"ALERT {text}")
        self.sent += 1
        if not self.webhook_url or self.webhook_down:
            return
        error = post_webhook(self.webhook_url, text, WEBHOOK_TIMEOUT_SECONDS)
        if error:
            self.webhook_down = True
            self.log.error(f"alert webhook failed ({error}); alert kept in this log only")

    def summary(self) -> str:
        delivery = " (webhook unreachable: logged only)" if self.webhook_down else ""
        return f"sent {self.sent} alerts{delivery}"

    def run_url(self, run_id: str) -> str:
        return f"{self.base_url}/runs/{run_id}"

    def asset_url(self, key: AssetKey) -> str:
        return f"{self.base_url}/assets/{'/'.join(quote(part) for part in key.path)}"

    def check_url(self, key: AssetCheckKey) -> str:
        return f"{self.asset_url(key.asset_key)}?view=checks&checkDetail={quote(key.name)}"
