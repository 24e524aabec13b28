from clues.cli import main

raise SystemExit(main())
