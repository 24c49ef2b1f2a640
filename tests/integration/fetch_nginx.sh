#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The device HTTPS client against a real nginx with client-certificate
# checking. Runs the cmocka test binary given as $1 with the server's
# address and the credentials in its environment.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nginx.sh"

"$FLEETSEC" ca init --name "Fetch Fleet" >/dev/null

# The server certificate comes from the fleet's issuing CA.
nginx_start "$FLEETSEC_HOME/issuing.pem" "$FLEETSEC_HOME/issuing.key" "$FLEETSEC_HOME/chain.pem"
"$FLEETSEC" device issue dev-1 --keygen --key-out "$T/dev.key" --out "$T/dev.pem" 2>/dev/null
head -c 1000000 /dev/urandom >"$T/www/image.bin"
echo '{"hello": "world"}' >"$T/www/small.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=rogue \
	-keyout "$T/rogue.key" -out "$T/rogue.pem" 2>/dev/null

export FETCH_BASE="https://127.0.0.1:$NGINX_PORT" FETCH_CA="$FLEETSEC_HOME/chain.pem" \
	FETCH_CERT="$T/dev.pem" FETCH_KEY="$T/dev.key" FETCH_ROGUE_CA="$T/rogue.pem" \
	FETCH_ROGUE_KEY="$T/rogue.key" FETCH_IMAGE="$T/www/image.bin"
"$1"
