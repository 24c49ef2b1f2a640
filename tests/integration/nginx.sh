# SPDX-License-Identifier: Apache-2.0
# Start a real nginx on loopback for a test: TLS with a server certificate
# from the fleet CA, client certificates required (ssl_verify_client on)
# except under /open/. Sourced after lib.sh; sets NGINX_PORT and serves
# $T/www. Locations: /            static files, Range supported
#                    /norange/    the same files, Range ignored (max_ranges 0)
#                    /slow/       the same files at 1 byte/s (a stalled server)
#                    /throttle/   the same files at 256 KiB/s
#                    /open/       no client certificate needed
nginx_start() { # CA_PEM CA_KEY CLIENT_CA_BUNDLE: server cert signer, and what clients chain to
	local ca=$1 cakey=$2 ca_bundle=$3
	command -v nginx >/dev/null || fail "nginx is not installed (scripts/deps.sh installs it)"
	mkdir -p "$T/www" "$T/nginx"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
		-keyout "$T/nginx/server.key" -out "$T/nginx/server.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$T/nginx/ext"
	openssl x509 -req -in "$T/nginx/server.csr" -CA "$ca" -CAkey "$cakey" -days 2 \
		-extfile "$T/nginx/ext" -out "$T/nginx/server.pem" 2>/dev/null
	for try in 1 2 3 4 5; do
		NGINX_PORT=$(rand_port)
		cat >"$T/nginx/nginx.conf" <<CONF
daemon on;
user root;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 64; }
http {
	log_format ranges '\$uri \$http_range \$status \$body_bytes_sent';
	access_log $T/nginx/access.log ranges;
	client_body_temp_path $T/nginx/tmp; proxy_temp_path $T/nginx/tmp;
	fastcgi_temp_path $T/nginx/tmp; uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp;
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $T/nginx/server.pem;
		ssl_certificate_key $T/nginx/server.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_client_certificate $ca_bundle;
		ssl_verify_client optional;
		ssl_verify_depth 3;
		root $T/www;
		location / { if (\$ssl_client_verify != SUCCESS) { return 403; } }
		location /norange/ { if (\$ssl_client_verify != SUCCESS) { return 403; }
			alias $T/www/; max_ranges 0; }
		location /slow/ { if (\$ssl_client_verify != SUCCESS) { return 403; }
			alias $T/www/; limit_rate 1; }
		location /open/ { alias $T/www/; }
		location /throttle/ { if (\$ssl_client_verify != SUCCESS) { return 403; }
			alias $T/www/; limit_rate 256k; }
	}
}
CONF
		mkdir -p "$T/nginx/tmp"
		if nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>>"$T/nginx/start.log"; then
			# Tests remove their scratch directory; the demo keeps its files.
			if [ -n "${NGINX_KEEP:-}" ]; then
				trap nginx_stop EXIT
			else
				trap 'nginx_stop; rm -rf "$T"' EXIT
			fi
			return 0
		fi
	done
	fail "nginx did not start: $(cat "$T/nginx/start.log" "$T/nginx/error.log" 2>/dev/null)"
}

nginx_stop() {
	[ -f "$T/nginx/nginx.pid" ] && kill "$(cat "$T/nginx/nginx.pid")" 2>/dev/null || true
}
