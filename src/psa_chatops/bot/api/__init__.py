"""The REST API (v1, v2 beta) and its gateway: authentication, rate limits, caching, audit, OpenAPI."""
