from danlu.cli import entry

entry()
