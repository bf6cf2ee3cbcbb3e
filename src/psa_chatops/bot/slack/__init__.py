"""The Slack adapter: one request URL (``POST /slack/events``) served by a slack-bolt ``AsyncApp`` inside our
aiohttp application, plus the OAuth install routes, the ``psa try slack`` harness and the app manifest."""
