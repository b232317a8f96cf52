"""ainative_anthropic."""
