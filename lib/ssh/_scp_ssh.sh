#!/bin/sh
# scp's (or rsync's) ssh with a lifeline (parallax runs `scp -S` or `rsync -e` with this file; see
# _scp_lifeline.ts): ssh runs in this script's place, and a watcher beside it stops the transfer's
# process group (scp or rsync, ssh, itself) once the controller $PARALLAX_CONTROLLER is gone
# (ended, or a zombie its parent has not reaped yet); when ssh ends first, the watcher ends within
# a second.
alive() {
  s=$(ps -o stat= -p "$PARALLAX_CONTROLLER" 2>/dev/null) || return 1
  case $s in "" | *Z*) return 1 ;; esac
}
( while alive && kill -0 $$; do sleep 1; done
  kill -0 $$ && kill -TERM 0 ) </dev/null >/dev/null 2>&1 &
exec "${PARALLAX_SSH:-ssh}" "$@"
