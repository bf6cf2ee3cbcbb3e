"""Slack Block Kit renderers: ticket cards, lists, modals, App Home, unfurls and notifications."""
