"""One module per provisioned dashboard, each with a ``build()`` returning its JSON model.

A dashboard's module only arranges panels built from the shared modules one
level up, so what it shows can be read top to bottom in one place.
"""
