"""Renderers: channel-neutral views (``handlers.views``) in each channel's own card format. Pure functions, no I/O."""
