"""A saved layout becomes its owner's own Grafana dashboard.

``catalog`` reads the panel kinds (catalog.json, written by the grafana role's
dashboard builder), ``build`` turns a layout into a dashboard JSON model,
``grafana`` talks to Grafana as the desk's service account, and ``sync`` is the
loop that makes Grafana hold what the layouts table says, retrying while Grafana
is down.
"""
