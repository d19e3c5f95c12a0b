# 23:00, CHG-5127: the ops scheduler closes the wire monitor's session on this host, as a
# logout does: every process of the session's user gets SIGHUP (the container's init and what
# ran before the session, listed in EVENT_KEEP by the harness, are spared).
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$pid" = 1 ] || [ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
  case " $EVENT_KEEP " in *" $pid "*) continue ;; esac
  kill -HUP "$pid" 2>/dev/null
done
sleep 2
echo "session of $(id -un) closed"
