"""The desk's HTML, built with the standard library: every dynamic value goes through
``html.escape``. The page carries no inline script or style (its CSP forbids them);
the script reads what it needs from ``data-`` attributes."""

from __future__ import annotations

from html import escape

from bbdash.watchlist_api.layout_dashboards import catalog
from bbdash.watchlist_api.settings import CustomBucket
from bbdash.watchlist_api.symbols import ASSET_TYPES

# Relative to the page (/watchlist-api/desk behind nginx, /desk directly).
SCRIPT = "desk/static/desk.js"
STYLESHEET = "desk/static/desk.css"
_CHANNELS = ("telegram", "email", "webhook")
_RANGES = ("1h", "6h", "24h", "7d", "30d", "90d", "1y")  # schemas/layouts.py TimeRange
_DEFAULT_KINDS = ("price", "candles")


def _head(title: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="same-origin">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{STYLESHEET}">\n'
        f'<script type="module" src="{SCRIPT}"></script>\n'
        "</head>\n"
    )


def _asset_options() -> str:
    return "".join(f'<option value="{t}">{t}</option>' for t in ASSET_TYPES)


def _layouts_section() -> str:
    kinds = "".join(
        f'<label class="inline"><input type="checkbox" name="kinds" value="{escape(name)}"'
        f"{' checked' if name in _DEFAULT_KINDS else ''}> {escape(kind.label)}</label>"
        for name, kind in catalog.load().kinds.items()
    )
    ranges = "".join(
        f'<option value="{r}"{" selected" if r == "24h" else ""}>last {r}</option>' for r in _RANGES
    )
    return (
        '<section aria-labelledby="layouts-title">\n'
        '<h2 id="layouts-title">Layouts</h2>\n'
        "<p>A layout is your own Grafana dashboard: the panels you tick, for each symbol "
        "you add, in that order.</p>\n"
        '<form id="layout-create" class="grid" autocomplete="off">\n'
        '<label for="layout-name">Name</label>\n'
        '<input id="layout-name" name="name" required maxlength="100">\n'
        '<span class="field-error" data-error-for="name"></span>\n'
        f'<fieldset class="span"><legend>Panels</legend>{kinds}'
        '<span class="field-error" data-error-for="layout"></span></fieldset>\n'
        '<label for="layout-asset-type">Asset type</label>\n'
        f'<select id="layout-asset-type" name="asset_type">{_asset_options()}</select>\n'
        '<label for="layout-symbol">Symbol</label>\n'
        '<div class="row"><input id="layout-symbol" name="symbol" maxlength="32" '
        'spellcheck="false" aria-describedby="layout-symbol-check">'
        '<button type="button" id="layout-add-symbol">Add symbol</button></div>\n'
        '<output id="layout-symbol-check" class="check" '
        'for="layout-symbol layout-asset-type" aria-live="polite"></output>\n'
        '<ul id="layout-symbols" class="items span" aria-label="Symbols of the new layout">'
        "</ul>\n"
        '<label for="layout-range">Time range</label>\n'
        f'<select id="layout-range" name="range">{ranges}</select>\n'
        '<button type="submit" class="span">Save layout</button>\n'
        '<p class="form-error span" data-error-for="form"></p>\n'
        "</form>\n"
        '<div id="layouts" aria-busy="true"></div>\n'
        "</section>\n"
    )


# The provisioned "Custom series" dashboard (roles/grafana, dashboards/boards/custom.py).
CUSTOM_DASHBOARD = "d/bbdash-custom/custom-series"


