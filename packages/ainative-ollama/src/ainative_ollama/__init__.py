"""ainative_ollama."""
