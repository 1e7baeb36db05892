/*
 * gateway_harness.h - integration tests run the real puente-gateway on loopback with a
 * real federation made by the real puente-keys, in a fresh folder per test program.
 */
#ifndef PU_GATEWAY_HARNESS_H
#define PU_GATEWAY_HARNESS_H

#include <sys/types.h>

#include "testclient.h"

#define TLA "MX-TLA-PPNNA"
#define NLE "MX-NLE-PPNNA"
#define TAB "MX-TAB-PPNNA"
#define FED "MX-FED-PFPNNA"
#define AUD "MX-FED-AUDITORIA"
#define GW "MX-CMX-GW01"

struct harness {
	char keys_bin[1024], gateway_bin[1024], work[1024];
	int port, metrics_port;
	pid_t pid;
	struct tc_agency tla, nle, tab, fed, aud;
};

/* argv: puente-keys, puente-gateway, work folder. Makes the federation, writes the config. */
void harness_init(struct harness *h, int argc, char **argv);
/* Start the gateway and wait until it accepts connections. */
void harness_start(struct harness *h);
/* SIGTERM and wait; returns the exit status. */
int harness_stop(struct harness *h);
void harness_kill9(struct harness *h);
/* 1 while the gateway process is alive. */
int harness_alive(struct harness *h);
void harness_free(struct harness *h);
/* Run a puente-keys command line in the federation folder ("suspend --id X"). */
int harness_keys(struct harness *h, const char *args);
/* Copy the federation's directory into the gateway's and every agency's folder, SIGHUP. */
void harness_publish(struct harness *h);

#endif
