"""ainative_openai."""
