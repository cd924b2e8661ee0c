"""Management commands (thin: the work is in the app's modules)."""
