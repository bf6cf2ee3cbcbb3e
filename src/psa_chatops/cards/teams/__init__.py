"""Adaptive Card renderers for Microsoft Teams: ticket cards, lists, forms, notifications, message extension."""
