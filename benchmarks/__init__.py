"""Benchmarks: ainative beside its peers, each server in its own process on 127.0.0.1."""
