from agreement_operator.cli import main

raise SystemExit(main())
