from spsr_lib.cli import main

raise SystemExit(main())
