#!/usr/bin/env bash
# Mutation testing by hand (see bench/mutate.py): bench/mutate.sh [--only NAME,...]
exec python3 "$(dirname "$0")/mutate.py" "$@"
