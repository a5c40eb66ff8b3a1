#!/usr/bin/env bash
# Data-plane demo: two simulated nodes with real Open vSwitch, pods as network
# namespaces, a NetworkPolicy and a service; prints flows and a ping matrix.
# Needs root and openvswitch-switch. Pass --hold to keep it running.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx tsx e2e/dataplane-demo.ts "$@"
