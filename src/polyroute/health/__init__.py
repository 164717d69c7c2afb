"""Endpoint health: circuit breakers and live rolling statistics, read by routing and written by every
attempt.
"""
