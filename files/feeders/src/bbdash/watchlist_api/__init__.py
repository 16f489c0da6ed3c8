"""Watchlist API: the dashboard's CRUD service for watchlists, alert rules, layouts and users.

FastAPI on one uvicorn worker (``bbdash-watchlist-api``, port 8000), PostgreSQL
through a psycopg async pool, schema owned by the Alembic migrations shipped in
``migrations/`` and applied at start under an advisory lock. The feeders read
the views ``collected_assets`` and ``active_alert_rules`` and listen on the
NOTIFY channel ``watchlist_changes`` (docs/contracts.md).

Declarative sync (what the Ansible role uses)
---------------------------------------------
``PUT /v1/watchlists/by-name/{name}`` takes the *complete* desired state of one
watchlist (``description``, ``enabled``, ``items``) and makes the stored one
exactly that: it creates the watchlist if absent, adds missing items, removes
items not listed, and updates an item whose ``source`` changed. Symbols are
normalised first, so ``btc-usdt`` and ``BTC/USDT`` are the same item. It always
answers 200 with::

    {"changed": true|false, "created": true|false, "dry_run": false,
     "watchlist": {...the stored watchlist with its items...}}

and the header ``X-Bbdash-Changed: true|false``. A repeat of the same request
writes nothing (no version bump, no NOTIFY) and answers ``changed: false``, so
an Ansible ``uri`` task can use ``changed_when: result.json.changed``.
``?dry_run=true`` computes the answer inside a transaction that is rolled back
(for ``--check`` mode). ``PUT /v1/alert-rules/by-name/{name}`` does the same
for one named alert rule. Watchlists absent from the inventory are left alone
(the sync never deletes what it was not told about).

Modules: ``app`` (factory), ``settings``, ``db`` (pool, injected), ``auth``,
``problems`` (RFC 9457), ``limits`` (413), ``metrics``, ``notify``,
``concurrency`` (ETag / If-Match), ``symbols``, ``text`` (input hygiene),
``schemas`` (pydantic), ``queries`` (SQL; ``queries.watchlist_sync`` the sync),
``routers`` (one per resource),
``migrate`` and ``__main__`` (entry point).
"""
