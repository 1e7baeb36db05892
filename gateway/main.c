/*
 * puente-gateway - the mTLS store-and-forward relay of Puente.
 *
 * usage: puente-gateway -c FILE [-n] | --version | --help
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "config.h"
#include "crypto.h"
#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "pu_err.h"
#include "server.h"

#define PUENTE_VERSION "0.1.0"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: puente-gateway -c FILE [-n]\n"
	    "       puente-gateway --version | --help\n"
	    "\n"
	    "  -c, --config FILE   the configuration (see gateway/gateway.conf.example)\n"
	    "  -n, --check         check the configuration, keys and directory, then exit\n"
	    "  -v, --verbose       with -n: print the effective configuration\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT drain and stop; SIGHUP loads a newer identity_dir/directory.pb.\n");
}

/* Many idle sessions need many descriptors: take what the hard limit allows. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' }, { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct gateway_config cfg;
	struct server srv;
	const char *path = NULL;
	char err[512];
	int ch, check = 0, verbose = 0, rc;

	while ((ch = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'n': check = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("puente-gateway %s (protocol 1)\n", PUENTE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 64;
	}
	/* What the gateway creates (database, WAL, spool files) is readable by its user only. */
	umask(077);
	if ((rc = config_load(path, &cfg, err, sizeof(err))) != PU_OK) {
		fprintf(stderr, "%s\n", err);
		return rc == PU_ERR_NOT_FOUND ? 66 : 78;
	}
	log_init(cfg.log_level, stderr);
	if (crypto_init() != PU_OK || CRYPTO_secure_malloc_init(65536, 32) == 0) {
		log_error("gateway", "event=start-failed reason=\"cannot initialise cryptography\"");
		return 70;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	frame_malloc_tune();
	if (check) {
		/* A check never touches the data directory of a gateway that may be running. */
		if ((rc = server_check(&srv, &cfg)) != PU_OK)
			return rc == PU_ERR_NOT_FOUND ? 66 : 78;
		printf("%s: configuration ok (identity, keys, TLS and directory checked)\n", path);
		if (verbose)
			config_print(&cfg, stdout);
		return 0;
	}
	if ((rc = server_init(&srv, uv_default_loop(), &cfg)) != PU_OK) {
		/* server_init freed what it held; the loop closes the store's handle. */
		uv_run(uv_default_loop(), UV_RUN_DEFAULT);
		uv_loop_close(uv_default_loop());
		return rc == PU_ERR_NOT_FOUND ? 66 : rc == PU_ERR_BUSY ? 75 :
		    rc == PU_ERR_IO || rc == PU_ERR_STORE_READONLY ? 74 : 78;
	}
	if ((rc = server_listen(&srv)) != PU_OK || (rc = metrics_start(&srv)) != PU_OK) {
		server_drain(&srv);
		uv_run(uv_default_loop(), UV_RUN_DEFAULT);
		server_free(&srv);
		return 69;
	}
	server_audit_lifecycle(&srv, PUENTE__AUDIT_EVENT__AUDIT_EVENT_GATEWAY_START);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	log_info("gateway", "event=stopped");
	server_free(&srv);
	uv_loop_close(uv_default_loop());
	return 0;
}
