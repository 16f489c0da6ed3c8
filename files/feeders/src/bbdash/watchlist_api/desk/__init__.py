"""The "My desk" page: a signed-in person's watchlists and price alerts, in the browser.

``GET /desk`` (``/watchlist-api/desk`` behind nginx) answers one server-rendered
HTML page; ``/desk/static/desk.js`` and ``desk.css`` are its only other files. The
script talks to the ``/v1`` API with the Grafana session cookie, by URLs relative
to the page, so it works under nginx's prefix and directly alike.
"""
