#!/bin/sh
# Reminder bot (shell + jq), next to a running "chive daemon". Write it:
#   in 10m take the pizza out        → "⏰ take the pizza out" in ten minutes
#   at 2026-12-01T09:00 call mum     → at that time (the bot's local time)
#   list                             → your reminders still to come
# Reminders are scheduled messages ("chive scheduled"): kept in the profile,
# sent by the daemon at their time, also after a restart.
set -eu
if [ "${1:-}" != --hook ]; then
	# Run this script itself for every message that arrives from now on.
	self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
	exec chive inbox --follow --exec "sh '$self' --hook"
fi
msg=$(cat)
text=$(printf '%s' "$msg" | jq -r .text)
who=$(printf '%s' "$msg" | jq -r .address)
set -f # the text is not a glob
set -- $text
case ${1:-} in
in | at)
	[ $# -ge 3 ] || { echo "What should I remind you of? e.g. in 10m take the pizza out"; exit 0; }
	flag=--$1 when=$2
	shift 2
	if out=$(chive send "$who" "⏰ $*" "$flag" "$when" --json 2>&1); then
		echo "OK, I will remind you at $(printf '%s' "$out" | jq -r '.send_at | sub("\\.[0-9]+"; "")')."
	else
		echo "Sorry, I could not schedule that: ${out#chive send: }"
	fi
	;;
list)
	chive scheduled --json | jq -r --arg who "$who" \
		'[.[] | select(.address == $who) | "\(.send_at): \(.text)"] | if length == 0 then "No reminders." else join("\n") end'
	;;
*)
	echo "Hi! Write: in 10m take the pizza out, at 2026-12-01T09:00 call mum, or list."
	;;
esac
