"""The `agreement-operator` command line: main.py's table names the module of each command."""
