"""The LiteLLM bridge for ``api: litellm`` providers: imported only when such a provider is first used."""
