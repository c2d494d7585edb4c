"""The command line: one typer app, one module per verb; errors become exit codes here."""
