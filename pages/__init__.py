"""Dashboard pages: one thin script each (widgets in, an app call, results out)."""
