"""One adapter module per Python peer; run through ``python -m peers <name> ...``."""
