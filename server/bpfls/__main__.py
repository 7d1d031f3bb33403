from bpfls.cli.main import entry

entry()
