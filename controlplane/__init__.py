"""vcbox control plane: renders every service's configuration and runs the web admin."""

__version__ = "0.1.0"