def _custom_section(custom: CustomBucket | None, *, configured: bool, root: str) -> str:
    """Custom series: the person's bucket and write tokens (the script fills in the
    usage and the tokens from GET /v1/custom), or why there are none."""
    head = (
        '<section id="custom-series" aria-labelledby="custom-title" '
        f'data-custom="{"on" if custom is not None and configured else "off"}">\n'
        '<h2 id="custom-title">Custom series</h2>\n'
    )
    if custom is None:
        return (
            head + '<p id="custom-series-note" class="muted">You have no custom bucket: ask the '
            "admin to set <code>custom_bucket</code> on your entry of "
            "<code>bloomberg_users</code>.</p>\n</section>\n"
        )
    bucket = escape(custom.bucket)
    if not configured:
        return (
            head + f'<p id="custom-series-note" class="muted">Your bucket <code>{bucket}</code> '
            "is declared, but custom series are not configured on this dashboard yet: ask "
            "the admin.</p>\n</section>\n"
        )
    return (
        head + "<p>Write your own series to your bucket "
        f'<code id="custom-bucket">{bucket}</code> with a write token. '
        f'<span id="custom-usage" aria-live="polite">Quota: {custom.max_series} series.</span>'
        f' <a id="custom-dashboard" href="{root}{CUSTOM_DASHBOARD}">See them in Grafana</a>.'
        "</p>\n"
        '<form id="custom-token-form" class="row" autocomplete="off">\n'
        '<label for="custom-token-description">Token label</label>\n'
        '<input id="custom-token-description" name="description" required maxlength="64" '
        'aria-describedby="custom-token-help">\n'
        '<span class="field-error" data-error-for="description"></span>\n'
        '<button type="submit">Create write token</button>\n'
        '<p id="custom-token-help" class="muted">What the token is for, e.g. the script '
        "that writes with it (64 characters at most).</p>\n"
        '<p class="form-error" data-error-for="form"></p>\n'
        "</form>\n"
        '<div id="custom-token-created" hidden>\n'
        '<p><strong id="custom-token-created-title" tabindex="-1">Your new write token, '
        "shown once:</strong> copy it now (select it, then copy); it cannot be shown "
        "again.</p>\n"
        '<pre id="custom-token-value" tabindex="0" aria-label="The new write token"></pre>\n'
        "<p>Example: write one point with curl (line protocol):</p>\n"
        '<pre id="custom-token-example" tabindex="0" '
        'aria-label="Example: a curl command writing one point"></pre>\n'
        "</div>\n"
        '<div id="custom-tokens" aria-busy="true"></div>\n'
        "</section>\n"
    )


