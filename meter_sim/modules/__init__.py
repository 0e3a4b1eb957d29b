"""Device side of the meter's interfaces (plug-in modules and the optical port)."""
