#!/bin/sh
# One-time code sender: a login server runs it to send a code to a user's
# chive, next to a running "chive daemon" (or it opens the profile itself).
#
#   usage: otp.sh CONTACT [CODE]      (a random 6-digit CODE if none is given)
#
# Prints the code on stdout once it is delivered. Exit status is chive send's:
#   0  delivered                 7  expired: not delivered within 5 minutes,
#   4  still on its way (--timeout)   and never will be (a late code is no use)
#   1  failed (reason on stderr) 5  unknown contact
set -eu
contact=$1
code=${2:-$(od -An -N4 -tu4 /dev/urandom | tr -dc 0-9 | cut -c1-6)}
# The same key never sends twice: if this script is run again for the same
# code (a retry after a crash), the first message is reported instead.
chive send "$contact" "Your login code is $code. It is valid for 5 minutes." \
	--ttl 5m --idempotency-key "otp-$contact-$code" \
	--wait delivered --timeout 5m >&2
echo "$code"
