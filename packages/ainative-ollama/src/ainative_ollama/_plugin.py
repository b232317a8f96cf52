"""Plugin module of ainative-ollama: registers its pieces through the ainative hooks."""
