"""Plugin module of ainative-anthropic: registers its pieces through the ainative hooks."""
