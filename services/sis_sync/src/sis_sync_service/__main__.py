from sis_sync_service.entrypoints.cli import main

raise SystemExit(main())
