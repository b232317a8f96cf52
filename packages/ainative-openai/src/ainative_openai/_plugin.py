"""Plugin module of ainative-openai: registers its pieces through the ainative hooks."""
