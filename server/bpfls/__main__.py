from bpfls.cli.main import main

raise SystemExit(main())
