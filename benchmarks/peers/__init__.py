"""Peer servers streaming the same tokens in the same wire format as ainative.

Each module exposes an ASGI ``app`` (``raw`` exposes ``one`` and ``batched``) that answers
``POST /ai/stream`` with an ``ActionRequest`` body whose ``options`` carry ``tokens`` (count)
and ``delay`` (seconds per token), like the echo provider.
"""
