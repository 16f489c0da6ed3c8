"""Building blocks of the provisioned dashboards, and the dashboards themselves.

Split from one long script so that a change to a panel style, a Flux snippet or
one dashboard is made in one small module. ``boards`` holds one module per
dashboard; the other modules are what the dashboards share. The entry point is
``../build_dashboards.py``; nothing here writes files.
"""
