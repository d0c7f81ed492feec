from requests_service.entrypoints.cli import main

raise SystemExit(main())
