"""Routing: planning which endpoints to try for a request, in which order, and why (preferences,
filters, capabilities, strategies, sticky sessions, prompt size).
"""
