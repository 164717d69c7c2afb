"""The gateway: polyroute as an OpenAI- and OpenRouter-compatible HTTP server (``polyroute serve``)."""
