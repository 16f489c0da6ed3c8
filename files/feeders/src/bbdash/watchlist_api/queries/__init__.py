"""SQL for each resource: fixed statements, parameters passed separately.

Functions take an open connection (from ``Database.read``/``write``), scope
every statement by the caller's ``user_id`` (so another user's id simply finds
nothing: 404), queue the NOTIFY of each change, and return plain dicts shaped
like the ``schemas`` output models.
"""
