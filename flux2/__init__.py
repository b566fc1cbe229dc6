"""flux2: a Python client for the FLUX.2 image API of Black Forest Labs."""
