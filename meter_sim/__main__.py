from meter_sim.cli import main

raise SystemExit(main())
