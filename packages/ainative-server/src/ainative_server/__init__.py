"""ainative_server."""
