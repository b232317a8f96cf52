"""ainative_client."""
