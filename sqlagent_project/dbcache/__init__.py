"""The shared cache's own set-up: its table made by `migrate`, its deploy check."""
