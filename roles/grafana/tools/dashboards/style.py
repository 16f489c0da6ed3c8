"""The terminal palette every dashboard shares: amber headers on black, green up, red down.

Kept apart so that the look is changed in one place and no dashboard picks a
colour of its own.
"""

from __future__ import annotations

AMBER = "#FFA028"
UP = "#00D26A"
DOWN = "#FF433D"
FLAT = "#C8C8C8"
MONO = "'DejaVu Sans Mono','Menlo','Consolas',monospace"
