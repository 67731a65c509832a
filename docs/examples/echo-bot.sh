#!/bin/sh
# Echo bot (shell + jq): answers every message with its own text. Run it next
# to "chive daemon"; Ctrl-C stops it. For each message chive runs the command
# after --exec with the message as JSON on stdin ({"id","seq","contact",
# "address","time","text"}) and sends back what it prints.
exec chive inbox --follow --exec 'jq -r "\"echo: \" + .text"'
