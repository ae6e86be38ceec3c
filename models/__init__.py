"""Inzage's domain: the data model and the rules over it."""
