from gateway.cli import main

if __name__ == "__main__":  # not when a worker process imports it (gateway/fleet_logs.py)
    raise SystemExit(main())
