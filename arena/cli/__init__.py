"""The command lines: thin typer apps over the library (``arena``, ``arena-build``, ``arena-eval``)."""
