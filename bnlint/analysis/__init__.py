"""Shared semantics every rule asks: names, scopes, values, BN, loops, loaders."""
