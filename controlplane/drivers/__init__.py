"""Drivers: the only code that talks to services and the operating system."""