def desk(
    *,
    login: str,
    display_name: str,
    grafana_root: str,
    custom: CustomBucket | None = None,
    custom_configured: bool = False,
) -> str:
    """The page of a signed-in person."""
    who = escape(display_name or login)
    root = escape(grafana_root)
    channels = "".join(
        f'<label class="inline"><input type="checkbox" name="channels" value="{c}"'
        f"{' checked' if c == 'telegram' else ''}> {c}</label>"
        for c in _CHANNELS
    )
    return (
        _head("My desk · Bloomberg Dashboard")
        + f'<body data-grafana-root="{root}" data-page="desk">\n'
        '<header class="bar">\n'
        "<h1>My desk</h1>\n"
        f'<p>Signed in as <strong id="who">{who}</strong> ({escape(login)}) · '
        f'<a href="{root}">Back to Grafana</a></p>\n'
        "</header>\n"
        '<div id="status" class="status" role="status" aria-live="polite"></div>\n'
        "<noscript><p>This page needs JavaScript (one script from this site).</p></noscript>\n"
        "<main>\n"
        '<section aria-labelledby="watchlists-title">\n'
        '<h2 id="watchlists-title">Watchlists</h2>\n'
        '<form id="watchlist-create" class="row" autocomplete="off">\n'
        '<label for="watchlist-name">New watchlist</label>\n'
        '<input id="watchlist-name" name="name" required maxlength="100">\n'
        '<span class="field-error" data-error-for="name"></span>\n'
        '<button type="submit">Create</button>\n'
        '<p class="form-error" data-error-for="form"></p>\n'
        "</form>\n"
        '<div id="watchlists" aria-busy="true"></div>\n'
        "</section>\n"
        '<section aria-labelledby="alerts-title">\n'
        '<h2 id="alerts-title">Price alerts</h2>\n'
        '<form id="alert-create" class="grid" autocomplete="off">\n'
        '<label for="alert-name">Name (optional)</label>\n'
        '<input id="alert-name" name="name" maxlength="100">\n'
        '<span class="field-error" data-error-for="name"></span>\n'
        '<label for="alert-asset-type">Asset type</label>\n'
        f'<select id="alert-asset-type" name="asset_type">{_asset_options()}</select>\n'
        '<span class="field-error" data-error-for="asset_type"></span>\n'
        '<label for="alert-symbol">Symbol</label>\n'
        '<input id="alert-symbol" name="symbol" required maxlength="32" '
        'aria-describedby="alert-symbol-check" spellcheck="false">\n'
        '<output id="alert-symbol-check" class="check" for="alert-symbol alert-asset-type" '
        'data-error-for="symbol" aria-live="polite"></output>\n'
        '<label for="alert-condition">Condition</label>\n'
        '<select id="alert-condition" name="condition">'
        '<option value="above">price above</option>'
        '<option value="below">price below</option>'
        '<option value="pct_move">moves by % within a window</option></select>\n'
        '<span class="field-error" data-error-for="condition"></span>\n'
        '<label for="alert-threshold">Threshold (price, or % for a move)</label>\n'
        '<input id="alert-threshold" name="threshold" type="number" required min="0" '
        'step="any" inputmode="decimal">\n'
        '<span class="field-error" data-error-for="threshold"></span>\n'
        '<label for="alert-window">Window in seconds (moves only)</label>\n'
        '<input id="alert-window" name="window_seconds" type="number" min="60" '
        'max="604800" step="1" value="3600" disabled>\n'
        '<span class="field-error" data-error-for="window_seconds"></span>\n'
        '<label for="alert-cooldown">Cooldown in seconds</label>\n'
        '<input id="alert-cooldown" name="cooldown_seconds" type="number" min="0" '
        'max="604800" step="1" value="3600">\n'
        '<span class="field-error" data-error-for="cooldown_seconds"></span>\n'
        '<fieldset class="span"><legend>Channels</legend>'
        f"{channels}"
        '<span class="field-error" data-error-for="channels"></span></fieldset>\n'
        '<label class="inline span"><input type="checkbox" name="enabled" checked> '
        "enabled</label>\n"
        '<button type="submit" class="span">Create alert</button>\n'
        '<p class="form-error span" data-error-for="form"></p>\n'
        "</form>\n"
        '<div id="alerts" aria-busy="true"></div>\n'
        "</section>\n"
        + _layouts_section()
        + _custom_section(custom, configured=custom_configured, root=root)
        + "</main>\n"
        "</body>\n</html>\n"
    )


def refused(*, status: int, kind: str | None, detail: str, grafana_root: str) -> str:
    """The page for a browser the API does not know as a person (no session, an ended
    one, one due for rotation, a login the API cannot name, Grafana or the database
    down). Due for rotation: the script rotates the session and reloads the page."""
    root = escape(grafana_root)
    if status == 401 and kind == "session-rotation":
        title = "Refreshing your Grafana session"
        body = (
            "<p>Your Grafana session is being refreshed; this page reloads by itself.</p>\n"
            f'<p>If it does not, <a href="{root}login">sign in to Grafana</a>.</p>\n'
        )
    elif status == 401:
        title = "Sign in to Grafana"
        body = (
            "<p>My desk belongs to a signed-in person: "
            f'<a href="{root}login">sign in to Grafana</a>, then come back.</p>\n'
        )
    else:
        title = "My desk is unavailable" if status >= 500 else "My desk is not for this login"
        body = (
            f"<p>{escape(detail)}</p>\n"
            f'<p><a href="{root}login">Grafana sign-in</a> · <a href="{root}">Grafana</a></p>\n'
        )
    state = "rotate" if kind == "session-rotation" else "refused"
    return (
        _head(f"{title} · Bloomberg Dashboard")
        + f'<body data-grafana-root="{root}" data-page="{state}">\n'
        f'<main class="refused">\n<h1>{escape(title)}</h1>\n{body}'
        '<div id="status" class="status" role="status" aria-live="polite"></div>\n'
        "</main>\n</body>\n</html>\n"
    )
