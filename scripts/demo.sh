#!/usr/bin/env bash
# Set up and run the demo: one simulated OMNIPOWER meter published to MQTT with Home Assistant
# discovery. Uses the broker on localhost:1883, or starts an embedded one when none answers.
# Extra arguments go to `omnipower-gateway run` (e.g. --config deploy/config.example.yaml).
source "$(dirname "$0")/setup.sh" ""
exec .venv/bin/omnipower-gateway run "$@"
