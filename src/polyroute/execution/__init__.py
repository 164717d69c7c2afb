"""Executing a plan: the sans-I/O Execution and retry policy, the sync and async engines that drive it,
stream relaying and hedging.
"""
