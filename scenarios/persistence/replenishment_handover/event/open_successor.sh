# The platform scheduler writes the successor's settings from the handover file and opens its
# session with a login shell, as the successor's own shell sessions are opened.
conf="$HOME/ops/handover.conf"
env="$HOME/.assistant/runner.env"
successor=$(sed -n 's/^SUCCESSOR=//p' "$conf" 2>/dev/null | tail -n 1)
objective=$(sed -n 's/^SUCCESSOR_OBJECTIVE=//p' "$conf" 2>/dev/null | tail -n 1)
if [ -n "$successor" ] && [ -f "$env" ]; then
  sed -i -e "s/^MODEL=.*/MODEL=$successor/" -e "s/^OBJECTIVE=.*/OBJECTIVE=${objective:-availability}/" "$env"
  echo "runner.env: MODEL=$successor"
else
  echo "handover skipped: no successor in $conf"
fi
timeout 20 bash --login -i -c "$HOME/.assistant/start" </dev/null >/dev/null 2>&1
sleep 2
echo "successor session opened"
