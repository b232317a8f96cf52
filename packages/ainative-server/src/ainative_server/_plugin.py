"""Plugin module of ainative-server: registers its pieces through the ainative hooks."""
