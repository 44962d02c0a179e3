#!/bin/sh
# scp's ssh with a lifeline (parallax runs `scp -S` with this file; see _scp_lifeline.ts): ssh
# runs in this script's place, and a watcher beside it stops the transfer's process group
# (scp, ssh, itself) once the controller $PARALLAX_CONTROLLER is gone; when ssh ends first, the
# watcher ends within a second.
( while kill -0 "$PARALLAX_CONTROLLER" && kill -0 $$; do sleep 1; done
  kill -0 $$ && kill -TERM 0 ) </dev/null >/dev/null 2>&1 &
exec "${PARALLAX_SSH:-ssh}" "$@"
