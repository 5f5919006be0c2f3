# Sourced by the set-up scripts: run an installer with its output in a log file, shown only if it fails.
# Usage: quietly LOGFILE COMMAND [ARGS...]
quietly() {
  local log=$1
  shift
  mkdir -p "$(dirname "$log")"
  if ! "$@" >"$log" 2>&1; then
    echo "failed: $* (last lines of $log):" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}
