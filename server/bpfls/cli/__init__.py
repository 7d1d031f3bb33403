"""Command-line front ends (thin: they parse arguments, call the engine and format output)."""
