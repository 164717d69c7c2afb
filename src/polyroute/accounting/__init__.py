"""Accounting: what a call cost (usage x prices, in exact decimals), the accounting settings, and the
wiring of the ledger and budgets into a router.
"""
