"""Backends: how one attempt reaches one provider (a wire adapter over an HTTP transport, or the
LiteLLM bridge).
"""
