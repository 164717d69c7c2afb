"""The catalog and where it comes from: configuration files, the environment, known providers, model
ids and imported price catalogs.
"""
