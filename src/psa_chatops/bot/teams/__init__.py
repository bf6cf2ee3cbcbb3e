"""The Microsoft Teams adapter: one messaging endpoint (``POST /api/messages``) served by the Microsoft 365 Agents
SDK (``CloudAdapter`` + an ``ActivityHandler``) inside our aiohttp application, plus ``psa try teams``.

Why neither ``microsoft-agents-hosting-teams`` nor ``-hosting-msteams``: ``-hosting-core`` already covers every
activity we handle. ``ActivityHandler`` dispatches messages, ``conversationUpdate``, ``installationUpdate`` and
invokes; ``adaptiveCard/action`` is parsed by core (``AdaptiveCardInvokeValue``); the message-extension invokes
(``composeExtension/query`` and ``/queryLink``) are two names we dispatch ourselves (their bodies are plain JSON
we read with two small functions); the roster lookup for ``link`` is core's connector client
(``conversations.get_conversation_member``, ``GET /v3/conversations/{id}/members/{userId}``). One dependency
less, and nothing of ours hides behind a Teams-only base class.

Modules: ``app`` (sub-app, adapter, lifecycle), ``auth`` (JWT validation scoped to the endpoint, anonymous
sandbox, outbound host allow-list), ``agent`` (activity routing), ``conversation`` (chat commands),
``actions`` (card verbs), ``extension`` (message extension), ``subscriptions``, ``identity``, ``runtime``,
``activities`` (pure readers of activity JSON), ``commands`` (the command grammar), ``replies`` (the only caller
of ``cards.teams``), ``sdk_fixes`` (one documented SDK workaround) and ``try_it``.
"""
