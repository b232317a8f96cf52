"""Plugin module of ainative-client: registers its pieces through the ainative hooks."""
