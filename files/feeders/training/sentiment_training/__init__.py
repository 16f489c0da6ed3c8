"""Training and evaluation of `bbdash.sentiment`'s linear model (not shipped in the image)."""
