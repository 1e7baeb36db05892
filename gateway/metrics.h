/*
 * metrics.h - Prometheus text metrics (GET /metrics) and a health check (GET /healthz) on
 * a local port. Counters only: never an agency's message content, never personal data.
 */
#ifndef PU_METRICS_H
#define PU_METRICS_H

struct server;

int metrics_start(struct server *srv);
void metrics_stop(void);

#endif
